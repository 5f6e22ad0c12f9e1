"""Findings report: one verdict per hypothesis (a)-(e), each computed from the numbers by a rule.

python -m ecgdepth.findings WORKDIR [WORKDIR ...] [--out DIR] [--threshold 0.95]
    [--target_error 0.1] [--resamples N] [--noplots]

Each sweep workdir is read with ecgdepth.results (trial states, summaries, config.json) and
assigned to the hypothesis it bears on: by the `experiment` field of its trials' config.json (an
experiment config sets `config.experiment = 'receptive_field'`, ...), else by a sweep source
named configs/experiments/<experiment>.py, else by what its sweep varies; a workdir that matches
nothing is skipped with a message. Workdirs of one experiment are pooled.

Per hypothesis the report gives the table and figures that bear on it, effect sizes with
percentile-bootstrap 95 % CIs over seeds, the rule, and a verdict: 'supported', 'not supported'
or 'inconclusive'. Every verdict comes from sub-rules of one form (`Test`): the CI of an effect
lies beyond a stated bound in the predicted direction (supported), entirely on the other side
(not supported), or straddles it, or a group has fewer than `MIN_SEEDS` seeds (inconclusive).
Sub-rules combine with three-valued AND (any 'not supported' decides) or OR. The rule text
printed beside a verdict is generated from the same parameters the code uses.

What the rules read (so experiment configs can provide it): from config.json (or the
overrides) `experiment`, `seed`, `model.name`, `model.depth`, `model.width`, `model.dilation`,
`model.gate`, `model.kernel_size`, `model.cell`, `model.bidirectional`, `model.residual`,
`model.layer_norm`, `model.multiplicative`, `model.dropout`, `optim.weight_decay`,
`data.name`, `data.variant`, `data.motif_k`, `data.window`, `data.train_fraction`,
`data.label_noise` (if it exists), `iso_params` (the sweep marker), and the optional
top-level `target_error` and `target_metric` of (e); from summary.json `val`/`test`
accuracy and macro_f1, `final_train.loss` (else `train.loss`), `gap.accuracy`, `params`,
`num_classes` (diverged runs), `receptive_field`, `sensitivity_span90`,
`grad_norm_per_layer(_init)`, and when present `grad_norm_per_time` / `grad_time_slope`
(TIME_GRAD_FIELD, TIME_GRAD_SLOPE_FIELD) and `motif_span_samples` (also from the config).

Writes OUT/findings.md, OUT/findings.json (the same numbers, for the README's Findings
section) and OUT/figures/*.png|pdf, each atomically; OUT defaults to <the workdirs' common
parent>/findings.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ecgdepth import files, results, variants
from ecgdepth import workdir as workdir_lib

SUPPORTED = 'supported'
NOT_SUPPORTED = 'not supported'
INCONCLUSIVE = 'inconclusive'
VERDICTS = (SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE)

# Hypotheses: letter -> (experiment name, title). The experiment name is what an experiment
# config records as `config.experiment` and the stem of configs/experiments/<name>.py.
HYPOTHESES = {
    'a': ('receptive_field', 'CNN depth buys receptive field; one LSTM layer sees it all'),
    'b': ('trainability', 'vanishing gradients across time or across stacked layers'),
    'c': ('overfitting', 'overfitting, controlled by regularisation rather than architecture'),
    'd': ('matched_params', 'an LSTM layer carries ~8/k times the parameters of a conv layer'),
    'e': ('multiplicative', 'gates multiply; convolutions add and need depth to multiply'),
}
EXPERIMENTS = {name: letter for letter, (name, _) in HYPOTHESES.items()}
EXPERIMENT_KEY = 'experiment'  # Top-level config field naming the experiment.

# Statistics.
CI_LEVEL = results.CI_LEVEL
MIN_SEEDS = 2  # Fewer done seeds in any group compared: inconclusive.
CENSOR_FACTOR = 2  # A seed that never reaches a target counts as this times the deepest depth.

# (a) receptive field: validation accuracy a model must reach, per motif span.
RF_METRIC = ('val', 'accuracy')
RF_THRESHOLD = 0.95
SPAN_KEY = 'data.motif_k'
SPAN_VARIANTS = ('recall', 'motif')  # Synthetic tasks whose span grows with SPAN_KEY.
# The span in samples a last-step reader must see (recall: from the inverted R peak to the end;
# synthetic.recall_span_samples), if recorded in summary.json or the config: then accuracy
# just below vs just above receptive-field coverage is reported.
SPAN_SAMPLES_FIELD = 'motif_span_samples'
# (b) trainability.
FINAL_LOSS_PATHS = (('final_train', 'loss'), ('train', 'loss'))
# A deep stack "fails to fit" if its final loss is this much higher (nats; MSE for regression).
LOSS_MARGIN = 0.05
REFERENCE_CELL = 'lstm'  # The cell whose numbers decide; GRU and tanh RNN are reported.
# Fields another part of the code base adds to summary.json (absent: that sub-rule is
# inconclusive): |d loss / d h_t| by lag from the end of the window (lag 0 first), or directly
# the least-squares slope of its log10 per time step.
TIME_GRAD_FIELD = 'grad_norm_per_time'
TIME_GRAD_SLOPE_FIELD = 'hidden_grad_time_slope'  # What ecgdepth/diagnostics.py records.
TIME_GRAD_SLOPE_ALIASES = ('grad_time_slope',)
INIT_SUFFIX = '_init'  # The same diagnostic at step 0 (diagnostics.py).
TIME_DECAY_DECADES = 1.0  # Vanishing across time: the norm falls this many decades over a window.
# (c) overfitting.
GAP_PATH = ('gap', 'accuracy')
REG_KEYS = ('model.dropout', 'optim.weight_decay')
LABEL_NOISE_KEYS = ('data.label_noise',)
FRACTION_KEY = 'data.train_fraction'
# (d) matched parameters.
MATCHED_METRIC = ('test', 'macro_f1')
ISO_KEY = 'iso_params'
PARAM_RATIO_TOLERANCE = 0.25  # Relative distance of the measured ratio from the analytic one.
CELL_WEIGHTS = {'lstm': 8, 'gru': 6, 'rnn': 2}  # Square matrices per layer (input + recurrent).
# (e) multiplicative interactions.
ERROR_METRIC = 'accuracy'  # error = 1 - validation <this>; a config field `target_metric`
TARGET_METRIC_KEY = 'target_metric'  # ('accuracy' or 'macro_f1') overrides it per task.
REGRESSION_ERROR_METRIC = 'r2'  # Regression tasks: error = 1 - R^2, the MSE over the variance.
TARGET_ERROR = 0.1  # Where a trial's config has no `target_error` (--target_error overrides).
TARGET_KEY = 'target_error'
CONTROL_TASKS = ('adding',)  # Tasks whose name holds these are controls: reported, not voted.
PAIRS = (('ReLU CNN', 'gated CNN'), ('additive MLP', 'MI-MLP'))  # (additive, multiplicative)

# Config keys copied into a trial's overrides for the tables (those that vary become columns).
TABLE_KEYS = {
    'a': ('model.name', 'model.dilation', SPAN_KEY, 'model.depth', 'data.name'),
    'b': ('model.cell', 'model.residual', 'model.layer_norm', 'model.depth'),
    'c': ('model.name', *REG_KEYS, FRACTION_KEY, *LABEL_NOISE_KEYS, 'model.depth'),
    'd': ('model.name', ISO_KEY, 'model.depth'),
    'e': (
        'data.name',
        'data.variant',
        'model.name',
        'model.gate',
        'model.multiplicative',
        'model.depth',
    ),
}


class FindingsError(ValueError):
    """A workdir or option is unusable; the message names the culprit."""


# --------------------------------------------------------------------------------------------
# Trials with their configs.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Obs:
    """One trial and its flattened config (dotted keys; its overrides win)."""

    trial: results.TrialResult
    config: dict[str, Any]
    workdir: str

    @property
    def done(self) -> bool:
        return self.trial.status == workdir_lib.DONE

    @property
    def summary(self) -> dict | None:
        return self.trial.summary

    @property
    def seed(self) -> Any:
        return self.config.get('seed')

    def get(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)

    def value(self, *paths: Sequence[str]) -> float | None:
        """The first finite number at one of `paths` in summary.json (done trials only)."""
        if not self.done:
            return None
        for path in paths:
            found = results.lookup(self.summary, path)
            if found is not None:
                return found
        return None


def flatten(config: dict, prefix: str = '') -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


def load_workdir(workdir: str) -> tuple[dict, list[Obs]]:
    """sweep.json and its trials with configs. A trial without config.json (never started)
    borrows the keys it does not override from a started trial of the same family."""
    record, trials = results.load_sweep(workdir)
    configs = [flatten(results.read_trial_config(workdir, t) or {}) for t in trials]
    obs = []
    for t, config in zip(trials, configs, strict=True):
        if not config:
            family = t.overrides.get('model.name')
            donors = [
                c
                for c, other in zip(configs, trials, strict=True)
                if c and other.overrides.get('model.name') == family
            ]
            config = dict(donors[0]) if donors else {}
        obs.append(Obs(t, {**config, **t.overrides}, workdir))
    return record, obs


def infer_experiment(record: dict, obs: Sequence[Obs]) -> tuple[str | None, str]:
    """(experiment name or None, how it was found)."""
    named = [o.get(EXPERIMENT_KEY) for o in obs if o.get(EXPERIMENT_KEY)]
    if isinstance(record.get(EXPERIMENT_KEY), str):
        named.append(record[EXPERIMENT_KEY])
    if named:
        name = max(set(named), key=named.count)
        if name in EXPERIMENTS:
            return name, f'config.{EXPERIMENT_KEY}'
        return None, f'config.{EXPERIMENT_KEY} = {name!r} is not one of {sorted(EXPERIMENTS)}'
    source = str(record.get('source') or '')
    stem = os.path.splitext(os.path.basename(source.partition(':')[0]))[0]
    if stem in EXPERIMENTS:
        return stem, f'sweep source {source}'
    varied = {k for o in obs for k in o.trial.overrides if k != 'seed'}
    varied = {k for k in varied if len({repr(o.get(k)) for o in obs}) > 1}
    rules = (
        ('receptive_field', {SPAN_KEY}),
        ('matched_params', {ISO_KEY}),
        ('multiplicative', {'model.gate', 'model.multiplicative'}),
        ('trainability', {'model.cell', 'model.layer_norm'}),
        ('overfitting', {*REG_KEYS, FRACTION_KEY, *LABEL_NOISE_KEYS}),
    )
    for name, keys in rules:
        if varied & keys:
            return name, f'inferred: the sweep varies {", ".join(sorted(varied & keys))}'
    if {'model.name', 'model.depth'} <= varied:  # configs/sweeps/depth.py: (d) at matched width.
        return 'matched_params', 'inferred: a depth sweep over model families'
    what = ', '.join(sorted(varied)) or 'nothing but the seed'
    return None, (
        f'no config.{EXPERIMENT_KEY}, no configs/experiments/ source, and the sweep varies '
        f'{what}: cannot tell which hypothesis it bears on'
    )


# --------------------------------------------------------------------------------------------
# Statistics: effects, their CIs and the decision rule.
# --------------------------------------------------------------------------------------------


def contrast_ci(
    groups: Sequence[tuple[float, Sequence[float]]],
    *,
    resamples: int = results.DEFAULT_RESAMPLES,
    level: float = CI_LEVEL,
    seed: int = results.CI_SEED,
) -> tuple[float, tuple[float, float]]:
    """sum_i c_i * mean(group_i) and its percentile-bootstrap CI, each group (of seeds)
    resampled independently. One group is results.bootstrap_ci; a fixed seed reproduces."""
    if len(groups) == 1 and groups[0][0] == 1:
        values = list(groups[0][1])
        return float(np.mean(values)), results.bootstrap_ci(
            values, resamples=resamples, level=level, seed=seed
        )
    rng = np.random.default_rng(seed)
    estimate, draws = 0.0, np.zeros(resamples)
    for coef, values in groups:
        x = np.asarray(values, np.float64)
        estimate += coef * float(x.mean())
        draws += coef * x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return estimate, (float(low), float(high))


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return '—'
    text = f'{value:.{digits}g}'
    return '0' if text in ('-0', '-0.0') else text


@dataclasses.dataclass(frozen=True)
class Test:
    """A sub-rule on one effect: its CI against `bound` in the predicted direction (above)."""

    bound: float = 0.0
    inclusive: bool = False  # 'at or above' the bound counts (a threshold that is reached).

    def text(self, effect: str, unit: str = '') -> str:
        bound = f'{_fmt(self.bound)}{unit}'
        above, below = ('at or above', 'below') if self.inclusive else ('above', 'at or below')
        return (
            f'supported if the {CI_LEVEL:.0%} CI of {effect} lies {above} {bound}; not '
            f'supported if it lies entirely {below} {bound}; inconclusive if it straddles '
            f'{bound} or a group has fewer than {MIN_SEEDS} seeds'
        )

    def decide(self, ci: tuple[float, float], n_min: int) -> tuple[str, str]:
        if n_min < MIN_SEEDS:
            return INCONCLUSIVE, f'only {n_min} seed(s) in a group (need {MIN_SEEDS})'
        low, high = ci
        where = f'CI [{_fmt(low)}, {_fmt(high)}]'
        above, below = ('at or above', 'below') if self.inclusive else ('above', 'at or below')
        if low > self.bound or (self.inclusive and low >= self.bound):
            return SUPPORTED, f'{where} lies {above} {_fmt(self.bound)}'
        if high < self.bound or (not self.inclusive and high <= self.bound):
            return NOT_SUPPORTED, f'{where} lies {below} {_fmt(self.bound)}'
        return INCONCLUSIVE, f'{where} straddles {_fmt(self.bound)}'


@dataclasses.dataclass
class Effect:
    """One effect size. `rule` is None for numbers reported without a vote."""

    key: str  # e.g. 'a1'
    label: str
    unit: str = ''
    estimate: float | None = None
    ci: tuple[float, float] | None = None
    n: tuple[int, ...] = ()  # Seeds per group compared.
    rule: str | None = None
    verdict: str | None = None
    reason: str = ''
    votes: bool = True
    where: str = ''  # Which family, cell or task it is about, when a sub-rule has several.

    def to_json(self) -> dict:
        return files.json_safe(dataclasses.asdict(self))


def measure(
    key: str,
    label: str,
    groups: Sequence[tuple[float, Sequence[float]]],
    test: Test | None,
    *,
    unit: str = '',
    votes: bool = True,
    resamples: int = results.DEFAULT_RESAMPLES,
) -> Effect:
    """An effect = sum of coef * mean over seeds, with its CI and (if `test`) a verdict."""
    rule = test.text(label, unit) if test else None
    n = tuple(len(v) for _, v in groups)
    if not groups or min(n) == 0:
        empty = [i for i, k in enumerate(n) if k == 0]
        why = f'no done trials for group(s) {empty} of the comparison' if groups else 'no data'
        return Effect(
            key,
            label,
            unit,
            n=n,
            rule=rule,
            verdict=INCONCLUSIVE if test else None,
            reason=why,
            votes=votes and test is not None,
        )
    estimate, ci = contrast_ci(groups, resamples=resamples)
    verdict, reason = test.decide(ci, min(n)) if test else (None, '')
    return Effect(key, label, unit, estimate, ci, n, rule, verdict, reason, votes and bool(test))


def missing(key: str, label: str, test: Test | None, reason: str, unit: str = '') -> Effect:
    """A sub-rule whose data are absent: inconclusive, with the reason."""
    return Effect(
        key,
        label,
        unit,
        rule=test.text(label, unit) if test else None,
        verdict=INCONCLUSIVE if test else None,
        reason=reason,
        votes=test is not None,
    )


def all_of(verdicts: Iterable[str]) -> str:
    """Three-valued AND: any 'not supported' decides; all 'supported' supports; else unknown."""
    verdicts = list(verdicts)
    if NOT_SUPPORTED in verdicts:
        return NOT_SUPPORTED
    return SUPPORTED if verdicts and all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def any_of(verdicts: Iterable[str]) -> str:
    """Three-valued OR: any 'supported' decides; all 'not supported' rejects; else unknown."""
    verdicts = list(verdicts)
    if SUPPORTED in verdicts:
        return SUPPORTED
    return NOT_SUPPORTED if verdicts and all(v == NOT_SUPPORTED for v in verdicts) else INCONCLUSIVE


def tag(effects: list[Effect], start: int, where: str, votes: bool = True) -> None:
    """Names what the effects from `start` on are about; those of non-voting variants lose
    their vote (they are reported with their verdict)."""
    for e in effects[start:]:
        e.where = where
        e.votes = e.votes and votes


def voted(effects: Sequence[Effect], prefix: str) -> list[str]:
    return [e.verdict for e in effects if e.votes and e.key.startswith(prefix) and e.verdict]


# --------------------------------------------------------------------------------------------
# Selecting trials and per-seed quantities.
# --------------------------------------------------------------------------------------------


def select(obs: Iterable[Obs], **where: Any) -> list[Obs]:
    """Trials whose config has every key = value (keys with '.' spelled '__')."""
    keys = {k.replace('__', '.'): v for k, v in where.items()}
    return [o for o in obs if all(o.get(k) == v for k, v in keys.items())]


def values(obs: Iterable[Obs], *paths: Sequence[str]) -> list[float]:
    """The done trials' values (one per seed), in seed order."""
    found = [(o.seed, o.value(*paths)) for o in obs]
    return [v for _, v in sorted(found, key=lambda p: str(p[0])) if v is not None]


