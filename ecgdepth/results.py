"""Ablation result tables: the trials of a sweep workdir, aggregated over seeds.

The trial list comes from WORKDIR/sweep.json, so trials that never ran show up as missing. Rows
group trials by every override that varies across the sweep except the seed (model.name and
model.depth always, when the sweep sets them); seeds are aggregated. A cell reads
"mean ± std (n)": the mean and sample standard deviation (ddof 1) over the row's done trials that
have the value, optionally with a percentile-bootstrap 95 % CI of the mean. Diverged, failed,
pending, running and missing trials are counted in the row's status column and never averaged:
a row with any of them has its metric cells marked †, a row with none done shows their status.

A Table renders as Markdown, CSV (unformatted mean, std and n per column) and LaTeX (booktabs).
ecgdepth/plots.py draws it; the report command that writes all of them into WORKDIR/report/ is
`python -m ecgdepth.report WORKDIR` (ecgdepth/report.py).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ecgdepth import sweep as sweep_lib
from ecgdepth import variants
from ecgdepth import workdir as workdir_lib
from ecgdepth.workdir import SUMMARY_FILE, CorruptFile

# Classification metrics (benchmarks' own scores among them), then regression ones
# (config.task='regression'); a table keeps the columns some summary holds.
METRICS = (
    'accuracy',
    'macro_f1',
    'challenge_f1',
    'aami_macro_f1',
    'loss',
    'mse',
    'mae',
    'r2',
    'baseline_mse',
)
METRIC_LABELS = {
    'accuracy': 'accuracy',
    'macro_f1': 'macro-F1',
    'challenge_f1': 'challenge F1',
    'aami_macro_f1': 'AAMI macro-F1',
    'loss': 'loss',
    'mse': 'MSE',
    'mae': 'MAE',
    'r2': 'R²',
    'baseline_mse': 'MSE of the mean',
}
SPLITS = ('train', 'val', 'test')
DEFAULT_RESAMPLES = 10_000
CI_LEVEL = 0.95
CI_SEED = 0  # Fixed: the same trials always give the same report.
INCOMPLETE_MARK = '†'
# Metrics where lower is better (the selection direction when a summary does not record one).
LOWER_IS_BETTER = ('loss', 'mse', 'mae', 'baseline_mse')
# Grouping keys that make a row even when constant: the axes every ablation is read along.
ALWAYS_GROUP = ('model.name', 'model.depth')
# Table labels of override keys, in the order their columns appear; others follow as named.
KEY_LABELS = {
    'model.name': 'family',
    'data.name': 'dataset',
    'data.variant': 'variant',
    'model.depth': 'depth',
    'model.width': 'width',
    'iso_params': 'iso params',
    'model.kernel_size': 'kernel',
    'model.dilation': 'dilation',
    'data.motif_k': 'motif span k',
    'model.cell': 'cell',
    'model.gate': 'gate',
    'model.multiplicative': 'multiplicative',
    'model.layer_norm': 'layer norm',
    'model.residual': 'residual',
    'model.dropout': 'dropout',
    'optim.weight_decay': 'weight decay',
    'loss.label_smoothing': 'label smoothing',
    'data.train_fraction': 'train fraction',
    'data.label_noise': 'label noise',
    'optim.learning_rate': 'learning rate',
}


class ResultsError(ValueError):
    """A sweep workdir or an option is unusable; the message names the culprit."""


# --------------------------------------------------------------------------------------------
# Trials.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TrialResult:
    """One trial of sweep.json as found on disk. `summary` is kept for every state, but only
    done trials enter the table; `note` says why a trial is not done."""

    index: int
    id: str
    overrides: dict[str, Any]
    status: str
    summary: dict | None = None
    note: str | None = None
    record: dict = dataclasses.field(default_factory=dict)  # Its sweep.json entry.

    @property
    def seed(self) -> Any:
        return self.overrides.get('seed')


def _first_line(text: Any) -> str | None:
    if not text:
        return None
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else None


def _read_json(path: str) -> tuple[dict | None, str | None]:
    """(object, None), (None, None) if absent, or (None, why) if unreadable: one damaged trial
    file is reported in the table's notes, not fatal to the whole report."""
    try:
        return workdir_lib.read_json(path), None
    except CorruptFile as error:
        return None, str(error)


