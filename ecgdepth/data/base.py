"""The data protocol: what a dataset module exports, the fields every data section has, and the
`Dataset` the trainer sees.

A dataset is one module (ecgdepth/data/synthetic.py, mitbih.py, cinc2017.py, arrays.py, or
your own) exporting the names of `DatasetModule`, and one registry line mapping its name to the
module (`ecgdepth.data.DATASETS`, or `ecgdepth.data.register(name, 'package.module')`). The
config spec (`data=NAME`), the validator, the sweep's shape arithmetic and the trainer's loader
all go through the registry, so nothing outside the module knows a dataset's fields.

This module needs neither TFDS nor JAX: building, checking and sizing a config import it. The
TFDS builder skeleton the datasets share (ecgdepth/data/tfds_prep.py) is imported only by the
modules that store their data with TFDS.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

import numpy as np
from absl import logging

from ecgdepth.rules import (  # noqa: F401  (re-exported for dataset modules)
    BOOL,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    PROBABILITY,
    STRING,
    Rule,
    choice,
)

SPLITS = ('train', 'validation', 'test')
DATA_DIR_ENV = 'ECGDEPTH_DATA_DIR'


# The arrays of one split. 'x' and 'y' always; 'mask' where examples are padded (a model must
# not see padding as signal); 'features' where the dataset has side features per example;
# 'group' where several examples are windows of one recording, which evaluation scores as one
# (their logits averaged: ecgdepth/metrics.py, group_confusion).
class DataError(ValueError):
    """The data a config names cannot be read as asked (a missing or corrupt file, a folder
    without records, a field the files contradict); the message names the file or field."""


SPLIT_KEYS = ('x', 'y', 'mask', 'features', 'group')

# --------------------------------------------------------------------------------------------
# Field rules (ecgdepth/rules.py), as config validation (ecgdepth/validation.py) applies them;
# an error names the field and the demand. Re-exported so a dataset module needs only `base`.
# --------------------------------------------------------------------------------------------

PATH: Rule = (str, None, 'a path string')


def typed(defaults: Mapping[str, Any]) -> dict[str, Rule]:
    """A rule per field: of its default's type (ranges and cross-field rules left to the
    dataset's own `check`)."""
    rules = {bool: BOOL, int: (int, None, 'an integer'), float: ((int, float), None, 'a number')}
    return {key: rules.get(type(value), STRING) for key, value in defaults.items()}


# The fields every data section has besides the dataset's own, with their defaults; `name`
# (the dataset's registry name) comes first.
COMMON_DEFAULTS: dict[str, Any] = {
    'data_dir': '',  # Prepared TFDS data: '' = $ECGDEPTH_DATA_DIR, else ~/tensorflow_datasets.
    'train_fraction': 1.0,  # Stratified fraction of the training split used (fixed subset).
    'max_eval_examples': 0,  # Cap on validation/test examples (fixed subset); 0 = all.
    'label_noise': 0.0,  # Fraction of training labels flipped to another class (fixed).
    'label_noise_seed': 0,  # Which labels flip and to what; independent of config.seed.
    # Side features (where a dataset has them): 'zscore' with training-split statistics only
    # (ecgdepth/data/feature_norm.py), or 'none' (as stored).
    'feature_norm': 'zscore',
}
COMMON_RULES: dict[str, Rule] = {
    'name': STRING,
    'data_dir': PATH,
    'train_fraction': ((int, float), lambda v: 0.0 < v <= 1.0, 'a number in (0, 1]'),
    'max_eval_examples': NON_NEGATIVE_INT,
    'label_noise': PROBABILITY,
    'label_noise_seed': NON_NEGATIVE_INT,
    'feature_norm': choice('zscore', 'none'),
}