def distinct(obs: Iterable[Obs], key: str) -> list:
    found = {o.get(key) for o in obs if o.get(key) is not None}
    return sorted(found, key=lambda v: (str(type(v)), v))


def min_depth_per_seed(
    obs: Sequence[Obs], reached: Callable[[Obs], bool | None], size: Callable[[Obs], float]
) -> tuple[list[float], int]:
    """Per seed, the smallest `size` (depth, params) among its done trials that reach the
    target; a seed that never does counts as CENSOR_FACTOR x the largest size tried.
    Returns (values, how many were censored)."""
    done = [o for o in obs if o.done]
    if not done:
        return [], 0
    ceiling = CENSOR_FACTOR * max(size(o) for o in obs)
    out, censored = [], 0
    for seed in sorted({o.seed for o in done}, key=str):
        mine = [o for o in done if o.seed == seed]
        hits = [size(o) for o in mine if reached(o)]
        out.append(min(hits) if hits else ceiling)
        censored += not hits
    return out, censored


def depth(o: Obs) -> float:
    return float(o.get('model.depth', 0))


def variant(o: Obs) -> str:
    """The model variant a hypothesis compares: the label summary.json records (its family's
    `label`), else, for runs written before it did, that family's label of the config."""
    recorded = (o.summary or {}).get('variant')
    if isinstance(recorded, str):
        return recorded
    name = o.get('model.name')
    fields = {k[len('model.') :]: v for k, v in o.config.items() if k.startswith('model.')}
    found = variants.label(name, fields)
    return found if found is not None else str(name)


# --------------------------------------------------------------------------------------------
# Findings.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Finding:
    letter: str
    experiment: str
    title: str
    rule: str
    verdict: str
    reason: str
    effects: list[Effect]
    workdirs: list[str] = dataclasses.field(default_factory=list)
    obs: list[Obs] = dataclasses.field(default_factory=list)
    table_md: str = ''
    figures: list = dataclasses.field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {s: sum(o.trial.status == s for o in self.obs) for s in workdir_lib.STATES}
        return {s: n for s, n in counts.items() if n}

    def seeds(self) -> int:
        return len({str(o.seed) for o in self.obs if o.done})