def _read_summary(directory: str) -> tuple[dict | None, str | None]:
    """summary.json's flat dict as _read_json gives objects (Summary.to_dict's layout)."""
    try:
        summary = workdir_lib.read_summary(directory)
    except CorruptFile as error:
        return None, str(error)
    return (None if summary is None else summary.to_dict()), None


def load_trial(workdir: str, entry: dict) -> TrialResult:
    """The state of one sweep.json entry: its status.json decides, summary.json holds results."""
    result = TrialResult(
        index=int(entry['index']),
        id=entry['id'],
        overrides=dict(entry['overrides']),
        status=workdir_lib.MISSING,
        record=entry,
    )
    directory = os.path.join(workdir, entry['id'])
    if not os.path.isdir(directory):
        result.note = 'no trial directory: never started'
        return result
    status, status_error = _read_json(os.path.join(directory, workdir_lib.STATUS_FILE))
    summary, summary_error = _read_summary(directory)
    result.summary = summary
    state = (status or {}).get('status') or (summary or {}).get('status')
    if state is None:
        result.note = status_error or summary_error or 'neither status.json nor summary.json'
        return result
    if state == workdir_lib.PREEMPTED:  # A summary without a status: resumes when relaunched.
        state = workdir_lib.PENDING
    if state not in workdir_lib.STATES:
        result.note = f'unknown status {state!r} in {directory}'
        return result
    error = _first_line((status or {}).get('error')) or _first_line((summary or {}).get('error'))
    if state == workdir_lib.DONE and summary is None:
        result.note = summary_error or f'status done but {SUMMARY_FILE} is absent'
        return result
    if state == workdir_lib.DONE and summary.get('status') not in (None, workdir_lib.DONE):
        result.note = f'status done but {SUMMARY_FILE} says {summary.get("status")!r}'
        return result
    result.status = state
    if state == workdir_lib.DIVERGED:
        step = (summary or {}).get('diverged_step')
        result.note = f'diverged at step {step}' if step is not None else 'diverged'
        if error:
            result.note += f': {error}'
    elif state == workdir_lib.FAILED:
        result.note = error or 'failed (no error recorded)'
    elif state == workdir_lib.PENDING:
        result.note = error or 'not run yet'
    elif state == workdir_lib.RUNNING:
        result.note = (
            f'running on {status.get("host")} pid {status.get("pid")} (if that worker died, '
            'relaunch the sweep to take it over)'
            if status
            else 'running'
        )
    return result


def load_sweep(workdir: str) -> tuple[dict, list[TrialResult]]:
    """(sweep.json, every trial it lists), in sweep order."""
    path = os.path.join(workdir, workdir_lib.SWEEP_FILE)
    if not os.path.isdir(workdir):
        raise ResultsError(f'Workdir {workdir} does not exist.')
    record, error = _read_json(path)
    if error:
        raise ResultsError(error)
    if record is None:
        raise ResultsError(
            f'{path} not found: {workdir} is not a sweep workdir (launch.py --sweep writes it).'
        )
    entries = record.get('trials')
    if not isinstance(entries, list) or not entries:
        raise ResultsError(f'{path} lists no trials (its "trials" is {entries!r}).')
    trials = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {'index', 'id', 'overrides'} <= set(entry):
            raise ResultsError(f'{path}: trial {i} lacks index, id or overrides: {entry!r}.')
        trials.extend(seed_members(workdir, load_trial(workdir, entry)))
    return record, trials


def seed_members(workdir: str, result: TrialResult) -> list[TrialResult]:
    """A vmapped-seeds trial as one result per seed (each with its own summary), so tables
    count and average seeds alike however they ran; any other trial as itself."""
    count = result.overrides.get(sweep_lib.VMAP_KEY)
    if not isinstance(count, int) or count < 2:
        return [result]
    base = {k: v for k, v in result.overrides.items() if k != sweep_lib.VMAP_KEY}
    first = base.get('seed', 0)
    members = []
    for seed in range(first, first + count):
        member = dataclasses.replace(
            result,
            id=f'{result.id}/{workdir_lib.member_name(seed)}',
            overrides={**base, 'seed': seed},
        )
        if result.status in (workdir_lib.DONE, workdir_lib.DIVERGED):
            directory = workdir_lib.member_dir(os.path.join(workdir, result.id), seed)
            path = os.path.join(directory, SUMMARY_FILE)
            summary, error = _read_summary(directory)
            state = (summary or {}).get('status')
            member.summary = summary
            if state not in (workdir_lib.DONE, workdir_lib.DIVERGED):
                member.status = workdir_lib.MISSING
                member.note = error or f'{path}: status {state!r} in a finished trial'
            else:
                member.status, member.note = state, None
                if state == workdir_lib.DIVERGED:
                    member.note = f'diverged at step {summary.get("diverged_step")}'
        members.append(member)
    return members


