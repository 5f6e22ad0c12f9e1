"""Checks a config before any compute, with errors that name the offending field.

ml_collections already rejects a misspelt override (the config is locked) and a value of the
wrong type on the command line; this module adds ranges, choices and cross-field rules, and
also catches wrong types set from Python.
"""

from __future__ import annotations

import math
import re
from typing import Any

import ml_collections

# The registry and the protocol only: a dataset's module (TFDS for the real ones) is imported
# when a config names it.
from ecgdepth import data as data_lib
from ecgdepth import rules
from ecgdepth.data import base as data_base


class ConfigError(ValueError):
    """A config value is invalid; the message names the field."""


# Each rule: (type, predicate or None, what the predicate demands); ecgdepth/rules.py.
Rule = rules.Rule

_POSITIVE_INT: Rule = rules.POSITIVE_INT
_NON_NEGATIVE_INT: Rule = rules.NON_NEGATIVE_INT
_BOOL: Rule = rules.BOOL
_PROBABILITY: Rule = rules.PROBABILITY
_NON_NEGATIVE: Rule = rules.NON_NEGATIVE
_POSITIVE: Rule = rules.POSITIVE
_choice = rules.choice


# The hypothesis experiments (configs/experiments/; ecgdepth/findings.py), '' for none.
EXPERIMENTS = (
    '',
    'receptive_field',
    'trainability',
    'overfitting',
    'matched_params',
    'multiplicative',
)

# config.target_metric per task: '' is accuracy (classification) or r2 (regression).
TARGET_METRICS = {'classification': ('', 'accuracy', 'macro_f1'), 'regression': ('', 'r2')}

TASKS = ('classification', 'regression')

OPTIM: dict[str, Rule] = {
    'name': _choice('adamw', 'sgd'),
    'learning_rate': _POSITIVE,
    'weight_decay': _NON_NEGATIVE,
    'momentum': _PROBABILITY,
    'b1': _PROBABILITY,
    'b2': _PROBABILITY,
    'schedule': _choice('cosine', 'constant'),
    'warmup_steps': _NON_NEGATIVE_INT,
    'final_lr_ratio': ((int, float), lambda v: 0.0 <= v <= 1.0, 'a number in [0, 1]'),
    'grad_clip_norm': _NON_NEGATIVE,
}

LOSS: dict[str, Rule] = {
    'label_smoothing': _PROBABILITY,
    'class_weights': (str, None, "'none', 'balanced' or comma-separated numbers"),
}

# The validation metrics that may pick the best step, per task, and which way is better.
SELECT_METRICS: dict[str, dict[str, str]] = {
    'classification': {'macro_f1': 'max', 'accuracy': 'max', 'loss': 'min'},
    'regression': {'mse': 'min', 'mae': 'min', 'r2': 'max', 'loss': 'min'},
}


def select_direction(task: str, metric: str, scores=()) -> str:
    """'max' or 'min': whether a higher or a lower value of `metric` is the better step.
    `scores`: the dataset's benchmark scores (mean F1s: higher is better), also selectable."""
    if task == 'classification' and metric in scores:
        return 'max'
    try:
        return SELECT_METRICS[task][metric]
    except KeyError:
        choices = [*SELECT_METRICS.get(task, {}), *(scores if task == 'classification' else ())]
        raise ConfigError(
            f'config.train.select_metric={metric!r} is not a {task} metric; '
            f'choose one of {", ".join(repr(m) for m in choices)}.'
        ) from None


def _no_space(what: str) -> Rule:
    """SLURM names and node lists hold no whitespace: one there is a typo (two names?)."""
    return (str, lambda v: not any(c.isspace() for c in v), f'{what} or empty (no spaces)')


# launch.py --submit=slurm resources (ecgdepth/spec.py; ecgdepth/cluster.py).
CLUSTER: dict[str, Rule] = {
    'partition': _no_space('a partition name'),
    'account': _no_space('an account name'),
    'qos': _no_space('a QoS name'),
    'constraint': _no_space("a node-feature expression such as 'a100|h100'"),
    'exclude': _no_space("a node list such as 'node[01-03],node07'"),
    'additional_parameters': (str, None, "'option=value' items separated by commas"),
    'setup': (str, lambda v: '\n' not in v, "shell lines separated by ';' (no newlines)"),
    'time_minutes': _POSITIVE_INT,
    'gpus_per_task': _NON_NEGATIVE_INT,
    'cpus_per_task': _POSITIVE_INT,
    'mem_gb': _NON_NEGATIVE_INT,
    'array_parallelism': _NON_NEGATIVE_INT,
    'nodes': _POSITIVE_INT,
    'tasks_per_node': _POSITIVE_INT,
}