@dataclasses.dataclass
class Options:
    threshold: float = RF_THRESHOLD
    target_error: float | None = None  # Overrides every trial's config.target_error.
    resamples: int = results.DEFAULT_RESAMPLES


def _verdict(effects: Sequence[Effect], combined: str, empty: str) -> tuple[str, str]:
    """The verdict and a one-line reason naming the sub-rules that decided it."""
    votes = [e for e in effects if e.votes and e.verdict]
    if not votes:
        return INCONCLUSIVE, empty
    deciding = [e for e in votes if e.verdict == combined] or votes
    return combined, '; '.join(
        f'{e.key}{f" [{e.where}]" if e.where else ""} {e.verdict} ({e.reason})' for e in deciding
    )


# ---------------------------------------------------------------------------------------- (a)


def rule_a(opts: Options) -> str:
    return (
        'supported if a1 and a2 are both supported (three-valued AND). a1: the smallest depth '
        f'at which each seed of the CNN reaches validation accuracy {_fmt(opts.threshold)} '
        '(a seed that never does counts as '
        f'{CENSOR_FACTOR}x the deepest tried) grows from the shortest to the longest motif span '
        '(the plain CNN decides if present, else the dilated CNN). a2: the shallowest LSTM '
        'reaches that accuracy at every span (its worst span decides).'
    )


def analyse_a(obs: list[Obs], opts: Options) -> list[Effect]:
    motif = [
        o for o in obs if o.get(SPAN_KEY) is not None and o.get('data.variant') in SPAN_VARIANTS
    ]
    spans = distinct(motif, SPAN_KEY)
    effects = []
    cnns = [v for v in ('plain CNN', 'dilated CNN') if any(variant(o) == v for o in motif)]
    for i, name in enumerate(cnns):
        rows = [o for o in motif if variant(o) == name]
        effects += _cnn_effects(rows, name, spans, opts, votes=i == 0)
    if not cnns:
        effects.append(missing('a1', 'CNN min-depth growth with span', Test(), 'no CNN trials'))
    effects.append(_lstm_effect([o for o in motif if variant(o) == 'LSTM'], spans, opts))
    return effects


def _reaches(threshold: float) -> Callable[[Obs], bool]:
    """The target test min_depth_per_seed applies: validation accuracy at least `threshold`."""

    def reached(o: Obs) -> bool:
        value = o.value(RF_METRIC)
        return value is not None and value >= threshold

    return reached


def _at_span(rows: Iterable[Obs], span: Any) -> list[Obs]:
    """The trials at one motif span, in their order."""
    return [o for o in rows if o.get(SPAN_KEY) == span]


def _cnn_effects(
    rows: list[Obs], name: str, spans: list, opts: Options, votes: bool
) -> list[Effect]:
    """a1 for one CNN variant (only the first variant present votes), then per span the
    reported coverage contrast and minimal depth. Only a1 names the variant it is about."""
    label = f'min depth to reach acc {_fmt(opts.threshold)}, longest − shortest span ({name})'
    if len(spans) < 2:
        effects = [missing('a1', label, Test(), f'{len(spans)} motif span(s); need 2')]
        tag(effects, 0, name, votes)
        return effects
    reached = _reaches(opts.threshold)
    groups = [
        (coef, min_depth_per_seed(_at_span(rows, span), reached, depth)[0])
        for coef, span in ((1.0, spans[-1]), (-1.0, spans[0]))
    ]
    effect = measure('a1', label, groups, Test(), unit=' layers', resamples=opts.resamples)
    effect.label += f' (k={spans[-1]} vs k={spans[0]})'
    effects = [effect]
    tag(effects, 0, name, votes)
    for span in spans:  # Reported: accuracy just short of vs just covering the span.
        effects.append(_coverage_effect(_at_span(rows, span), name, span, opts))
    for span in spans:
        effects.append(_min_depth_effect(_at_span(rows, span), name, span, opts))
    return effects


def _min_depth_effect(rows: list[Obs], name: str, span: Any, opts: Options) -> Effect:
    """The minimal depth of one CNN variant at one span (reported), naming censored seeds."""
    per_seed, censored = min_depth_per_seed(rows, _reaches(opts.threshold), depth)
    note = f', {censored} seed(s) never reach it' if censored else ''
    return measure(
        f'a.{name}.k{span}',
        f'min depth to reach acc {_fmt(opts.threshold)}, {name}, span k={span}{note}',
        [(1.0, per_seed)],
        None,
        unit=' layers',
        resamples=opts.resamples,
    )


def _lstm_effect(lstm: list[Obs], spans: list, opts: Options) -> Effect:
    """a2: the shallowest LSTM's accuracy margin over the threshold at its worst span (one
    recurrent layer should see every span)."""
    threshold = opts.threshold
    label = f'validation accuracy − {_fmt(threshold)} of the shallowest LSTM at its worst span'
    if not lstm or not spans:
        return missing('a2', label, Test(inclusive=True), 'no LSTM trials on the motif')
    shallowest = min(depth(o) for o in lstm)
    margins = {}
    for span in spans:
        rows = [o for o in lstm if depth(o) == shallowest and o.get(SPAN_KEY) == span]
        margins[span] = [v - threshold for v in values(rows, RF_METRIC)]
    worst = min(margins, key=lambda s: np.mean(margins[s]) if margins[s] else -math.inf)
    effect = measure(
        'a2', label, [(1.0, margins[worst])], Test(inclusive=True), resamples=opts.resamples
    )
    effect.label += f' (depth {shallowest:g}, k={worst})'
    return effect


def _receptive_field(o: Obs) -> float | None:
    return o.value(('receptive_field',), ('diagnostics', 'receptive_field'))


def _span_samples(rows: Sequence[Obs]) -> float | None:
    for o in rows:
        found = o.value((SPAN_SAMPLES_FIELD,)) if o.done else None
        found = found if found is not None else o.get(f'data.{SPAN_SAMPLES_FIELD}')
        if isinstance(found, (int, float)) and found > 0:
            return float(found)
    return None


def _coverage_effect(rows: Sequence[Obs], name: str, span: Any, opts: Options) -> Effect:
    """Accuracy at the shallowest depth whose theoretical receptive field covers the motif
    minus at the deepest whose field falls short (reported, not voted)."""
    label = f'val accuracy, RF covering − RF short of the span, {name}, k={span}'
    samples = _span_samples(rows)
    if samples is None:
        return missing('a.coverage', label, None, f'no {SPAN_SAMPLES_FIELD} recorded')
    fields = {depth(o): _receptive_field(o) for o in rows if _receptive_field(o) is not None}
    short = [d for d, rf in fields.items() if rf < samples]
    covers = [d for d, rf in fields.items() if rf >= samples]
    if not short or not covers:
        why = f'no depth {"short of" if not short else "covering"} {samples:g} samples'
        return missing('a.coverage', label, None, why)
    below, above = max(short), min(covers)
    return measure(
        'a.coverage',
        f'{label} ({samples:g} samples: depth {above:g} vs {below:g})',
        [
            (1.0, values([o for o in rows if depth(o) == above], RF_METRIC)),
            (-1.0, values([o for o in rows if depth(o) == below], RF_METRIC)),
        ],
        None,
        resamples=opts.resamples,
    )


# ---------------------------------------------------------------------------------------- (b)


def rule_b(opts: Options) -> str:
    return (
        'supported if (b1 AND b2) OR b3 (three-valued logic). Across layers — b1: the final '
        f'training loss of the deepest plain {REFERENCE_CELL.upper()} stack (no residual, no '
        'layer norm; a diverged run counts as chance level, ln(classes)) exceeds that of the '
        'shallowest by more than '
        f'{_fmt(LOSS_MARGIN)} (nats; MSE for regression: it fails to fit); b2: at that depth '
        f'a residual and/or layer-norm stack recovers more than {_fmt(LOSS_MARGIN)} of it. '
        'Across time — '
        f'b3: in the shallowest plain {REFERENCE_CELL.upper()} the norm of d loss / d h_t '
        f'falls by more than {_fmt(TIME_DECAY_DECADES)} decade(s) over the window at its best '
        'step (slope of '
        f'log10 `{TIME_GRAD_FIELD}` per time step x window length, or `{TIME_GRAD_SLOPE_FIELD}`).'
        ' GRU and tanh-RNN numbers are reported, not voted.'
    )


def _time_slope(o: Obs, suffix: str = '') -> tuple[float, int] | None:
    """(d log10 |d loss / d h_t| / d lag, window length), None if not recorded; at the best
    step, or at initialisation with suffix INIT_SUFFIX."""
    if not o.done:
        return None
    summary = o.summary or {}
    slope = None
    for field in (TIME_GRAD_SLOPE_FIELD, *TIME_GRAD_SLOPE_ALIASES):
        if slope is None:
            slope = o.value((field + suffix,), ('diagnostics', field + suffix))
    curve = None
    for node in (summary, summary.get('diagnostics') or {}):
        if isinstance(node, dict) and isinstance(node.get(TIME_GRAD_FIELD + suffix), list):
            curve = [v for v in node[TIME_GRAD_FIELD + suffix] if isinstance(v, (int, float))]
    length = len(curve) if curve else o.get('data.window')
    if slope is None and curve and len(curve) > 1:
        y = np.log10(np.maximum(np.asarray(curve, np.float64), 1e-30))
        slope = float(np.polyfit(np.arange(len(y)), y, 1)[0])
    if slope is None or not length:
        return None
    return slope, int(length)


def _time_decay(o: Obs, suffix: str = '') -> float | None:
    """Decades the d loss / d h_t norm falls across the window (None if not recorded)."""
    found = _time_slope(o, suffix)
    return None if found is None else -found[0] * (found[1] - 1)