# --------------------------------------------------------------------------------------------
# Columns and statistics.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Column:
    """A table column: where its value sits in summary.json (first path that has it) and how
    it prints. `metric` columns are marked † on incomplete rows; architecture facts are not."""

    name: str  # CSV name.
    label: str
    paths: tuple[tuple[str, ...], ...]
    fmt: str = '.3f'
    metric: bool = True

    def value(self, summary: dict | None) -> float | None:
        for path in self.paths:
            found = lookup(summary, path)
            if found is not None:
                return found
        return None


def lookup(summary: dict | None, path: Sequence[str]) -> float | None:
    """A finite number at `path` in a summary, else None (absent, null, NaN or not a number)."""
    node: Any = summary
    for part in path:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        return None
    return float(node) if math.isfinite(node) else None


def _diagnostic(key: str) -> tuple[tuple[str, ...], ...]:
    """Diagnostics may sit at the top of summary.json or under 'diagnostics'."""
    return ((key,), ('diagnostics', key))


def candidate_columns(metrics: Sequence[str]) -> list[Column]:
    """Every column the table can have, in order; those no summary holds are dropped later."""
    columns = [
        Column('params', 'params', (('params',),), '.0f', metric=False),
        Column('flops', 'FLOPs/example', _diagnostic('flops_per_example'), '.3g', metric=False),
    ]
    for metric in metrics:
        for split in SPLITS:
            label = f'{split} {METRIC_LABELS[metric]}'
            columns.append(Column(f'{split}_{metric}', label, ((split, metric),)))
    columns += [
        Column('gap_accuracy', 'gap accuracy (train−val)', (('gap', 'accuracy'),)),
        Column('gap_loss', 'gap loss (val−train)', (('gap', 'loss'),)),
        Column(
            'receptive_field',
            'receptive field (samples)',
            _diagnostic('receptive_field'),
            '.0f',
            metric=False,
        ),
        Column(
            'receptive_field_s',
            'receptive field (s)',
            _diagnostic('receptive_field_s'),
            '.3g',
            metric=False,
        ),
        Column(
            'grad_norm_ratio',
            'grad-norm ratio (first/last layer)',
            _diagnostic('grad_norm_ratio'),
            '.3g',
        ),
        Column(
            'hidden_grad_time_slope',
            'd loss/dx_t time slope, layer 1 (log10/step)',
            _diagnostic('hidden_grad_time_slope'),
            '.3g',
        ),
        Column(
            'hidden_grad_layer_slope',
            'd loss/dx_t layer slope (log10/layer)',
            _diagnostic('hidden_grad_layer_slope'),
            '.3g',
        ),
    ]
    return columns