TRAIN: dict[str, Rule] = {
    'batch_size': _POSITIVE_INT,
    'num_steps': _POSITIVE_INT,
    'log_every': _POSITIVE_INT,
    'eval_every': _POSITIVE_INT,
    'eval_batch_size': _POSITIVE_INT,
    'eval_train_examples': _NON_NEGATIVE_INT,
    'select_metric': (str, None, 'a metric name'),  # Checked against the task and dataset.
    'diagnostics': _BOOL,
    'diagnostic_examples': _POSITIVE_INT,
    'checkpoint_every': _NON_NEGATIVE_INT,
    'compilation_cache_dir': (str, None, 'a path string'),
    'vmap_seeds': _POSITIVE_INT,
}


def _check_section(
    section: ml_collections.ConfigDict,
    prefix: str,
    rules: dict[str, Rule],
    allow_extra: bool = False,
) -> None:
    for key, (types, predicate, demand) in rules.items():
        path = f'{prefix}.{key}'
        if key not in section:
            raise ConfigError(f'{path} is missing; it must be {demand}.')
        value = section[key]
        # bool is an int subclass: only accept it where a bool is asked for.
        wanted = types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) and bool not in wanted:
            ok_type = False
        else:
            ok_type = isinstance(value, wanted)
        if ok_type and isinstance(value, float) and not math.isfinite(value):
            ok_type = False
        if not ok_type or (predicate is not None and not predicate(value)):
            raise ConfigError(f'{path} must be {demand}, got {value!r}.')
    if not allow_extra:
        extra = sorted(set(section.keys()) - set(rules))
        if extra:
            raise ConfigError(f'{prefix} has unknown field(s) {extra}; expected {sorted(rules)}.')


def parse_class_weights(spec: str, num_classes: int | None = None) -> tuple[float, ...] | str:
    """'none' | 'balanced' | '1,2.5,...' -> the mode, or the weights as a tuple."""
    if spec in ('none', 'balanced'):
        return spec
    try:
        weights = tuple(float(w) for w in spec.split(','))
    except ValueError:
        raise ConfigError(
            f"config.loss.class_weights must be 'none', 'balanced' or comma-separated numbers, "
            f'got {spec!r}.'
        ) from None
    if any(not math.isfinite(w) or w < 0 for w in weights) or not any(weights):
        raise ConfigError(
            f'config.loss.class_weights must be finite, >= 0 and not all 0: {spec!r}.'
        )
    if num_classes is not None and len(weights) != num_classes:
        raise ConfigError(
            f'config.loss.class_weights has {len(weights)} weights but the dataset '
            f'has {num_classes} classes.'
        )
    return weights


_SBATCH_KEY = re.compile(r'[A-Za-z][A-Za-z0-9_-]*')


def sbatch_options(text: str) -> dict[str, str]:
    """config.cluster.additional_parameters, 'mail-type=END,comment=x', as submitit's
    slurm_additional_parameters: one string, since a dict would not survive a command line."""
    options: dict[str, str] = {}
    for item in text.split(','):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition('=')
        key = key.strip().lstrip('-')
        if not sep or not _SBATCH_KEY.fullmatch(key):
            raise ValueError(
                f'config.cluster.additional_parameters item {item!r} is not option=value; '
                "write e.g. 'mail-type=END,comment=depth'."
            )
        if key.replace('_', '-') in {k.replace('_', '-') for k in options}:
            raise ValueError(f'config.cluster.additional_parameters sets {key!r} twice.')
        options[key] = value.strip()
    return options


def validate_cluster(config: ml_collections.ConfigDict) -> None:
    """Checks config.cluster if there is one: the config that trains has none (it is dropped
    before training, ecgdepth/cluster.py), the one launch.py submits with has."""
    if 'cluster' not in config:
        return
    if not isinstance(config.cluster, ml_collections.ConfigDict):
        raise ConfigError(f'config.cluster must be a section, got {config.cluster!r}.')
    _check_section(config.cluster, 'config.cluster', CLUSTER)
    try:
        sbatch_options(config.cluster.additional_parameters)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _check_target(config: ml_collections.ConfigDict, task: str) -> None:
    """config.target_error / target_metric: what findings count as solving the task."""
    error = config.get('target_error', 0.1)
    if isinstance(error, bool) or not isinstance(error, (int, float)) or not 0 < error <= 1:
        raise ConfigError(f'config.target_error must be a number in (0, 1], got {error!r}.')
    metric = config.get('target_metric', '')
    if metric not in TARGET_METRICS[task]:
        raise ConfigError(
            f'config.target_metric={metric!r} does not suit config.task={task!r}; choose one of '
            f'{", ".join(map(repr, TARGET_METRICS[task]))}.'
        )


