"""Sweeps as config files: the helpers that turn a sweep file into concrete, validated trials.

A sweep file (configs/sweeps/*.py) defines two functions of the same spec string `arg`:

    get_config(arg) -> ConfigDict        the base config, as a family config file does
    get_sweep(arg)  -> list[dict]        the trials: one dict of dotted-key overrides each

e.g. `product({'model.depth': [1, 2, 4], 'seed': [0, 1]})`. Overrides are applied to a copy of
the base config by `apply_overrides`: values are converted to the type of the field's default as
the spec parser does, and an unknown key fails naming the key and the trial. Two keys are
special, so that one sweep can span model families and datasets:

- `model.name`: the whole model section is replaced by that family's defaults, i.e.
  `ecgdepth.spec.family_config(family, family_arg).model`, before the other overrides apply.
- `data.name`: likewise the data section, from the same family config with `data=<name>` in the
  spec (so `runlocal` shrinks the new dataset as it would on the command line).

`family_arg` is the family spec behind the base config: by default the sweep's spec minus the
keys the sweep file itself consumes (its module-level `SWEEP_KEYS`, e.g. `iso`), so
`configs/sweeps/depth.py:runlocal` gives every family `runlocal`. A sweep file whose base config
uses another spec says so with a function `family_arg(arg) -> str`.

Iso-parameter trials: the marker override `{'iso_params': N}` (see `iso_params`) makes
`apply_overrides` solve `model.width` so the exact parameter count (shapes only, via
`jax.eval_shape`) lands within 5 % of N. The marker, not the solved width, is part of the
trial's overrides and so of its id: ids stay computable without JAX.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import ml_collections

from ecgdepth import data as data_lib
from ecgdepth import spec, validation
from ecgdepth.data.base import InputSpec
from ecgdepth.validation import ConfigError

Overrides = dict[str, Any]

ISO_KEY = 'iso_params'  # Marker override: solve model.width for this parameter budget.
VMAP_KEY = 'train.vmap_seeds'  # Set by vmap_seeds(): several seeds as one vmapped trial.
ISO_TOLERANCE = 0.05  # Relative distance to the budget an iso-parameter width must reach.
MAX_WIDTH = 65536  # models.base.COMMON_RULES['width'] upper bound.

# Readable trial-id parts, in order: (override key, prefix). Other keys only enter the hash.
_ID_PARTS = (
    ('model.name', ''),
    ('data.name', ''),
    ('data.variant', ''),
    ('model.depth', 'd'),
    ('model.width', 'w'),
    (ISO_KEY, 'iso'),
    ('model.kernel_size', 'k'),
    ('model.dilation', 'dil-'),
    ('model.residual', 'res'),
    ('model.layer_norm', 'lnorm'),
    ('model.cell', ''),
    ('model.gate', 'gate-'),
    ('model.multiplicative', 'mul'),
    ('data.motif_k', 'span'),
    ('data.label_noise', 'noise'),
    ('model.dropout', 'do'),
    ('optim.weight_decay', 'wd'),
    ('loss.label_smoothing', 'ls'),
    ('data.train_fraction', 'tf'),
    ('seed', 's'),
    (VMAP_KEY, 'x'),
)


class SweepError(ValueError):
    """A sweep definition or sweep workdir is unusable; the message names the culprit."""


# --------------------------------------------------------------------------------------------
# Building trial lists.
# --------------------------------------------------------------------------------------------


def _as_trials(arg: Any, where: str) -> list[Overrides]:
    """A dict of lists (axes) or a list of override dicts -> a list of override dicts."""
    if isinstance(arg, Mapping):
        return product_axes(arg, where)
    if isinstance(arg, (list, tuple)):
        trials = []
        for i, trial in enumerate(arg):
            if not isinstance(trial, Mapping):
                raise SweepError(f'{where}: item {i} is {trial!r}, not a dict of overrides.')
            trials.append(dict(trial))
        return trials
    raise SweepError(f'{where}: expected a dict of lists or a list of override dicts, got {arg!r}.')


def _axis_values(key: str, values: Any, where: str) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise SweepError(f'{where}: axis {key!r} must be a list of values, got {values!r}.')
    values = list(values)
    if not values:
        raise SweepError(f'{where}: axis {key!r} has no values.')
    return values


def _merge(parts: Sequence[Mapping[str, Any]], where: str) -> Overrides:
    merged: Overrides = {}
    for part in parts:
        for key, value in part.items():
            if key in merged and merged[key] != value:
                raise SweepError(
                    f'{where}: key {key!r} is set twice in one trial ({merged[key]!r} and '
                    f'{value!r}).'
                )
            merged[key] = value
    return merged


def product_axes(axes: Mapping[str, Any], where: str = 'product') -> list[Overrides]:
    """{'a': [1, 2], 'b': [3]} -> [{'a': 1, 'b': 3}, {'a': 2, 'b': 3}] (last axis fastest)."""
    keys = list(axes)
    lists = [_axis_values(key, axes[key], where) for key in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*lists)]


def product(*sweeps: Any, **axes: Any) -> list[Overrides]:
    """The cartesian product of sweeps: each argument a dict of lists or a list of trials.

    product({'model.depth': [1, 2], 'seed': [0, 1]}) has 4 trials; product(zip_(...), {...})
    crosses a zipped sweep with more axes. Keyword axes suit undotted keys: product(seed=[0, 1]).
    """
    parts = [_as_trials(s, 'product') for s in sweeps]
    if axes:
        parts.append(product_axes(axes))
    if not parts:
        return [{}]
    return [_merge(combo, 'product') for combo in itertools.product(*parts)]


def zip_(*sweeps: Any, **axes: Any) -> list[Overrides]:
    """Parallel axes: zip_({'model.depth': [1, 2], 'model.width': [64, 32]}) has 2 trials.

    Arguments are dicts of equal-length lists or lists of trials of equal length.
    """
    columns: list[tuple[str, list[Overrides]]] = []
    for s in sweeps:
        if isinstance(s, Mapping):
            for key, values in s.items():
                values = _axis_values(key, values, 'zip_')
                columns.append((f'axis {key!r}', [{key: v} for v in values]))
        else:
            columns.append(('a list of trials', _as_trials(s, 'zip_')))
    for key, values in axes.items():
        values = _axis_values(key, values, 'zip_')
        columns.append((f'axis {key!r}', [{key: v} for v in values]))
    if not columns:
        return [{}]
    lengths = {len(trials) for _, trials in columns}
    if len(lengths) > 1:
        described = ', '.join(f'{name}: {len(trials)}' for name, trials in columns)
        raise SweepError(f'zip_: lengths differ ({described}).')
    return [_merge(parts, 'zip_') for parts in zip(*(t for _, t in columns), strict=True)]


def chain(*sweeps: Any) -> list[Overrides]:
    """The trials of each sweep in turn: chain(product(...), product(...))."""
    return [trial for s in sweeps for trial in _as_trials(s, 'chain')]


def iso_params(trials: Iterable[Mapping[str, Any]], budget: int) -> list[Overrides]:
    """Marks every trial to have model.width solved for `budget` parameters (within 5 %)."""
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise SweepError(f'iso_params: budget must be an integer >= 1, got {budget!r}.')
    return [{**trial, ISO_KEY: budget} for trial in _as_trials(list(trials), 'iso_params')]


def vmap_seeds(trials: Iterable[Mapping[str, Any]]) -> list[Overrides]:
    """Trials that differ only in their seed, merged into one trial training those seeds as one
    vmapped program: {'seed': s0, 'train.vmap_seeds': n} for seeds s0 .. s0+n-1 (each seed's
    results land in <trial>/seed_<s>/, exactly as its own run would give them).

    Order is kept (a group sits where its first seed was); seeds must be consecutive integers.
    """
    groups: dict[str, list[Overrides]] = {}
    for trial in _as_trials(list(trials), 'vmap_seeds'):
        if VMAP_KEY in trial:
            raise SweepError(f'vmap_seeds: trial {trial!r} already sets {VMAP_KEY}.')
        rest = {k: v for k, v in trial.items() if k != 'seed'}
        groups.setdefault(_canonical(rest), []).append(trial)
    merged = []
    for members in groups.values():
        seeds = sorted(m.get('seed', 0) for m in members)
        if len(members) == 1:
            merged.append(members[0])
            continue
        if any(isinstance(s, bool) or not isinstance(s, int) for s in seeds) or seeds != list(
            range(seeds[0], seeds[0] + len(seeds))
        ):
            raise SweepError(
                f'vmap_seeds: the seeds {seeds} of {members[0]!r} are not consecutive integers, '
                'so they cannot run as seed, seed+1, ...; sweep consecutive seeds.'
            )
        merged.append({**members[0], 'seed': seeds[0], VMAP_KEY: len(seeds)})
    return merged


# --------------------------------------------------------------------------------------------
# Trial ids.
# --------------------------------------------------------------------------------------------


def _canonical(overrides: Mapping[str, Any]) -> str:
    return json.dumps(dict(overrides), sort_keys=True, separators=(',', ':'), allow_nan=False)


def _id_value(value: Any) -> str:
    if isinstance(value, bool):
        return 'T' if value else 'F'
    if isinstance(value, float):
        value = f'{value:g}'
    return re.sub(r'[^A-Za-z0-9.+_]+', '', str(value))[:24]


def trial_id(overrides: Mapping[str, Any]) -> str:
    """A stable id from the overrides alone: readable parts + 8 hex of the sorted-JSON hash.

    e.g. {'model.name': 'lstm', 'model.depth': 4, 'seed': 0} -> 'lstm-d4-s0-<hash>'. The same
    overrides give the same id in any process and order; 4 and 4.0 are different overrides.
    """
    try:
        canonical = _canonical(overrides)
    except (TypeError, ValueError) as error:
        raise SweepError(f'Trial overrides {overrides!r} are not JSON scalars: {error}') from None
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:8]
    parts = [
        f'{prefix}{_id_value(overrides[key])}' for key, prefix in _ID_PARTS if key in overrides
    ]
    return '-'.join([*(p for p in parts if p), digest]) if parts else f'trial-{digest}'


def config_hash(config: ml_collections.ConfigDict) -> str:
    """Fingerprint of a whole trial config: a workdir must not mix two configs under one id."""
    text = json.dumps(config.to_dict(), sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Spec strings and family defaults.
# --------------------------------------------------------------------------------------------


def split_arg(arg: str | None, sweep_keys: Iterable[str]) -> tuple[str, dict[str, object]]:
    """'iso=1e5,runlocal' with sweep_keys ('iso',) -> ('runlocal', {'iso': '1e5'}).

    The first part is the family spec (ecgdepth.spec.family_config takes it); the second the
    sweep's own options, which a family config would reject as unknown fields.
    """
    keys = set(sweep_keys)
    spec.parse_arg(arg)  # Syntax errors (empty key, key twice) fail here, naming the item.
    kept, options = [], {}
    for item in (arg or '').split(','):
        key, sep, value = item.strip().partition('=')
        if not key.strip():
            continue
        if key.strip() in keys:
            options[key.strip()] = value.strip() if sep else True
        else:
            kept.append(item.strip())
    return ','.join(kept), options


def spec_value(arg: str | None, key: str, default: Any) -> Any:
    """The value of `key` in a spec string, parsed to the type of `default` (a bare key = True).

    Lets a sweep file read its own options and family keys such as `runlocal` or `depth`.
    """
    given = spec.parse_arg(arg)
    if key not in given:
        return default
    try:
        return spec.convert(key, given[key], default)
    except ValueError as error:
        raise SweepError(f'Sweep spec: {error}') from None


def _with_data(family_arg: str, dataset: str) -> str:
    items = [
        i for i in family_arg.split(',') if i.strip() and i.partition('=')[0].strip() != 'data'
    ]
    return ','.join([*items, f'data={dataset}'])


def family_config(family: str, family_arg: str = '', label: str = 'trial'):
    """The config of model family `family` under `family_arg`, errors naming the family/trial."""
    from ecgdepth import models  # Only here: the registry imports flax.

    if family not in models.FAMILIES:
        raise ConfigError(
            f'{label}: model.name={family!r} is not a model family; choose one of '
            f'{sorted(models.FAMILIES)}.'
        )
    try:
        return spec.family_config(family, family_arg or None)
    except ValueError as error:
        raise ConfigError(f'{label}: the {family} config of spec {family_arg!r}: {error}') from None


# --------------------------------------------------------------------------------------------
# Applying overrides.
# --------------------------------------------------------------------------------------------


def _set(config: ml_collections.ConfigDict, key: str, value: Any, label: str) -> None:
    try:
        spec.set_field(config, key, value, label)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def apply_overrides(
    config: ml_collections.ConfigDict,
    overrides: Mapping[str, Any],
    *,
    family_arg: str = '',
    base_overrides: Mapping[str, Any] | None = None,
    label: str | None = None,
) -> ml_collections.ConfigDict:
    """A new config: `config` with the trial's `overrides` applied (the input is not changed).

    Order: `model.name` and `data.name` replace their sections with the family's/dataset's
    defaults (from `family_arg`); then `base_overrides` (e.g. --config.x=y from the command
    line, which the replaced section would otherwise lose) apply; then the other overrides;
    last `iso_params` solves model.width. Errors are ConfigError naming the key and `label`.
    """
    label = label or f'trial {dict(overrides)!r}'
    new = copy.deepcopy(config)
    new.unlock()
    overrides = dict(overrides)
    given = dict(overrides)
    for key in overrides:
        if not isinstance(key, str) or not key:
            raise ConfigError(f'{label}: override key {key!r} is not a dotted config key.')
    budget = overrides.pop(ISO_KEY, None)
    family = overrides.pop('model.name', None)
    dataset = overrides.pop('data.name', None)
    if family is not None:
        new.model = family_config(family, family_arg, label).model
    if dataset is not None:
        if not isinstance(dataset, str):
            raise ConfigError(f'{label}: override data.name={dataset!r} must be a string.')
        arg = _with_data(family_arg, dataset)
        new.data = family_config(new.model.name, arg, label).data
    replaced = {'model'} if family is not None else set()
    replaced |= {'data'} if dataset is not None else set()
    for key, value in (base_overrides or {}).items():
        if key in given:
            raise ConfigError(
                f'--config.{key}={value!r} is also set by the sweep ({label} sets {key}='
                f'{given[key]!r}): drop the command-line override or the sweep axis.'
            )
        # A replaced section may lack a field the base family had: such an override is moot.
        if key.split('.')[0] in replaced and not spec.has_field(new, key):
            continue
        _set(new, key, value, f'{label} (command-line override)')
    for key, value in overrides.items():
        _set(new, key, value, label)
    if budget is not None:
        if 'model.width' in overrides:
            raise ConfigError(
                f'{label}: sets both {ISO_KEY} and model.width; iso-parameter trials solve the '
                'width, so drop one.'
            )
        width, _ = solve_width(new, budget, label=label)
        new.model.width = width
    return new


# --------------------------------------------------------------------------------------------
# Input shapes and exact parameter counts, without loading data.
# --------------------------------------------------------------------------------------------


def input_spec(config: ml_collections.ConfigDict) -> InputSpec:
    """The example shape, output count, side-feature count and padding mask from config.data
    alone: the dataset's own `input_spec` (its builder's window formula, so a change there
    cannot silently desync), through the registry (ecgdepth.data)."""
    try:
        return data_lib.input_spec(config)
    except ValueError as error:
        raise ConfigError(str(error)) from None


_PARAM_CACHE: dict[str, int] = {}


def count_model_params(config: ml_collections.ConfigDict) -> int:
    """Exact parameter count of config.model on config.data's inputs: shapes only, no FLOPs."""
    spec = input_spec(config)
    key = json.dumps([config.model.to_dict(), spec], sort_keys=True)
    if key in _PARAM_CACHE:
        return _PARAM_CACHE[key]
    import jax
    import jax.numpy as jnp

    from ecgdepth import models

    model = models.build_model(config.model, spec.num_classes)
    inputs = {'x': jax.ShapeDtypeStruct((1, spec.time, spec.channels), jnp.float32)}
    if spec.mask:
        inputs['mask'] = jax.ShapeDtypeStruct((1, spec.time), jnp.bool_)
    if spec.num_features:
        inputs['features'] = jax.ShapeDtypeStruct((1, spec.num_features), jnp.float32)

    def init(inputs):
        x = inputs.pop('x')
        return model.init({'params': jax.random.PRNGKey(0)}, x, train=False, **inputs)

    variables = jax.eval_shape(init, inputs)
    count = models.count_params(variables['params'])
    _PARAM_CACHE[key] = count
    return count