# --------------------------------------------------------------------------------------------
# What a dataset is to the trainer, and to the sweep before any data are loaded.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Dataset:
    """All splits of one dataset as arrays.

    splits[split] = {'x': float32 (N, T, C), 'y': int32 (N,)} (float32 targets when `task` is
    'regression'; `class_names` is then empty) plus, where the dataset has them,
    'mask': bool (N, T) (True = real signal, False = padding) and 'features': float32 (N, F)
    side features named by `feature_names` (e.g. RR intervals of a beat) and 'group': int32 (N,)
    the recording each example (a window) comes from, where a recording gives several.

    `scores` names the benchmark's own figures of merit, each the mean F1 over some classes
    (e.g. CinC 2017's challenge F1 over N, A and O): evaluation reports them beside accuracy
    and macro-F1, and `train.select_metric` may name them.
    """

    splits: dict[str, dict[str, np.ndarray]]
    class_names: tuple[str, ...]
    sample_rate: float
    name: str
    feature_names: tuple[str, ...] = ()
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # Provenance and counts.
    task: str = 'classification'  # Or 'regression': y holds real-valued targets.
    scores: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for score, classes in self.scores.items():
            unknown = sorted(set(classes) - set(self.class_names))
            if unknown or not classes:
                raise ValueError(
                    f'{self.name}: score {score!r} averages classes {list(classes)}, not all '
                    f'among its classes {list(self.class_names)}.'
                )
        for split, arrays in self.splits.items():
            missing = {'x', 'y'} - set(arrays)
            extra = set(arrays) - set(SPLIT_KEYS)
            if missing or extra:
                raise ValueError(
                    f'{self.name} split {split!r}: keys {sorted(arrays)}; need x and y, '
                    f'optionally mask, features and group'
                )
            if 'group' in arrays and split != 'train':  # Train labels may be flipped (noise).
                check_groups(arrays['group'], arrays['y'], f'{self.name} split {split!r}')

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int]:
        x = self.splits['train']['x']
        return int(x.shape[1]), int(x.shape[2])

    @property
    def num_features(self) -> int:
        return len(self.feature_names)


class InputSpec(NamedTuple):
    """What the model sees per example, from config.data alone: x is (time, channels);
    num_classes outputs (1 for regression); num_features side features; whether a padding
    mask (bool (time,)) comes with x. The mask is not a channel (the MI-MLP adds it as one)."""

    time: int
    channels: int
    num_classes: int
    num_features: int
    mask: bool


class DatasetModule(Protocol):
    """The names a dataset module exports (checked when the registry imports it).

    NAME: its registry name, `config.data.name`.
    DEFAULTS: its data-section fields besides COMMON_DEFAULTS, with their defaults.
    RULES: a Rule per DEFAULTS field; a data section holds COMMON_RULES and RULES, nothing else.
    RUNLOCAL: what `runlocal` sets (dotted config paths -> values), per variant: '*' for every
      variant, then the entry named by config.data.variant where the dataset has variants.
    task(data_config): the task the data pose ('classification' or 'regression'), or None
      where either fits (the labels decide; `check` rejects a task they cannot pose).
    check(config, task): raises ValueError naming the config field of anything invalid
      (values, cross-field rules, files, the task, train.batch_size against the train size).
    load(data_config): the Dataset, before the common changes (train_fraction, evaluation cap,
      side-feature normalisation, label noise: ecgdepth/data/__init__.py `load`).
    input_spec(config): the InputSpec, without loading the data where it can.
    Optional: scores(data_config) -> {name: classes}: the benchmark's scores (`Dataset.scores`)
      from the config alone, so that `train.select_metric` can name one before loading.
    """

    NAME: str
    DEFAULTS: dict[str, Any]
    RULES: dict[str, Rule]
    RUNLOCAL: dict[str, dict[str, Any]]

    def task(self, data_config: Any) -> str | None: ...

    def check(self, config: Any, task: str) -> None: ...

    def load(self, data_config: Any) -> Dataset: ...

    def input_spec(self, config: Any) -> InputSpec: ...


PROTOCOL = ('NAME', 'DEFAULTS', 'RULES', 'RUNLOCAL', 'task', 'check', 'load', 'input_spec')


def check_groups(group: np.ndarray, y: np.ndarray, where: str) -> None:
    """Windows of one recording share its label: a group with two labels is a loader bug."""
    group = np.asarray(group)
    if group.shape != np.shape(y) or not np.issubdtype(group.dtype, np.integer):
        raise ValueError(f'{where}: group must be integer with one entry per example')
    if len(group) and group.min() < 0:
        raise ValueError(f'{where}: group ids must be >= 0')
    order = np.lexsort((y, group))
    g, labels = group[order], np.asarray(y)[order]
    mixed = (g[1:] == g[:-1]) & (labels[1:] != labels[:-1])
    if mixed.any():
        raise ValueError(f'{where}: group {int(g[1:][mixed][0])} holds examples of two labels')