def _log_ratio(o: Obs, key: str) -> float | None:
    """log10(first / last layer gradient norm) of a per-layer list."""
    for node in ((o.summary or {}), (o.summary or {}).get('diagnostics') or {}):
        curve = node.get(key) if isinstance(node, dict) and o.done else None
        if (
            isinstance(curve, list)
            and len(curve) > 1
            and all(isinstance(v, (int, float)) and v > 0 for v in (curve[0], curve[-1]))
        ):
            return math.log10(curve[0] / curve[-1])
    return None


def _norms(o: Obs) -> tuple[bool, bool]:
    return bool(o.get('model.residual')), bool(o.get('model.layer_norm'))


def analyse_b(obs: list[Obs], opts: Options) -> list[Effect]:
    rnn = [o for o in obs if o.get('model.name') == 'lstm']
    effects: list[Effect] = []
    cells = distinct(rnn, 'model.cell') or [REFERENCE_CELL]
    for cell in sorted(cells, key=lambda c: c != REFERENCE_CELL):
        start = len(effects)
        mine = [o for o in rnn if o.get('model.cell', 'lstm') == cell]
        effects += _cell_effects(
            mine, {'lstm': 'LSTM', 'gru': 'GRU', 'rnn': 'tanh RNN'}.get(cell, cell), opts
        )
        tag(effects, start, cell, votes=cell == REFERENCE_CELL)
    return effects


REMEDIES = (
    ('residual + layer norm', (True, True)),
    ('residual', (True, False)),
    ('layer norm', (False, True)),
)


def final_loss(o: Obs) -> float | None:
    """The final training loss; a diverged run has failed to fit: chance level, ln(classes)."""
    if o.trial.status == workdir_lib.DIVERGED:
        classes = results.lookup(o.summary, ('num_classes',)) or o.get('data.num_classes')
        return math.log(classes) if isinstance(classes, (int, float)) and classes > 1 else None
    return o.value(*FINAL_LOSS_PATHS)


def final_losses(obs: Iterable[Obs]) -> list[float]:
    return [v for v in (final_loss(o) for o in obs) if v is not None]


def loss_unit(rows: Iterable[Obs]) -> str:
    """What the training loss is measured in: cross-entropy nats, or MSE for regression."""
    return ' MSE' if any(o.get('task') == 'regression' for o in rows) else ' nats'


def _cell_effects(mine: list[Obs], name: str, opts: Options) -> list[Effect]:
    """b1, b2 and b3 (and the reported gradient ratios) of one recurrent cell."""
    plain = [o for o in mine if _norms(o) == (False, False)]
    depths = distinct(plain, 'model.depth')
    lo, hi = (depths[0], depths[-1]) if depths else (None, None)
    deep = [o for o in plain if o.get('model.depth') == hi]
    shallow = [o for o in plain if o.get('model.depth') == lo]
    effects = _fit_effects(mine, name, depths, deep, shallow, opts)
    effects += _grad_ratio_effects(deep, name, hi, opts)
    effects += _decay_rate_effects(deep, shallow, name, lo, hi, opts)
    effects += _time_decay_effects(shallow, name, lo, opts)
    return effects


def _fit_effects(
    mine: list[Obs], name: str, depths: list, deep: list[Obs], shallow: list[Obs], opts: Options
) -> list[Effect]:
    """b1 (the deepest plain stack fits worse than the shallowest) and b2 (a residual or
    layer-norm stack at that depth recovers it), in the units of the task loss."""
    unit = loss_unit(mine)
    margin = Test(LOSS_MARGIN)
    l1 = f'final train loss, deepest − shallowest plain {name}'
    l2 = f'final train loss at the deepest depth, plain − residual/layer-norm {name}'
    if len(depths) < 2:
        why = f'{len(depths)} plain depth(s); need 2'
        return [missing('b1', l1, margin, why, unit), missing('b2', l2, margin, why, unit)]
    lo, hi = depths[0], depths[-1]
    b1 = measure(
        'b1',
        f'{l1} (depth {hi} vs {lo})',
        [(1.0, final_losses(deep)), (-1.0, final_losses(shallow))],
        margin,
        unit=unit,
        resamples=opts.resamples,
    )
    remedy = _remedy(mine, hi)
    if remedy is None:
        why = f'no residual/layer-norm {name} at depth {hi}'
        return [b1, missing('b2', l2, margin, why, unit)]
    b2 = measure(
        'b2',
        f'{l2} ({remedy[0]}, depth {hi})',
        [(1.0, final_losses(deep)), (-1.0, final_losses(remedy[1]))],
        margin,
        unit=unit,
        resamples=opts.resamples,
    )
    return [b1, b2]


def _remedy(mine: list[Obs], hi: Any) -> tuple[str, list[Obs]] | None:
    """(what, trials) of the first REMEDIES entry with a done trial at depth `hi`, else None."""
    for what, flags in REMEDIES:
        rows = [o for o in mine if o.get('model.depth') == hi and _norms(o) == flags]
        if any(o.done for o in rows):
            return what, rows
    return None


def _grad_ratio_effects(deep: list[Obs], name: str, hi: Any, opts: Options) -> list[Effect]:
    """Reported: log10 first/last layer gradient norm of the deepest plain stack, at
    initialisation and trained (where recorded)."""
    effects = []
    for key, when in (('grad_norm_per_layer_init', 'at init'), ('grad_norm_per_layer', 'trained')):
        ratios = [r for r in (_log_ratio(o, key) for o in deep) if r is not None]
        if ratios:
            label = f'log10 grad-norm ratio first/last layer, plain {name} depth {hi} ({when})'
            effects.append(
                measure(
                    f'b.ratio.{when}',
                    label,
                    [(1.0, ratios)],
                    None,
                    unit=' decades',
                    resamples=opts.resamples,
                )
            )
    return effects


def _decay_rate_effects(
    deep: list[Obs], shallow: list[Obs], name: str, lo: Any, hi: Any, opts: Options
) -> list[Effect]:
    """Reported: the gradient-norm decay rate per layer (deepest plain stack) and per time
    step (shallowest), trained, where recorded."""
    per_layer = [
        -r / (hi - 1)
        for r in (_log_ratio(o, 'grad_norm_per_layer') for o in deep)
        if r is not None and hi and hi > 1
    ]
    per_step = [-found[0] for found in map(_time_slope, shallow) if found is not None]
    effects = []
    for key, what, unit, rates in (
        ('b.per_layer', f'layer (depth {hi})', ' decades/layer', per_layer),
        ('b.per_step', f'time step (depth {lo})', ' decades/step', per_step),
    ):
        if rates:
            label = f'gradient-norm decay per {what}, plain {name}, trained'
            effects.append(
                measure(key, label, [(1.0, rates)], None, unit=unit, resamples=opts.resamples)
            )
    return effects


def _time_decay_effects(shallow: list[Obs], name: str, lo: Any, opts: Options) -> list[Effect]:
    """b3 (the shallowest plain stack's d loss / d h_t falls over the window) and, reported,
    the same at initialisation: what training started from."""
    decay = [d for d in (_time_decay(o) for o in shallow) if d is not None]
    l3 = f'decades d loss / d h_t falls over the window, plain {name} depth {lo}'
    test = Test(TIME_DECAY_DECADES)
    if decay:
        effects = [
            measure('b3', l3, [(1.0, decay)], test, unit=' decades', resamples=opts.resamples)
        ]
    else:
        why = f'summaries hold neither {TIME_GRAD_FIELD} nor {TIME_GRAD_SLOPE_FIELD}'
        effects = [missing('b3', l3, test, why, ' decades')]
    at_init = [d for d in (_time_decay(o, INIT_SUFFIX) for o in shallow) if d is not None]
    if at_init:
        label = f'{l3.replace("falls", "fell")}, at initialisation'
        effects.append(
            measure(
                'b3.init', label, [(1.0, at_init)], None, unit=' decades', resamples=opts.resamples
            )
        )
    return effects


def combine_b(effects: Sequence[Effect]) -> str:
    layers = all_of(voted(effects, 'b1') + voted(effects, 'b2'))
    return any_of([layers, *voted(effects, 'b3')])


# ---------------------------------------------------------------------------------------- (c)


def rule_c(opts: Options) -> str:
    return (
        'supported if c1 and c2 are supported for every family (three-valued AND), on the full '
        'training set without label noise. c1: the train − validation accuracy gap of the '
        'least-regularised models (lowest dropout and weight decay) grows from the shallowest '
        'to the deepest depth. c2: at the deepest depth, the gap of the least-regularised '
        'models exceeds that of the most-regularised (highest dropout and weight decay).'
    )


def _extreme(obs: Sequence[Obs], key: str, last: bool) -> list[Obs]:
    """The trials at the smallest (or largest) value of `key`; all if the key is absent."""
    found = distinct(obs, key)
    if not found:
        return list(obs)
    return [o for o in obs if o.get(key) == found[-1 if last else 0]]


def analyse_c(obs: list[Obs], opts: Options) -> list[Effect]:
    effects: list[Effect] = []
    for family in distinct(obs, 'model.name'):
        start = len(effects)
        mine = select(obs, model__name=family)
        full = _extreme(mine, FRACTION_KEY, last=True)
        clean = full
        for key in LABEL_NOISE_KEYS:
            clean = _extreme(clean, key, last=False)
        effects += _gap_effects(clean, family, opts, vote=True)
        for key in LABEL_NOISE_KEYS:  # Reported: the same comparisons with the most noise.
            if len(distinct(full, key)) > 1:
                noisy = _extreme(full, key, last=True)
                more = _gap_effects(noisy, f'{family}, {results.key_label(key)} max', opts)
                effects += [e for e in more if e.key == 'c2']
        if len(distinct(mine, FRACTION_KEY)) > 1:  # Reported: less data, bigger gap?
            least = {k: distinct(mine, k)[0] for k in REG_KEYS if distinct(mine, k)}
            unreg = [o for o in mine if all(o.get(k) == v for k, v in least.items())]
            for key in LABEL_NOISE_KEYS:
                unreg = _extreme(unreg, key, last=False)
            deepest = _extreme(unreg, 'model.depth', last=True)
            effects.append(
                measure(
                    'c.fraction',
                    f'gap, smallest − full training fraction, least regularised ({family})',
                    [
                        (1.0, values(_extreme(deepest, FRACTION_KEY, last=False), GAP_PATH)),
                        (-1.0, values(_extreme(deepest, FRACTION_KEY, last=True), GAP_PATH)),
                    ],
                    None,
                    resamples=opts.resamples,
                )
            )
        tag(effects, start, family)
    if not effects:
        effects.append(missing('c1', 'gap growth with depth', Test(), 'no trials'))
    return effects