def solve_width(
    config: ml_collections.ConfigDict,
    budget: Any,
    *,
    label: str = 'trial',
    tolerance: float = ISO_TOLERANCE,
) -> tuple[int, int]:
    """(width, params): the width whose exact count is nearest `budget`, within `tolerance`.

    Counts are quadratic in width for every family, so a fit through widths 1, 2, 3 gives the
    guess; exact counts around it (bracketing, then bisection, as counts grow with width) make
    the answer exact even if that assumption breaks. Infeasible budgets fail naming the trial.
    """
    _check_budget(config, budget, label)
    trial = copy.deepcopy(config)
    trial.unlock()

    def count(width: int) -> int:
        trial.model.width = width
        return count_model_params(trial)

    p1 = count(1)
    if p1 > budget * (1 + tolerance):
        raise ConfigError(
            f'{label}: {ISO_KEY}={budget} is infeasible: {config.model.name} at depth '
            f'{config.model.depth} already has {p1} parameters at width 1.'
        )
    guess = _quadratic_guess(p1, count(2), count(3), budget)
    lo, hi = _bracket(count, guess, budget)
    lo, hi = _bisect(count, lo, hi, budget)
    best = min({lo, hi}, key=lambda w: (abs(count(w) - budget), w))
    params = count(best)
    if abs(params - budget) > tolerance * budget:
        near = ', '.join(f'width {w}: {count(w)}' for w in sorted({lo, hi}))
        raise ConfigError(
            f'{label}: {ISO_KEY}={budget} is infeasible within {tolerance:.0%}: nearest counts '
            f'of {config.model.name} at depth {config.model.depth} are {near} parameters.'
        )
    return best, params