# --------------------------------------------------------------------------------------------
# What the datasets' modules share.
# --------------------------------------------------------------------------------------------


def resolve_data_dir(data_dir: str) -> str:
    """'' -> $ECGDEPTH_DATA_DIR, else ~/tensorflow_datasets; '~' is expanded."""
    if not data_dir:
        data_dir = os.environ.get(DATA_DIR_ENV) or os.path.join('~', 'tensorflow_datasets')
    return os.path.abspath(os.path.expanduser(data_dir))


def coerce_params(
    params: Mapping[str, Any],
    defaults: Mapping[str, Any],
    what: str,
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
) -> dict[str, Any]:
    """`params` over `defaults`, each converted to the type of its default (or by
    `convert[key]`); a key outside `defaults` or a value that does not convert raises
    ValueError naming `what`."""
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f'Unknown {what} parameters: {sorted(unknown)}')
    merged = {**defaults, **params}
    convert = convert or {}
    try:
        return {key: convert.get(key, type(value))(merged[key]) for key, value in defaults.items()}
    except (TypeError, ValueError) as e:
        raise ValueError(f'config.data: bad {what} parameter type: {e}') from e


def optional_text(value: Any) -> str:
    """A text field that may be None or '' (e.g. manual_dir): '' for either."""
    return str(value or '')


def pick_params(data_config: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `defaults` from `config.data` (a missing one takes its default)."""
    return {key: data_config.get(key, value) for key, value in defaults.items()}


def classification_task(data_config: Any) -> str:
    """The `task` of a dataset whose labels are classes, whatever its config."""
    del data_config
    return 'classification'


def require_classification(name: str, task: str) -> None:
    """The task check of a dataset that poses classification only."""
    if task != 'classification':
        raise ValueError(
            f'config.data.name={name!r} is a classification dataset but config.task is '
            f"{task!r}; set config.task='classification'."
        )


def log_split(label: str, split: str, arrays: Mapping[str, np.ndarray], note: str = '') -> None:
    """One line per loaded split: its size and example shape, then `note` (class counts...)."""
    logging.info(
        '%s %s: %d examples of shape %s%s',
        label,
        split,
        len(arrays['y']),
        arrays['x'].shape[1:],
        note,
    )


def class_counts(y: np.ndarray, names: tuple[str, ...], nonzero: bool = False) -> str:
    """'; per class N=3, A=1' for the log line of a split (classes without examples left out
    where `nonzero`)."""
    counts = np.bincount(y, minlength=len(names))
    pairs = zip(names, counts, strict=True)
    return '; per class ' + ', '.join(f'{n}={c}' for n, c in pairs if c or not nonzero)


def read_tfds_split(builder: Any, split: str, batch: int = 1024) -> dict[str, np.ndarray]:
    """Reads a whole prepared TFDS split into stacked numpy arrays, one per feature.

    Uses the array_record data source with batched reads (no TensorFlow).
    """
    source = builder.as_data_source(split)
    n = len(source)
    if n == 0:
        raise ValueError(f'{builder.name}/{builder.builder_config.name} split {split!r} is empty')
    columns: dict[str, list[np.ndarray]] = {}
    for start in range(0, n, batch):
        for record in source.__getitems__(range(start, min(start + batch, n))):
            for key, value in record.items():
                columns.setdefault(key, []).append(np.asarray(value))
    return {key: np.stack(values) for key, values in columns.items()}


def for_task(dataset: Dataset, task: str) -> Dataset:
    """The dataset as `task` poses it. Integer labels may be regressed on as numbers (user
    arrays of counts, say); real-valued targets never become classes."""
    if dataset.task == task:
        return dataset
    if task == 'regression' and dataset.task == 'classification':
        splits = {
            split: {**arrays, 'y': arrays['y'].astype(np.float32)}
            for split, arrays in dataset.splits.items()
        }
        return dataclasses.replace(dataset, splits=splits, class_names=(), task='regression')
    raise ValueError(
        f'{dataset.name} has real-valued targets (a regression task), but config.task is '
        f"{task!r}; set config.task='regression'."
    )