def _gap_effects(rows: list[Obs], where: str, opts: Options, vote: bool = False) -> list[Effect]:
    """c1 and c2 on one family's trials (one training fraction and noise level)."""
    effects: list[Effect] = []
    low = {k: distinct(rows, k)[0] for k in REG_KEYS if distinct(rows, k)}
    high = {k: distinct(rows, k)[-1] for k in REG_KEYS if distinct(rows, k)}
    unreg = [o for o in rows if all(o.get(k) == v for k, v in low.items())]
    depths = distinct(unreg, 'model.depth')
    l1 = f'gap, deepest − shallowest, least regularised ({where})'
    if len(depths) < 2:
        effects.append(missing('c1', l1, Test(), f'{len(depths)} depth(s); need 2'))
    else:
        lo, hi = depths[0], depths[-1]
        effects.append(
            measure(
                'c1',
                f'{l1} (depth {hi} vs {lo})',
                [
                    (1.0, values(select(unreg, model__depth=hi), GAP_PATH)),
                    (-1.0, values(select(unreg, model__depth=lo), GAP_PATH)),
                ],
                Test(),
                resamples=opts.resamples,
            )
        )
    deepest = _extreme(rows, 'model.depth', last=True)
    at = f', depth {deepest[0].get("model.depth")}' if deepest else ''
    l2 = f'gap, least − most regularised ({where}{at})'
    if low == high:
        effects.append(missing('c2', l2, Test(), 'no regularisation axis varies'))
    else:
        setting = ', '.join(
            f'{results.key_label(k)} {results.format_value(v)}' for k, v in high.items()
        )
        reg = [o for o in deepest if all(o.get(k) == v for k, v in high.items())]
        unreg = [o for o in deepest if all(o.get(k) == v for k, v in low.items())]
        effects.append(
            measure(
                'c2',
                f'{l2}; most = {setting}',
                [(1.0, values(unreg, GAP_PATH)), (-1.0, values(reg, GAP_PATH))],
                Test(),
                resamples=opts.resamples,
            )
        )
    for e in effects:
        e.votes = e.votes and vote
    return effects


# ---------------------------------------------------------------------------------------- (d)


def rule_d(opts: Options) -> str:
    return (
        'supported if d1 and d2 are both supported (three-valued AND). d1: the per-layer '
        'parameter count of the LSTM over that of the width-matched CNN (slope of summary '
        'params over depth) lies within '
        f'{PARAM_RATIO_TOLERANCE:.0%} of the analytic 8/k (4/k for a gated CNN; 6/k GRU, 2/k '
        'tanh RNN); exact counts, so no CI. d2: the CNN − LSTM difference in test macro-F1 at '
        'the deepest depth both families ran in both modes is larger at matched width than at '
        'matched total parameters (iso-parameter trials): the CNN advantage shrinks when '
        'parameters match.'
    )


def _per_layer_params(rows: Sequence[Obs]) -> float | None:
    points = {}
    for o in rows:
        params = o.value(('params',))
        if params is not None:
            points[depth(o)] = params
    if len(points) < 2:
        return None
    x = np.array(sorted(points))
    return float(np.polyfit(x, [points[d] for d in x], 1)[0])


def analyse_d(obs: list[Obs], opts: Options) -> list[Effect]:
    width = [o for o in obs if o.get(ISO_KEY) is None]
    iso = _extreme([o for o in obs if o.get(ISO_KEY) is not None], ISO_KEY, last=True)
    cnn = [o for o in width if o.get('model.name') == 'dilated_cnn']
    rnn = [o for o in width if o.get('model.name') == 'lstm']
    widths = sorted(set(distinct(cnn, 'model.width')) & set(distinct(rnn, 'model.width')))
    effects = [_param_ratio_effect(cnn, rnn, widths)]
    if widths:  # d2 compares at the width d1 used (a sweep may vary it).
        width = [o for o in width if o.get('model.width') == widths[-1]]
    return effects + _matched_effects(width, iso, opts)


def _analytic_ratio(cnn: Obs, rnn: Obs) -> tuple[Any, float]:
    """(kernel size, LSTM / CNN parameters per layer by the formula): the cell's square
    matrices (x2 bidirectional) over k (x2 for a gated CNN's doubled channels)."""
    k = cnn.get('model.kernel_size', 3)
    gate = 2 if cnn.get('model.gate', 'none') != 'none' else 1
    cell = rnn.get('model.cell', 'lstm')
    analytic = CELL_WEIGHTS.get(cell, 8) * (2 if rnn.get('model.bidirectional') else 1)
    analytic /= k * gate
    return k, analytic


def _param_ratio_effect(cnn: list[Obs], rnn: list[Obs], widths: list) -> Effect:
    """d1 at the widest width both families ran: exact counts, so a tolerance, not a CI."""
    label = 'per-layer params LSTM / CNN at matched width, measured ÷ analytic'
    if not widths:
        effect = missing('d1', label, None, 'no LSTM and CNN trials of one width')
        effect.votes, effect.verdict = True, INCONCLUSIVE
        return effect
    w = widths[-1]
    c_rows, r_rows = select(cnn, model__width=w), select(rnn, model__width=w)
    c_slope, r_slope = _per_layer_params(c_rows), _per_layer_params(r_rows)
    k, analytic = _analytic_ratio(c_rows[0], r_rows[0])
    rule = (
        f'supported if |measured / analytic − 1| <= {PARAM_RATIO_TOLERANCE:g}, '
        'not supported otherwise, inconclusive without two depths per family'
    )
    if c_slope is None or r_slope is None or c_slope <= 0:
        return Effect(
            'd1',
            label,
            rule=rule,
            verdict=INCONCLUSIVE,
            reason=f'fewer than two depths with params at width {w}',
        )
    measured = r_slope / c_slope
    ratio = measured / analytic
    ok = abs(ratio - 1) <= PARAM_RATIO_TOLERANCE
    return Effect(
        'd1',
        f'{label} (width {w}, k={k}: measured {measured:.3g}, analytic {analytic:.3g})',
        '',
        ratio,
        None,  # Exact counts: no sampling error.
        (),
        rule,
        SUPPORTED if ok else NOT_SUPPORTED,
        f'measured/analytic = {ratio:.3g}',
    )


def _family_contrast(rows: list[Obs], at_depth: Any) -> list[tuple[float, list[float]]]:
    """The groups of CNN − LSTM test macro-F1 at one depth."""
    return [
        (s, values(select(rows, model__name=f, model__depth=at_depth), MATCHED_METRIC))
        for s, f in ((1.0, 'dilated_cnn'), (-1.0, 'lstm'))
    ]


def _matched_effects(width: list[Obs], iso: list[Obs], opts: Options) -> list[Effect]:
    """d2 (the CNN's lead shrinks from matched width to matched parameters) and, reported,
    that lead in each mode, at the deepest depth both modes and families ran."""
    label = 'CNN − LSTM test macro-F1, matched width − matched params'
    # The deepest depth every (mode, family) cell has: families may sweep different depths.
    cells = [select(rows, model__name=f) for rows in (width, iso) for f in ('dilated_cnn', 'lstm')]
    common = set.intersection(*(set(distinct(rows, 'model.depth')) for rows in cells))
    if not iso or not common:
        why = 'no iso-parameter trials' if not iso else 'no depth common to both modes and families'
        return [missing('d2', label, Test(), why)]
    deepest = max(common)
    groups = [
        (coef * sign, found)
        for coef, rows in ((1.0, width), (-1.0, iso))
        for sign, found in _family_contrast(rows, deepest)
    ]
    effects = [
        measure('d2', f'{label} (depth {deepest})', groups, Test(), resamples=opts.resamples)
    ]
    for mode, rows in (('matched width', width), ('matched params', iso)):
        effects.append(
            measure(
                f'd.{mode}',
                f'CNN − LSTM test macro-F1, {mode}, depth {deepest}',
                _family_contrast(rows, deepest),
                None,
                resamples=opts.resamples,
            )
        )
    return effects


# ---------------------------------------------------------------------------------------- (e)


def variant_e(o: Obs) -> str:
    """(e) compares the ReLU with the gated CNN, whatever their dilation."""
    if o.get('model.name') == 'dilated_cnn' and o.get('model.gate', 'none') == 'none':
        return 'ReLU CNN'
    return variant(o)


def task(o: Obs) -> str:
    variant_ = o.get('data.variant')
    return f'{o.get("data.name")}/{variant_}' if variant_ else str(o.get('data.name'))


def target_of(rows: Sequence[Obs], opts: Options) -> float:
    found = [o.get(TARGET_KEY) for o in rows if isinstance(o.get(TARGET_KEY), (int, float))]
    if opts.target_error is not None:
        return opts.target_error
    return float(found[0]) if found else TARGET_ERROR


def error_path(rows: Sequence[Obs]) -> tuple[str, str]:
    """Where the task's error is read: 1 - summary['val'][metric] (R^2 for regression)."""
    found = [o.get(TARGET_METRIC_KEY) for o in rows if o.get(TARGET_METRIC_KEY) in results.METRICS]
    regression = any(o.get('task') == 'regression' for o in rows)
    return ('val', found[0] if found else REGRESSION_ERROR_METRIC if regression else ERROR_METRIC)