def _check_model(model: ml_collections.ConfigDict):
    """Checks config.model against its family's rules (ecgdepth.models: FAMILIES); returns the
    family. Imported here: the registry imports flax, which config files must not need."""
    from ecgdepth import models

    name = model.get('name')
    if name not in models.FAMILIES:
        raise ConfigError(
            f'config.model.name {name!r} is not a model; choose one of {sorted(models.FAMILIES)}.'
        )
    family = models.FAMILIES[name]
    _check_section(model, 'config.model', family.config_rules())
    return family


def _check_top_level(config: ml_collections.ConfigDict) -> str:
    """The sections exist; seed, experiment, task and the target are valid. Returns the task."""
    for section in ('data', 'model', 'optim', 'loss', 'train'):
        if section not in config:
            raise ConfigError(f'config.{section} is missing.')
    if not isinstance(config.get('seed'), int) or isinstance(config.seed, bool) or config.seed < 0:
        raise ConfigError(f'config.seed must be an integer >= 0, got {config.get("seed")!r}.')
    experiment = config.get('experiment', '')
    if experiment not in EXPERIMENTS:
        raise ConfigError(
            f'config.experiment must be one of {", ".join(map(repr, EXPERIMENTS))}, '
            f'got {experiment!r}.'
        )
    task = config.get('task')
    if task not in TASKS:
        raise ConfigError(
            f'config.task must be one of {", ".join(map(repr, TASKS))}, got {task!r}.'
        )
    _check_target(config, task)
    return task


def _dataset(name: Any) -> Any:
    """The module of dataset `name` (ecgdepth/data/base.py: DatasetModule) or a ConfigError."""
    if name not in data_lib.DATASETS:
        raise ConfigError(
            f'config.data.name {name!r} is not a dataset; choose one of '
            f'{sorted(data_lib.DATASETS)}.'
        )
    try:
        return data_lib.dataset(name)
    except ImportError as error:
        raise ConfigError(
            f'config.data.name {name!r} is not available in this install ({error}).'
        ) from None


def _check_input(config: ml_collections.ConfigDict, family) -> None:
    """A family's rule between its fields and an example's length (e.g. the MI-MLP's pool),
    for any dataset: the length comes from the dataset's input spec, without loading it."""
    if family.input_check is None:
        return
    try:
        time = data_lib.input_spec(config).time
    except ValueError as error:
        raise ConfigError(str(error)) from None
    where = f'the {time} samples per example of config.data.name={config.data.name!r}'
    problem = family.input_check(config.model, time, where)
    if problem:
        raise ConfigError(problem)


def _check_data_fields(section: ml_collections.ConfigDict, rules: dict[str, Rule]) -> None:
    """A `data.name` override on another dataset's config lacks the dataset's own fields:
    said so, with where to start, rather than as the first missing field."""
    missing = [key for key in rules if key not in section]
    known = {'name', *data_base.COMMON_RULES, *rules}
    if missing and any(key not in known for key in section):
        name = section.get('name')
        raise ConfigError(
            f"config.data.name={name!r}, but config.data holds another dataset's fields (no "
            f'{", ".join(missing[:3])}...): start from a config of {name!r}, e.g. the spec '
            f'--config=configs/dilated_cnn.py:data={name}.'
        )


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError naming the first invalid field. Costs no compute."""
    task = _check_top_level(config)
    family = _check_model(config.model)
    dataset = _dataset(config.data.get('name'))
    _check_data_fields(config.data, dataset.RULES)
    _check_section(config.data, 'config.data', {**data_base.COMMON_RULES, **dataset.RULES})
    _check_section(config.optim, 'config.optim', OPTIM)
    _check_section(config.loss, 'config.loss', LOSS)
    _check_section(config.train, 'config.train', TRAIN)
    validate_cluster(config)
    parse_class_weights(config.loss.class_weights)
    try:
        dataset.check(config, task)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    select_direction(task, config.train.select_metric, data_lib.scores(config.data))
    if task == 'regression':
        if config.loss.class_weights != 'none' or config.loss.label_smoothing:
            raise ConfigError(
                'config.loss.class_weights and config.loss.label_smoothing apply to classes; '
                "with config.task='regression' leave them at 'none' and 0."
            )
        if config.data.label_noise:
            raise ConfigError(
                f'config.data.label_noise={config.data.label_noise} flips class labels; '
                "it needs config.task='classification'."
            )
    if config.optim.warmup_steps >= config.train.num_steps and config.train.num_steps > 1:
        raise ConfigError(
            f'config.optim.warmup_steps ({config.optim.warmup_steps}) must be smaller than '
            f'config.train.num_steps ({config.train.num_steps}).'
        )
    _check_input(config, family)