def _check_budget(config: ml_collections.ConfigDict, budget: Any, label: str) -> None:
    """Fails naming the trial before any counting: a budget that is no number >= 1, or a
    config that would not train anyway."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget >= 1:
        raise ConfigError(f'{label}: {ISO_KEY}={budget!r} must be a number >= 1.')
    try:
        validation.validate_config(config)
    except ConfigError as error:
        raise ConfigError(f'{label}: {error}') from None


def _quadratic_guess(p1: int, p2: int, p3: int, budget: float) -> int:
    """The width where the quadratic through the counts at widths 1, 2, 3 meets `budget`,
    rounded into [1, MAX_WIDTH] (a line if the fit is not convex, else width 1)."""
    a = (p3 - 2 * p2 + p1) / 2
    b = p2 - p1 - 3 * a
    c = p1 - a - b
    if a > 0:
        guess = (-b + math.sqrt(max(b * b - 4 * a * (c - budget), 0.0))) / (2 * a)
    elif b > 0:
        guess = (budget - c) / b
    else:
        guess = 1.0
    return min(max(int(round(guess)), 1), MAX_WIDTH)


def _bracket(count: Callable[[int], int], guess: int, budget: float) -> tuple[int, int]:
    """(lo, hi) around the budget by doubling steps from the guess: lo has count < budget (or
    is width 1), hi has count >= budget (or is MAX_WIDTH)."""
    lo, hi = guess, guess
    step = 1
    if count(guess) >= budget:
        while lo > 1 and count(lo) >= budget:
            hi, lo = lo, max(1, lo - step)
            step *= 2
    else:
        while hi < MAX_WIDTH and count(hi) < budget:
            lo, hi = hi, min(MAX_WIDTH, hi + step)
            step *= 2
    return lo, hi


def _bisect(count: Callable[[int], int], lo: int, hi: int, budget: float) -> tuple[int, int]:
    """Narrows the bracket to adjacent widths (counts grow with width)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(mid) >= budget:
            hi = mid
        else:
            lo = mid
    return lo, hi