def error_of(o: Obs, path: tuple[str, str]) -> float | None:
    value = o.value(path)
    return None if value is None else 1 - value


def rule_e(opts: Options) -> str:
    pairs = '; '.join(f'{a} vs {m}' for a, m in PAIRS)
    return (
        'supported if e1 is supported for every pair of additive vs multiplicative model '
        f'({pairs}) on every task present except controls (task names containing '
        f'{", ".join(repr(c) for c in CONTROL_TASKS)}: reported, not voted; three-valued AND). '
        'e1: the smallest depth at which each seed reaches the target validation error (1 − '
        f'{ERROR_METRIC}, or 1 − R² for regression; config `{TARGET_METRIC_KEY}` may name '
        f'macro_f1; the target is '
        + (
            f'{_fmt(opts.target_error)} (--target_error)'
            if opts.target_error is not None
            else f'config `{TARGET_KEY}` (default {_fmt(TARGET_ERROR)})'
        )
        + f', and a seed that never reaches it counts as {CENSOR_FACTOR}x the deepest tried) '
        'is larger for the additive model. The '
        'log10 ratio of the parameter counts at those depths is reported alongside.'
    )


def analyse_e(obs: list[Obs], opts: Options) -> list[Effect]:
    effects: list[Effect] = []
    for name in sorted({task(o) for o in obs}):
        effects += _task_effects([o for o in obs if task(o) == name], name, opts)
    if not any(e.key == 'e1' for e in effects):
        effects.append(
            missing(
                'e1',
                'min depth, additive − multiplicative',
                Test(),
                'no task has both models of a pair',
            )
        )
    return effects


def _reaches_error(target: float, path: tuple[str, str]) -> Callable[[Obs], bool]:
    """The target test min_depth_per_seed applies: the task's error at most `target`."""

    def reached(o: Obs) -> bool:
        error = error_of(o, path)
        return error is not None and error <= target

    return reached


def _params_or_inf(o: Obs) -> float:
    """A trial's parameter count as a size for min_depth_per_seed (inf if unrecorded)."""
    return o.value(('params',)) or math.inf


def _task_effects(rows: list[Obs], name: str, opts: Options) -> list[Effect]:
    """e1 and the reported parameter ratio for each pair present on one task, then the
    LSTM's minimal depth (reported); a control task's e1 does not vote."""
    target = target_of(rows, opts)
    reached = _reaches_error(target, error_path(rows))
    effects = []
    for pair in PAIRS:
        effects += _pair_effects(rows, pair, name, target, reached, opts)
    lstm = [o for o in rows if variant_e(o) == 'LSTM']
    if lstm:
        effects.append(
            measure(
                'e.lstm',
                f'min depth to reach error {_fmt(target)}, LSTM ({name})',
                [(1.0, min_depth_per_seed(lstm, reached, depth)[0])],
                None,
                unit=' layers',
                resamples=opts.resamples,
            )
        )
    return effects


def _log_params_to_reach(rows: list[Obs], reached: Callable[[Obs], bool]) -> list[float]:
    """Per seed, log10 of the fewest parameters that reach the target (censored as usual)."""
    done = [o for o in rows if o.done and o.value(('params',))]
    found = min_depth_per_seed(done, reached, _params_or_inf)[0] if done else []
    return [math.log10(v) for v in found if 0 < v < math.inf]


def _pair_effects(
    rows: list[Obs],
    pair: tuple[str, str],
    name: str,
    target: float,
    reached: Callable[[Obs], bool],
    opts: Options,
) -> list[Effect]:
    """e1 (the additive model needs more depth to reach the target) and the reported log10
    parameter ratio at those depths, for one pair on one task; none if a model is absent."""
    additive, multiplicative = pair
    a_rows = [o for o in rows if variant_e(o) == additive]
    m_rows = [o for o in rows if variant_e(o) == multiplicative]
    if not a_rows or not m_rows:
        return []
    control = any(c in name for c in CONTROL_TASKS)
    e1 = measure(
        'e1',
        f'min depth to reach error {_fmt(target)}, {additive} − {multiplicative} '
        f'({name}{", control" if control else ""})',
        [
            (1.0, min_depth_per_seed(a_rows, reached, depth)[0]),
            (-1.0, min_depth_per_seed(m_rows, reached, depth)[0]),
        ],
        Test(),
        unit=' layers',
        votes=not control,
        resamples=opts.resamples,
    )
    ratio = measure(
        'e.params',
        f'log10 params to reach error {_fmt(target)}, {additive} / {multiplicative} ({name})',
        [
            (1.0, _log_params_to_reach(a_rows, reached)),
            (-1.0, _log_params_to_reach(m_rows, reached)),
        ],
        None,
        unit=' decades',
        resamples=opts.resamples,
    )
    effects = [e1, ratio]
    tag(effects, 0, f'{name}: {additive} vs {multiplicative}')
    return effects


ANALYSES = {
    'a': (analyse_a, rule_a, lambda e: all_of(voted(e, 'a'))),
    'b': (analyse_b, rule_b, combine_b),
    'c': (analyse_c, rule_c, lambda e: all_of(voted(e, 'c'))),
    'd': (analyse_d, rule_d, lambda e: all_of(voted(e, 'd'))),
    'e': (analyse_e, rule_e, lambda e: all_of(voted(e, 'e'))),
}


def analyse(letter: str, obs: list[Obs], opts: Options) -> Finding:
    experiment, title = HYPOTHESES[letter]
    analysis, rule, combine = ANALYSES[letter]
    if not obs:
        return Finding(
            letter,
            experiment,
            title,
            rule(opts),
            INCONCLUSIVE,
            f'no workdir of experiment {experiment!r} was given',
            [],
        )
    effects = analysis(obs, opts)
    verdict, reason = _verdict(effects, combine(effects), 'no sub-rule could be evaluated')
    finding = Finding(letter, experiment, title, rule(opts), verdict, reason, effects)
    finding.obs = obs
    finding.workdirs = sorted({o.workdir for o in obs})
    return finding


# --------------------------------------------------------------------------------------------
# Tables and figures.
# --------------------------------------------------------------------------------------------

TABLE_METRICS = {
    'a': ['accuracy'],
    'b': ['loss'],
    'c': ['accuracy'],
    'd': ['macro_f1'],
    'e': ['accuracy'],
}
EXTRA_COLUMNS = {
    'b': [results.Column('final_train_loss', 'final train loss', FINAL_LOSS_PATHS[:1])],
}


def finding_table(finding: Finding, resamples: int) -> results.Table:
    """The finding's trials as a results.Table: rows by the TABLE_KEYS (and overrides) that
    vary, seeds aggregated with bootstrap CIs."""
    trials = []
    for o in finding.obs:
        keys = {k: o.get(k) for k in TABLE_KEYS[finding.letter] if o.get(k) is not None}
        trials.append(dataclasses.replace(o.trial, overrides={**keys, **o.trial.overrides}))
    table = results.table_from_trials(
        trials,
        workdir=finding.workdirs[0],
        source=finding.experiment,
        metrics=TABLE_METRICS[finding.letter],
        ci=True,
        resamples=resamples,
    )
    summaries = [t.summary for t in trials]
    for column in EXTRA_COLUMNS.get(finding.letter, []):
        if any(column.value(s) is not None for s in summaries):
            table.columns.append(column)
    return table


def series(
    obs: Iterable[Obs],
    line: Callable[[Obs], str],
    x: Callable[[Obs], float | None],
    y: Callable[[Obs], float | None],
):
    """plots.Series per line: done trials only, sorted by x, every seed's value kept."""
    from ecgdepth import plots

    points: dict[str, dict[float, list[float]]] = {}
    for o in obs:
        xv, yv = (x(o), y(o)) if o.done else (None, None)
        if xv is not None and yv is not None and math.isfinite(xv):
            points.setdefault(line(o), {}).setdefault(xv, []).append(yv)
    return [
        plots.Series(label, sorted(p), [p[k] for k in sorted(p)]) for label, p in points.items()
    ]


def line_figure(
    out_dir, name, caption, panels, x_label, *, scale: str | None = None, sharey: bool = False
):
    """One row of panels (title, y label, series, horizontal line or None[, vertical line]),
    drawn with the ecgdepth.plots style; None if no panel has data."""
    import matplotlib
    from matplotlib.ticker import NullFormatter

    from ecgdepth import plots

    panels = [p for p in panels if p[2]]
    if not panels:
        return None
    with matplotlib.rc_context(plots.STYLE):
        labels = sorted({s.label for p in panels for s in p[2]})
        ncols, nrows = plots.legend_layout(labels, len(panels))
        fig = plots.new_figure(len(panels), legend_rows=nrows)
        axes = fig.subplots(1, len(panels), sharey=sharey, squeeze=False)[0]
        for ax, (title, y_label, lines, hline, *vline) in zip(axes, panels, strict=True):
            # Every label in every panel (empty where absent): one style per label throughout.
            by_label = {s.label: s for s in lines}
            plots.draw_series(ax, [by_label.get(k, plots.Series(k, [], [])) for k in labels])
            xs = [v for s in lines for v in s.x]
            if scale == 'log2' and all(v > 0 for v in xs):
                plots.set_log2(ax, xs)
            elif scale == 'log10' and all(v > 0 for v in xs):
                ax.set_xscale('log')
                ax.xaxis.set_minor_formatter(NullFormatter())  # Labels 10^k only: no overlap.
            if hline is not None:
                ax.axhline(hline, color='0.3', linewidth=1.5, linestyle=':', zorder=0)
            if vline and vline[0] is not None:
                ax.axvline(vline[0], color='0.3', linewidth=1.5, linestyle='--', zorder=0)
            ax.set_title(title)
            ax.set_xlabel(x_label)
            ax.set_ylabel(y_label)
        handles = {}
        for ax in axes:
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(label, handle)
        if handles:
            fig.legend(
                list(handles.values()),
                list(handles),
                loc='outside lower center',
                ncols=ncols,
                frameon=False,
            )
        return plots.save(fig, out_dir, name, caption)