def bootstrap_ci(
    values: Iterable[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = CI_LEVEL,
    seed: int = CI_SEED,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean. A fixed seed makes a report reproducible. With a
    handful of seeds it is rough: never wider than the values' range, and for n <= 3 at the 95 %
    level exactly [min, max] (each all-equal resample has chance 1/n^n > 2.5 %)."""
    x = np.asarray(list(values), np.float64)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f'bootstrap_ci needs a non-empty list of numbers, got {x.tolist()!r}.')
    if not 0 < level < 1:
        raise ValueError(f'bootstrap_ci: level {level} must lie in (0, 1).')
    if resamples < 1:
        raise ValueError(f'bootstrap_ci: resamples {resamples} must be >= 1.')
    if len(x) == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


@dataclasses.dataclass(frozen=True)
class Stats:
    """One cell's numbers over seeds; std is None for a single value (it is undefined)."""

    n: int
    mean: float | None = None
    std: float | None = None
    ci: tuple[float, float] | None = None


def describe(values: Sequence[float], *, ci: bool = False, resamples: int = 0) -> Stats:
    if not values:
        return Stats(0)
    x = np.asarray(values, np.float64)
    std = float(np.std(x, ddof=1)) if len(x) > 1 else None
    interval = bootstrap_ci(x, resamples=resamples) if ci and len(x) > 1 else None
    return Stats(len(x), float(np.mean(x)), std, interval)


# --------------------------------------------------------------------------------------------
# Rows and the table.
# --------------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A grouping value as a reader wants it: 0.0001 not 1e-04, None as '—'."""
    if value is None:
        return '—'
    if isinstance(value, float):
        return f'{value:g}'
    return str(value)


def key_label(key: str) -> str:
    return KEY_LABELS.get(key, key)


def family_label(name: Any, trials: Iterable[TrialResult] = ()) -> str:
    """How legends and titles name a family: the one variant its done trials recorded (e.g.
    'GRU' for model.cell=gru), else the label of its defaults in ecgdepth/variants.py ('dilated
    CNN', 'LSTM', 'MI-MLP'), else the config name. The one place names are mapped."""
    recorded = {
        t.summary.get('variant') for t in trials if t.status == workdir_lib.DONE and t.summary
    }
    recorded.discard(None)
    if len(recorded) == 1 and isinstance(next(iter(recorded)), str):
        return recorded.pop()
    return variants.label(name, {}) or format_value(name)


@dataclasses.dataclass
class Row:
    """The trials that differ only in seed."""

    group: dict[str, Any]
    trials: list[TrialResult]

    @property
    def done(self) -> list[TrialResult]:
        return [t for t in self.trials if t.status == workdir_lib.DONE]

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.trials)

    def counts(self) -> dict[str, int]:
        """{state: number of trials}, non-zero states only, in STATES order."""
        counts = {
            state: sum(t.status == state for t in self.trials) for state in workdir_lib.STATES
        }
        return {state: n for state, n in counts.items() if n}

    def status_text(self) -> str:
        return ', '.join(f'{n} {state}' for state, n in self.counts().items())

    def values(self, column: Column) -> list[float]:
        """The column's values of the done trials that have it (never of other trials)."""
        values = (column.value(t.summary) for t in self.done)
        return [v for v in values if v is not None]

    def label(self, skip: Iterable[str] = ()) -> str:
        """'LSTM, depth 4' (family names stand alone, as family_label); for legends and notes."""
        parts = []
        for key, value in self.group.items():
            if key in skip:
                continue
            parts.append(
                family_label(value, self.trials)
                if key == 'model.name'
                else f'{key_label(key)} {format_value(value)}'
            )
        return ', '.join(parts)


@dataclasses.dataclass
class Table:
    """A sweep's results, ready to render. `metrics[0]` is the headline (plotted) metric."""

    workdir: str
    source: str
    trials: list[TrialResult]
    group_keys: list[str]
    rows: list[Row]
    columns: list[Column]
    metrics: list[str]
    select_metric: str | None
    ci: bool = False
    resamples: int = DEFAULT_RESAMPLES
    info_keys: list[str] = dataclasses.field(default_factory=list)  # sweep.json extras: width.

    def stats(self, row: Row, column: Column) -> Stats:
        return describe(row.values(column), ci=self.ci, resamples=self.resamples)

    def counts(self) -> dict[str, int]:
        counts = {s: sum(t.status == s for t in self.trials) for s in workdir_lib.STATES}
        return {state: n for state, n in counts.items() if n}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def group_keys(trials: Sequence[TrialResult]) -> list[str]:
    """Override keys that vary across the sweep (or are always grouped), seed excepted."""
    seen: list[str] = []
    for t in trials:
        seen += [k for k in t.overrides if k not in seen]
    keys = []
    for key in seen:
        if key == 'seed':
            continue
        values = {_canonical(t.overrides.get(key)) for t in trials}
        if len(values) > 1 or key in ALWAYS_GROUP:
            keys.append(key)
    order = list(KEY_LABELS)
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), seen.index(k)))


def group_rows(trials: Sequence[TrialResult], keys: Sequence[str]) -> list[Row]:
    """Rows in the order the sweep first lists them (its author's order)."""
    rows: dict[str, Row] = {}
    for t in sorted(trials, key=lambda t: t.index):
        group = {key: t.overrides.get(key) for key in keys}
        rows.setdefault(_canonical(group), Row(group, [])).trials.append(t)
    return list(rows.values())


def _select_metric(trials: Sequence[TrialResult]) -> str | None:
    names = [t.summary.get('select_metric') for t in trials if t.summary]
    names = [n for n in names if n]
    return max(set(names), key=names.count) if names else None