# --------------------------------------------------------------------------------------------
# Sweep files -> trials.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Trial:
    """One concrete run of a sweep: its position, id, overrides and full config."""

    index: int
    id: str
    overrides: Overrides
    config: ml_collections.ConfigDict
    config_hash: str = ''
    params: int | None = None  # Exact count for iso-parameter trials (else filled by training).

    def record(self) -> dict[str, Any]:
        """The JSON entry of sweep.json."""
        entry = {
            'index': self.index,
            'id': self.id,
            'overrides': self.overrides,
            'config_hash': self.config_hash,
        }
        if self.params is not None:
            entry.update(width=self.config.model.width, params=self.params)
        return entry


@dataclasses.dataclass
class Sweep:
    """A loaded sweep file: where it came from and its expanded trials."""

    source: str  # 'path.py:arg' as given.
    family_arg: str
    base: ml_collections.ConfigDict
    trials: list[Trial]


def split_source(source: str) -> tuple[str, str | None]:
    """'configs/sweeps/depth.py:runlocal' -> ('configs/sweeps/depth.py', 'runlocal')."""
    path, sep, arg = source.partition(':')
    return path, (arg if sep else None)


def load_module(path: str):
    """Imports a config file by path (as config_flags does) to reach get_sweep and SWEEP_KEYS."""
    if not os.path.isfile(path):
        raise SweepError(f'Sweep file {path!r} does not exist.')
    name = 'sweep_' + re.sub(r'\W', '_', os.path.splitext(os.path.basename(path))[0])
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def is_sweep_file(path: str) -> bool:
    """Whether `path` defines get_sweep (False if it does not exist: the caller reports that)."""
    return os.path.isfile(path) and hasattr(load_module(path), 'get_sweep')