def figures_a(finding: Finding, out_dir: str, opts: Options) -> list:
    motif = [o for o in finding.obs if o.get(SPAN_KEY) is not None]
    out = [
        _figure_accuracy_vs_depth(motif, out_dir, opts),
        _figure_accuracy_vs_receptive_field(motif, out_dir, opts),
    ]
    real = [o for o in finding.obs if o.get('data.name') not in (None, 'synthetic')]
    if real:
        out.append(_figure_metric_vs_receptive_field_s(real, out_dir))
    return out


def _figure_accuracy_vs_depth(motif: list[Obs], out_dir: str, opts: Options):
    """(a): does accuracy reach the threshold once depth covers the span? One panel per span."""
    panels = []
    for span in distinct(motif, SPAN_KEY):
        rows = [o for o in motif if o.get(SPAN_KEY) == span]
        panels.append(
            (
                f'motif span k = {span}',
                'validation accuracy (fraction)',
                series(rows, variant, lambda o: depth(o), lambda o: o.value(RF_METRIC)),
                opts.threshold,
            )
        )
    return line_figure(
        out_dir,
        'a_accuracy_vs_depth',
        'Validation accuracy vs depth per span k (recall: k upright beats after the inverted '
        'one; motif: k between two inverted ones): mean ± std over seeds, each seed a point; '
        f'dotted: the {_fmt(opts.threshold)} '
        'threshold. The receptive field per depth is in the table.',
        panels,
        'depth (layers)',
        scale='log2',
        sharey=True,
    )


def _figure_accuracy_vs_receptive_field(motif: list[Obs], out_dir: str, opts: Options):
    """(a) against the mechanism: the CNNs' accuracy vs their theoretical and measured
    receptive fields, with the motif span in samples where recorded."""
    panels = []
    for span in distinct(motif, SPAN_KEY):
        rows = [o for o in motif if o.get(SPAN_KEY) == span and variant(o).endswith('CNN')]
        theory = series(
            rows,
            lambda o: f'{variant(o)} (theoretical RF)',
            lambda o: o.value(('receptive_field',), ('diagnostics', 'receptive_field')),
            lambda o: o.value(RF_METRIC),
        )
        measured = series(
            rows,
            lambda o: f'{variant(o)} (measured 90% span)',
            lambda o: o.value(('sensitivity_span90',)),
            lambda o: o.value(RF_METRIC),
        )
        panels.append(
            (
                f'motif span k = {span}',
                'validation accuracy (fraction)',
                theory + measured,
                opts.threshold,
                _span_samples(rows),
            )
        )
    return line_figure(
        out_dir,
        'a_accuracy_vs_receptive_field',
        'Validation accuracy of the CNNs vs their theoretical receptive field and the measured '
        'one (lag holding 90 % of the input sensitivity), in samples; dotted: the threshold; '
        f'dashed: the motif span in samples (where `{SPAN_SAMPLES_FIELD}` is recorded).',
        panels,
        'receptive field (samples, log scale)',
        scale='log10',
    )


def _figure_metric_vs_receptive_field_s(real: list[Obs], out_dir: str):
    """(a) on real ECG, where spans are unknown: macro-F1 vs receptive field in seconds."""
    panels = []
    for name in distinct(real, 'data.name'):
        rows = [o for o in real if o.get('data.name') == name]
        panels.append(
            (
                name,
                'validation macro-F1 (fraction)',
                series(
                    rows,
                    variant,
                    lambda o: o.value(('receptive_field_s',), ('diagnostics', 'receptive_field_s')),
                    lambda o: o.value(('val', 'macro_f1')),
                ),
                None,
            )
        )
    return line_figure(
        out_dir,
        'a_metric_vs_receptive_field_s',
        'Real ECG: validation macro-F1 vs theoretical receptive field in seconds (a '
        'recurrent layer sees the whole window); mean ± std over seeds.',
        panels,
        'receptive field (s, log scale)',
        scale='log10',
    )


def _norm_label(o: Obs) -> str:
    residual, norm = _norms(o)
    return {
        (False, False): 'plain',
        (True, False): 'residual',
        (False, True): 'layer norm',
        (True, True): 'residual + layer norm',
    }[(residual, norm)]


def figures_b(finding: Finding, out_dir: str, opts: Options) -> list:
    rnn = [o for o in finding.obs if o.get('model.name') == 'lstm']
    return [
        _figure_train_loss_vs_depth(rnn, out_dir),
        _figure_grad_ratio_vs_depth(rnn, out_dir),
        _figure_time_decay_vs_depth(rnn, out_dir),
    ]


def _cell_norm_label(o: Obs) -> str:
    """'LSTM, residual': one line per cell and normalisation variant."""
    return f'{variant(o)}, {_norm_label(o)}'


def _figure_train_loss_vs_depth(rnn: list[Obs], out_dir: str):
    """(b) across layers: can a deep stack fit? One panel per cell."""
    panels = []
    for cell in distinct(rnn, 'model.cell') or ['lstm']:
        rows = [o for o in rnn if o.get('model.cell', 'lstm') == cell]
        panels.append(
            (
                variant(rows[0]),
                f'final training loss ({loss_unit(rows).strip()})',
                series(rows, _norm_label, depth, lambda o: o.value(*FINAL_LOSS_PATHS)),
                None,
            )
        )
    return line_figure(
        out_dir,
        'b_train_loss_vs_depth',
        'Can it fit? Final training loss vs depth per cell, plain and with residual / layer '
        'norm: mean ± std over seeds, each seed a point.',
        panels,
        'depth (layers)',
        scale='log2',
    )


def _figure_grad_ratio_vs_depth(rnn: list[Obs], out_dir: str):
    """(b) across layers: does the input side get less gradient, at init and trained?"""
    panels = []
    for key, when in (('grad_norm_per_layer_init', 'at init'), ('grad_norm_per_layer', 'trained')):
        panels.append(
            (
                f'gradient norms {when}',
                'log10 first / last layer norm (decades)',
                series(rnn, _cell_norm_label, depth, lambda o, k=key: _log_ratio(o, k)),
                0.0,
            )
        )
    return line_figure(
        out_dir,
        'b_grad_ratio_vs_depth',
        "Gradient flow across layers: log10 of the first (input-side) over the last layer's "
        'gradient norm, at init and after training; below the dotted zero line the input side '
        'gets less gradient (vanishing with depth).',
        panels,
        'depth (layers)',
        scale='log2',
    )


def _figure_time_decay_vs_depth(rnn: list[Obs], out_dir: str):
    """(b) across time: how far |d loss / d h_t| falls over the window, against b3's bound."""
    decay = series(rnn, _cell_norm_label, depth, _time_decay)
    return line_figure(
        out_dir,
        'b_time_decay_vs_depth',
        f'Gradient flow across time: decades by which |d loss / d h_t| falls over the window '
        f'(from `{TIME_GRAD_FIELD}` / `{TIME_GRAD_SLOPE_FIELD}`); dotted: the '
        f'{_fmt(TIME_DECAY_DECADES)}-decade bound of sub-rule b3.',
        [('across time', 'decay over the window (decades)', decay, TIME_DECAY_DECADES)],
        'depth (layers)',
        scale='log2',
    )


def _reg_labeller(obs: Sequence[Obs]) -> Callable[[Obs], str]:
    """'lstm, dropout 0.3': the family and the regularisation settings that vary."""
    keys = [k for k in REG_KEYS if len(distinct(obs, k)) > 1]

    def label(o: Obs) -> str:
        parts = [f'{results.key_label(k)} {results.format_value(o.get(k))}' for k in keys]
        return ', '.join([str(o.get('model.name')), *parts])

    return label


def figures_c(finding: Finding, out_dir: str, opts: Options) -> list:
    obs = finding.obs
    full = obs
    if distinct(obs, FRACTION_KEY):
        full = [o for o in obs if o.get(FRACTION_KEY) == distinct(obs, FRACTION_KEY)[-1]]
    clean = [o for o in full if not any(o.get(k) for k in LABEL_NOISE_KEYS)]
    noisy = [o for o in full if any(o.get(k) for k in LABEL_NOISE_KEYS)]
    gap = lambda o: o.value(GAP_PATH)  # noqa: E731
    params = lambda o: o.value(('params',))  # noqa: E731
    panels = [
        (
            'no label noise',
            'train − val accuracy (fraction)',
            series(clean, _reg_labeller(obs), params, gap),
            0.0,
        ),
        (
            'with label noise',
            'train − val accuracy (fraction)',
            series(noisy, _reg_labeller(obs), params, gap),
            0.0,
        ),
    ]
    out = [
        line_figure(
            out_dir,
            'c_gap_vs_params',
            'Generalisation gap (train − validation accuracy) vs parameter count, one line per '
            'family and regularisation setting, full training set: mean ± std over seeds.',
            panels,
            'parameters (count, log scale)',
            scale='log10',
        )
    ]
    fractions = [o for o in obs if o.get(FRACTION_KEY) is not None]
    if len(distinct(fractions, FRACTION_KEY)) > 1:
        out.append(
            line_figure(
                out_dir,
                'c_gap_vs_train_fraction',
                'Generalisation gap vs the fraction of the training split used, one line per '
                'family and regularisation setting: mean ± std over seeds.',
                [
                    (
                        'all depths',
                        'train − val accuracy (fraction)',
                        series(fractions, _reg_labeller(obs), lambda o: o.get(FRACTION_KEY), gap),
                        0.0,
                    )
                ],
                'training data used (fraction)',
            )
        )
    return out