def read_trial_config(workdir: str, trial: TrialResult) -> dict | None:
    """The trial's config.json (written when it starts), or None if absent or unreadable."""
    config, _ = _read_json(os.path.join(workdir, trial.id, workdir_lib.CONFIG_FILE))
    return config


def _sweep_family(workdir: str, trials: Sequence[TrialResult]) -> str | None:
    """The model family of a sweep that does not vary it: from a summary, else a config.json."""
    for t in trials:
        if t.summary and isinstance(t.summary.get('model'), str):
            return t.summary['model']
    for t in trials:
        config = read_trial_config(workdir, t)
        name = ((config or {}).get('model') or {}).get('name')
        if isinstance(name, str):
            return name
    return None


def resolve_metrics(metrics: Sequence[str] | None, select_metric: str | None) -> list[str]:
    """The requested metrics, or the sweep's select_metric first and then the others."""
    if metrics:
        metrics = [m.strip() for m in metrics if m.strip()]
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise ResultsError(
                f'--metric: unknown metric(s) {", ".join(unknown)}; choose from '
                f'{", ".join(METRICS)}.'
            )
        return list(dict.fromkeys(metrics))
    first = [select_metric] if select_metric in METRICS else []
    return first + [m for m in METRICS if m not in first]


def collect(
    workdir: str,
    *,
    metrics: Sequence[str] | None = None,
    ci: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
) -> Table:
    """Reads a sweep workdir into a Table (no files written)."""
    record, trials = load_sweep(workdir)
    source = str(record.get('source') or os.path.basename(os.path.abspath(workdir)))
    return table_from_trials(
        trials, workdir=workdir, source=source, metrics=metrics, ci=ci, resamples=resamples
    )


def table_from_trials(
    trials: Sequence[TrialResult],
    *,
    workdir: str,
    source: str,
    metrics: Sequence[str] | None = None,
    ci: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
) -> Table:
    """A Table of any trials (one sweep's, or several sweeps' pooled by ecgdepth.findings):
    rows group them by the overrides that vary; `workdir` is where config.json files are read
    to name the family of a sweep that does not vary it."""
    if resamples < 1:
        raise ResultsError(f'--resamples must be >= 1, got {resamples}.')
    trials = list(trials)
    select_metric = _select_metric(trials)
    metrics = resolve_metrics(metrics, select_metric)
    keys = group_keys(trials)
    rows = group_rows(trials, keys)
    family = None if 'model.name' in keys else _sweep_family(workdir, trials)
    if family is not None:  # One-family sweep: still say which family, as the first column.
        keys = ['model.name', *keys]
        for row in rows:
            row.group = {'model.name': family, **row.group}
    summaries = [t.summary for t in trials]
    columns = [
        c for c in candidate_columns(metrics) if any(c.value(s) is not None for s in summaries)
    ]
    info_keys = ['width'] if any('width' in t.record for t in trials) else []
    return Table(
        workdir=workdir,
        source=source,
        trials=trials,
        group_keys=keys,
        rows=rows,
        columns=columns,
        metrics=metrics,
        select_metric=select_metric,
        ci=ci,
        resamples=resamples,
        info_keys=info_keys,
    )


# --------------------------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------------------------


def _num(value: float, fmt: str) -> str:
    text = format(value, fmt)
    return text[1:] if text.startswith('-') and float(text) == 0 else text  # No '-0.000'.


def format_cell(stats: Stats, column: Column, row: Row) -> str:
    """'0.912 ± 0.004 (3) [0.907, 0.917] †', or the row's status if it has no done trial."""
    if not row.done:
        return '/'.join(row.counts())
    if stats.n == 0:
        return '–'
    fmt = column.fmt
    text = _num(stats.mean, fmt)
    if column.metric or (stats.std or 0) > 0:  # Else a fact of the architecture: one number.
        if stats.std is not None:
            text += f' ± {_num(stats.std, fmt)}'
        text += f' ({stats.n})'
        if stats.ci is not None:
            text += f' [{_num(stats.ci[0], fmt)}, {_num(stats.ci[1], fmt)}]'
    if column.metric and not row.complete:
        text += f' {INCOMPLETE_MARK}'
    return text


def _info(row: Row, key: str) -> str:
    values = sorted({format_value(t.record.get(key)) for t in row.trials})
    return '/'.join(values)


def header(table: Table) -> list[str]:
    return [
        *(key_label(k) for k in table.group_keys),
        *table.info_keys,
        'status',
        *(c.label for c in table.columns),
    ]