def expand(
    overrides_list: Sequence[Mapping[str, Any]],
    base: ml_collections.ConfigDict,
    *,
    family_arg: str = '',
    base_overrides: Mapping[str, Any] | None = None,
    source: str = 'sweep',
) -> list[Trial]:
    """Trials with ids and validated configs; any invalid trial fails before anything runs."""
    if not isinstance(overrides_list, (list, tuple)) or not overrides_list:
        raise SweepError(f'{source}: get_sweep must return a non-empty list of override dicts.')
    trials: list[Trial] = []
    seen: dict[str, int] = {}
    for index, overrides in enumerate(overrides_list):
        if not isinstance(overrides, Mapping):
            raise SweepError(f'{source}: trial {index} is {overrides!r}, not a dict of overrides.')
        overrides = dict(overrides)
        tid = trial_id(overrides)
        if tid in seen:
            raise SweepError(
                f'{source}: trials {seen[tid]} and {index} have the same overrides '
                f'{overrides!r} (id {tid}).'
            )
        seen[tid] = index
        label = f'{source} trial {index} ({tid})'
        config = apply_overrides(
            base, overrides, family_arg=family_arg, base_overrides=base_overrides, label=label
        )
        try:
            validation.validate_config(config)
        except ConfigError as error:
            raise ConfigError(f'{label} {overrides!r}: {error}') from None
        params = count_model_params(config) if ISO_KEY in overrides else None
        trials.append(Trial(index, tid, overrides, config, config_hash(config), params))
    return trials