def figures_d(finding: Finding, out_dir: str, opts: Options) -> list:
    obs = finding.obs
    metric = lambda o: o.value(MATCHED_METRIC)  # noqa: E731
    panels = [
        (
            'matched width',
            'test macro-F1 (fraction)',
            series([o for o in obs if o.get(ISO_KEY) is None], variant, depth, metric),
            None,
        ),
        (
            'matched parameters',
            'test macro-F1 (fraction)',
            series([o for o in obs if o.get(ISO_KEY) is not None], variant, depth, metric),
            None,
        ),
    ]
    mode = lambda o: 'matched params' if o.get(ISO_KEY) is not None else 'matched width'  # noqa: E731
    return [
        line_figure(
            out_dir,
            'd_metric_vs_depth',
            'Test macro-F1 vs depth at matched width (left) and matched total '
            'parameters (right): mean ± std over seeds, each seed a point.',
            panels,
            'depth (layers)',
            scale='log2',
            sharey=True,
        ),
        line_figure(
            out_dir,
            'd_metric_vs_params',
            'Test macro-F1 vs parameter count, points along depth: mean ± std over seeds.',
            [
                (
                    'all trials',
                    'test macro-F1 (fraction)',
                    series(
                        obs,
                        lambda o: f'{variant(o)}, {mode(o)}',
                        lambda o: o.value(('params',)),
                        metric,
                    ),
                    None,
                )
            ],
            'parameters (count, log scale)',
            scale='log10',
        ),
    ]


def figures_e(finding: Finding, out_dir: str, opts: Options) -> list:
    panels = []
    for name in sorted({task(o) for o in finding.obs}):
        rows = [o for o in finding.obs if task(o) == name]
        path = error_path(rows)
        error = lambda o, p=path: error_of(o, p)  # noqa: E731
        panels.append(
            (
                name,
                f'validation error, 1 − {results.METRIC_LABELS[path[1]]}',
                series(rows, variant_e, depth, error),
                target_of(rows, opts),
            )
        )
    return [
        line_figure(
            out_dir,
            'e_error_vs_depth',
            'Validation error vs depth per task, additive and multiplicative models: mean ± std '
            'over seeds, each seed a point; dotted: the target error.',
            panels,
            'depth (layers)',
            scale='log2',
        )
    ]


FIGURES = {'a': figures_a, 'b': figures_b, 'c': figures_c, 'd': figures_d, 'e': figures_e}


# --------------------------------------------------------------------------------------------
# The report.
# --------------------------------------------------------------------------------------------


def effect_row(e: Effect) -> str:
    ci = f'[{_fmt(e.ci[0])}, {_fmt(e.ci[1])}]' if e.ci else '—'
    n = '/'.join(str(k) for k in e.n) or '—'
    verdict = e.verdict or 'reported'
    if e.verdict and not e.votes:
        verdict += ' (not voted)'
    cells = [
        f'{e.key} [{e.where}]' if e.where else e.key,
        e.label,
        f'{_fmt(e.estimate)}{e.unit if e.estimate is not None else ""}',
        ci,
        n,
        verdict,
        e.reason,
    ]
    return '| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |'


def finding_markdown(f: Finding, out_dir: str) -> str:
    letter = f.letter
    lines = [f'## ({letter}) {f.title}', '', f'**Verdict: {f.verdict}.** {f.reason}', '']
    lines += [f'- Rule: {f.rule}', f'- Experiment: `{f.experiment}`']
    if f.obs:
        counts = ', '.join(f'{n} {s}' for s, n in f.counts().items())
        lines += [
            f'- Workdirs: {", ".join(f"`{w}`" for w in f.workdirs)}',
            f'- Trials: {len(f.obs)} ({counts}); seeds with a done trial: {f.seeds()}',
        ]
    lines.append('')
    if f.effects:
        lines += [
            '### Effects',
            '',
            f'Estimates are means over seeds (differences of group means); CI: {CI_LEVEL:.0%} '
            'percentile bootstrap over seeds, groups resampled independently; n: seeds per '
            'group.',
            '',
            '| id | effect | estimate | 95% CI | n | verdict | why |',
            '| :-- | :-- | --: | :-- | :-- | :-- | :-- |',
            *(effect_row(e) for e in f.effects),
            '',
        ]
        rules = {f'{e.key}: {e.rule}.': None for e in f.effects if e.rule}
        if rules:
            lines += ['Sub-rules (as evaluated; "not voted" rows are reported only):', '']
            lines += [f'- {rule}' for rule in rules] + ['']
    if f.table_md:
        lines += ['### Table', '', f.table_md.rstrip(), '']
    if f.figures:
        lines += ['### Figures', '']
        for fig in f.figures:
            png, pdf = (os.path.relpath(p, out_dir) for p in (fig.png, fig.pdf))
            lines += [f'![{fig.name}]({png})', '', f'*{fig.caption}* ([PDF]({pdf}))', '']
    return '\n'.join(lines) + '\n'


def report_markdown(findings: Sequence[Finding], skipped: Sequence[str], out_dir: str) -> str:
    lines = [
        '# Findings',
        '',
        f'Generated {time.strftime("%Y-%m-%d %H:%M:%S %Z")} by `python -m ecgdepth.findings`. '
        'Each verdict is computed from the numbers below by the stated rule; machine-readable '
        'copy: [findings.json](findings.json).',
        '',
        '| hypothesis | experiment | verdict | seeds | trials |',
        '| :-- | :-- | :-- | --: | --: |',
    ]
    for f in findings:
        lines.append(
            f'| ({f.letter}) {f.title} | `{f.experiment}` | **{f.verdict}** | '
            f'{f.seeds()} | {len(f.obs)} |'
        )
    lines.append('')
    if skipped:
        lines += ['Skipped workdirs:', '', *(f'- {s}' for s in skipped), '']
    return '\n'.join(lines) + '\n' + '\n'.join(finding_markdown(f, out_dir) for f in findings)


def finding_json(f: Finding, out_dir: str) -> dict:
    return {
        'hypothesis': f.letter,
        'experiment': f.experiment,
        'title': f.title,
        'verdict': f.verdict,
        'reason': f.reason,
        'rule': f.rule,
        'workdirs': f.workdirs,
        'trials': len(f.obs),
        'counts': f.counts(),
        'seeds': f.seeds(),
        'effects': [e.to_json() for e in f.effects],
        'figures': [
            {
                'name': g.name,
                'caption': g.caption,
                'png': os.path.relpath(g.png, out_dir),
                'pdf': os.path.relpath(g.pdf, out_dir),
            }
            for g in f.figures
        ],
    }


@dataclasses.dataclass
class Report:
    findings: list[Finding]
    skipped: list[str]
    path: str  # findings.md
    json_path: str


def collect(
    workdirs: Sequence[str], opts: Options | None = None
) -> tuple[list[Finding], list[str]]:
    """Every hypothesis's Finding (no files written) and the skipped workdirs, with why."""
    opts = opts or Options()
    if not workdirs:
        raise FindingsError('Give at least one sweep workdir.')
    pooled: dict[str, list[Obs]] = {letter: [] for letter in HYPOTHESES}
    skipped = []
    for workdir in workdirs:
        try:
            record, obs = load_workdir(workdir)
        except results.ResultsError as error:
            raise FindingsError(str(error)) from None
        name, how = infer_experiment(record, obs)
        if name is None:
            skipped.append(f'`{workdir}`: {how}')
            continue
        pooled[EXPERIMENTS[name]] += obs
    return [analyse(letter, obs, opts) for letter, obs in pooled.items()], skipped


def run(
    workdirs: Sequence[str],
    *,
    out: str | None = None,
    opts: Options | None = None,
    plots: bool = True,
) -> Report:
    """collect, then tables, figures, findings.md and findings.json in `out`."""
    opts = opts or Options()
    findings, skipped = collect(workdirs, opts)
    if out is None:
        out = os.path.join(os.path.commonpath([os.path.abspath(w) for w in workdirs]), 'findings')
    for f in findings:
        if not f.obs:
            continue
        f.table_md = results.to_markdown(finding_table(f, opts.resamples))
        if plots:
            figures = FIGURES[f.letter](f, os.path.join(out, 'figures'), opts)
            f.figures = [g for g in figures if g is not None]
    path = os.path.join(out, 'findings.md')
    files.write_text(path, report_markdown(findings, skipped, out))
    json_path = os.path.join(out, 'findings.json')
    files.write_json(
        json_path,
        {
            'generated': time.time(),
            'workdirs': [os.path.abspath(w) for w in workdirs],
            'skipped': skipped,
            'options': dataclasses.asdict(opts),
            'hypotheses': {f.letter: finding_json(f, out) for f in findings},
        },
    )
    return Report(findings, skipped, path, json_path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m ecgdepth.findings', description=__doc__.split('\n\n')[0]
    )
    parser.add_argument('workdirs', nargs='+', metavar='WORKDIR', help='sweep workdirs')
    parser.add_argument('--out', help='output directory (default: <common parent>/findings)')
    parser.add_argument(
        '--threshold',
        type=float,
        default=RF_THRESHOLD,
        help='(a) validation accuracy a model must reach',
    )
    parser.add_argument(
        '--target_error',
        type=float,
        default=None,
        help=f"(e) target validation error for every task (default: each trial's "
        f'config.{TARGET_KEY}, else {TARGET_ERROR})',
    )
    parser.add_argument('--resamples', type=int, default=results.DEFAULT_RESAMPLES)
    parser.add_argument('--noplots', action='store_true', help='no figures')
    args = parser.parse_args(argv)
    if args.resamples < 1:
        parser.error('--resamples must be >= 1')
    opts = Options(args.threshold, args.target_error, args.resamples)
    try:
        report = run(args.workdirs, out=args.out, opts=opts, plots=not args.noplots)
    except FindingsError as error:
        parser.error(str(error))
    for message in report.skipped:
        print(f'Skipped {message}', file=sys.stderr)
    for f in report.findings:
        print(f'({f.letter}) {f.experiment}: {f.verdict}. {f.reason}')
    print(f'Findings: {report.path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