def body(table: Table) -> list[list[str]]:
    """The formatted cells, one list per row (shared by Markdown and LaTeX)."""
    return [
        [
            *(format_value(row.group[k]) for k in table.group_keys),
            *(_info(row, k) for k in table.info_keys),
            row.status_text(),
            *(format_cell(table.stats(row, c), c, row) for c in table.columns),
        ]
        for row in table.rows
    ]


def legend(table: Table) -> str:
    """What the cells mean; printed under every rendering of the table."""
    ci = (
        f' [{CI_LEVEL:.0%} percentile-bootstrap CI of the mean, {table.resamples} resamples]'
        if table.ci
        else ''
    )
    select = f'validation {table.select_metric}' if table.select_metric else 'validation'
    slopes = any(c.name.startswith('hidden_grad') for c in table.columns)
    return (
        f'Cells: mean ± sample std (n){ci} over seeds, done trials only. '
        f'{INCOMPLETE_MARK}: the row has trials that are not done (see status); its cells '
        'average the done ones only. A row with no done trial shows their status. '
        f'Metrics at the best step by {select}; train = a subset of the training split '
        'evaluated at that step; gap = train − val accuracy and val − train loss.'
    ) + (
        ' d loss/dx_t slopes (recurrent models): change of log10 of the gradient norm at a '
        "recurrent layer's input per step back in time (layer 1) and per layer back towards the "
        'input; negative = vanishing.'
        if slopes
        else ''
    )


def _md_escape(text: str) -> str:
    return text.replace('|', '\\|')


def to_markdown(table: Table) -> str:
    head = header(table)
    numeric = len(table.group_keys) + len(table.info_keys) + 1
    align = [':--'] * numeric + ['--:'] * len(table.columns)
    lines = [
        '| ' + ' | '.join(_md_escape(h) for h in head) + ' |',
        '| ' + ' | '.join(align) + ' |',
    ]
    lines += ['| ' + ' | '.join(_md_escape(c) for c in cells) + ' |' for cells in body(table)]
    return '\n'.join(lines) + '\n\n' + legend(table) + '\n'


_TEX_SPECIAL = {
    '\\': r'\textbackslash{}',
    '&': r'\&',
    '%': r'\%',
    '$': r'\$',
    '#': r'\#',
    '_': r'\_',
    '{': r'\{',
    '}': r'\}',
    '~': r'\textasciitilde{}',
    '^': r'\textasciicircum{}',
    '±': r'$\pm$',
    '†': r'$^\dagger$',
    '−': r'$-$',
    '–': '--',
    '—': '---',
}


def tex_escape(text: str) -> str:
    """Text safe in a LaTeX tabular, with our few non-ASCII symbols typeset."""
    return ''.join(_TEX_SPECIAL.get(c, c) for c in text)


def to_latex(table: Table) -> str:
    """A booktabs tabular (\\usepackage{booktabs}) to \\input into a table environment."""
    head = header(table)
    spec = 'l' * (len(table.group_keys) + len(table.info_keys) + 1) + 'r' * len(table.columns)
    lines = [
        f'% {tex_escape(table.source)}: generated by ecgdepth/results.py; needs booktabs.',
        *(f'% {line}' for line in _wrap(tex_escape(legend(table)), 96)),
        f'\\begin{{tabular}}{{{spec}}}',
        '\\toprule',
        ' & '.join(tex_escape(h) for h in head) + r' \\',
        '\\midrule',
    ]
    lines += [' & '.join(tex_escape(c) for c in cells) + r' \\' for cells in body(table)]
    lines += ['\\bottomrule', '\\end{tabular}']
    return '\n'.join(lines) + '\n'


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ''
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f'{line} {word}' if line else word
    return lines + ([line] if line else [])


def _number(value: float | None) -> str:
    return '' if value is None else repr(value)