def load_sweep(
    source: str,
    *,
    base: ml_collections.ConfigDict | None = None,
    base_overrides: Mapping[str, Any] | None = None,
    vmap: bool = False,
) -> Sweep:
    """Loads 'path.py:arg' and expands its trials. `base` defaults to the file's get_config(arg)
    (launch.py passes the flag's config, which already holds --config.x=y overrides). `vmap`
    merges trials that differ only in their seed into vmapped-seeds trials (vmap_seeds())."""
    path, arg = split_source(source)
    module = load_module(path)
    if not hasattr(module, 'get_sweep'):
        raise SweepError(
            f'{path} has no get_sweep(arg): a sweep file defines get_config(arg) and '
            'get_sweep(arg). Drop --sweep to train one config.'
        )
    if hasattr(module, 'family_arg'):
        family_arg = module.family_arg(arg) or ''
    else:
        family_arg, _ = split_arg(arg, getattr(module, 'SWEEP_KEYS', ()))
    if base is None:
        base = module.get_config(arg)
    try:
        overrides_list = module.get_sweep(arg)
    except ValueError as error:
        raise SweepError(f'{source}: get_sweep failed: {error}') from None
    if vmap:
        overrides_list = vmap_seeds(overrides_list)
    trials = expand(
        overrides_list, base, family_arg=family_arg, base_overrides=base_overrides, source=source
    )
    return Sweep(source, family_arg, base, trials)