def to_csv(table: Table) -> str:
    """Numbers unformatted (repr: round-trips exactly); empty where undefined."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    head = [*table.group_keys, *table.info_keys, 'status']
    head += [f'n_{state}' for state in workdir_lib.STATES] + ['n_trials']
    for column in table.columns:
        head += [f'{column.name}_mean', f'{column.name}_std', f'{column.name}_n']
        if table.ci:
            head += [f'{column.name}_ci_low', f'{column.name}_ci_high']
    writer.writerow(head)
    for row in table.rows:
        counts = row.counts()
        cells = [
            *('' if row.group[k] is None else row.group[k] for k in table.group_keys),
            *(_info(row, k) for k in table.info_keys),
            row.status_text(),
            *(counts.get(state, 0) for state in workdir_lib.STATES),
            len(row.trials),
        ]
        for column in table.columns:
            stats = table.stats(row, column)
            cells += [_number(stats.mean), _number(stats.std), stats.n]
            if table.ci:
                ci = stats.ci or (None, None)
                cells += [_number(ci[0]), _number(ci[1])]
        writer.writerow(cells)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# The short table, one row per trial, the best trial.
# --------------------------------------------------------------------------------------------

# Columns of the short table besides the chosen metric's validation and test cells.
SHORT_FACTS = ('params', 'flops', 'receptive_field')
# config.json fields every trials.csv row carries, besides the sweep's overrides.
TRIAL_CONFIG_KEYS = ('model.name', 'model.depth', 'model.width', 'seed')
# summary.json fields of each trials.csv row, after the table's columns.
TRIAL_SUMMARY_KEYS = ('best_step', 'wall_time_s', 'steps_per_s')


def short_table(table: Table) -> Table:
    """The table with only the headline metric (validation, test) and the architecture facts:
    what report.md shows first; the full table is table.md."""
    metric = table.metrics[0]
    keep = [f'val_{metric}', f'test_{metric}', *SHORT_FACTS]
    columns = sorted((c for c in table.columns if c.name in keep), key=lambda c: keep.index(c.name))
    return dataclasses.replace(table, columns=columns)


def best_by_validation(trials: Iterable[TrialResult], metric: str | None) -> TrialResult | None:
    """The done trial with the best validation `metric` (its summary's select_direction, else
    max unless LOWER_IS_BETTER): the test split never chooses. None if no trial has it."""
    if metric is None:
        return None
    scored = []
    for t in trials:
        value = lookup(t.summary, ('val', metric)) if t.status == workdir_lib.DONE else None
        if value is not None:
            direction = t.summary.get('select_direction')
            lower = direction == 'min' or (direction is None and metric in LOWER_IS_BETTER)
            scored.append((-value if lower else value, -t.index, t))
    return max(scored, key=lambda s: s[:2])[2] if scored else None


def _config_value(config: dict | None, key: str) -> Any:
    node: Any = config
    for part in key.split('.'):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def trials_header(table: Table) -> list[str]:
    keys = list(TRIAL_CONFIG_KEYS)
    for t in table.trials:
        keys += [k for k in t.overrides if k not in keys]
    return ['id', 'index', 'status', 'note', *keys, 'variant', *(c.name for c in table.columns),
            *TRIAL_SUMMARY_KEYS]  # fmt: skip


def _trial_number(column: Column, summary: dict | None) -> float | int | None:
    """A column's value, counts (params, receptive field) as integers."""
    value = column.value(summary)
    return int(value) if value is not None and column.fmt == '.0f' else value


def trial_cells(table: Table, trial: TrialResult, head: Sequence[str]) -> list[Any]:
    """One trials.csv row: config fields from the overrides, else the trial's config.json;
    results of done trials only (a diverged run's numbers are not results)."""
    config = None
    done = trial.status == workdir_lib.DONE
    by_column = {c.name: c for c in table.columns}
    cells = []
    for key in head:
        if key in ('id', 'index', 'status', 'note'):
            value = getattr(trial, key)
        elif key in by_column:
            value = _trial_number(by_column[key], trial.summary) if done else None
        elif key in (*TRIAL_SUMMARY_KEYS, 'variant'):
            value = (trial.summary or {}).get(key) if done or key == 'variant' else None
        elif key in trial.overrides:
            value = trial.overrides[key]
        else:
            if config is None:
                config = read_trial_config(table.workdir, trial) or {}
            value = _config_value(config, key)
        cells.append('' if value is None else value)
    return cells


def to_trials_csv(table: Table) -> str:
    """Long format, one row per trial (each seed its own): config fields, status and the
    summary's numbers (unformatted), for pandas or R rather than for reading."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    head = trials_header(table)
    writer.writerow(head)
    for trial in sorted(table.trials, key=lambda t: (t.index, t.id)):
        writer.writerow(trial_cells(table, trial, head))
    return out.getvalue()


if __name__ == '__main__':
    raise SystemExit(
        'The report command is python -m ecgdepth.report WORKDIR (ecgdepth/report.py).'
    )
