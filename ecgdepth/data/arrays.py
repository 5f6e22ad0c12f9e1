"""User-supplied arrays: ``data.name='arrays'`` trains on one .npz file per split.

Why: every experiment here (depth, width, regularisation sweeps) can then run on a user's own
data without writing a builder. Each file (``np.savez(path, x=..., y=...)``) holds

- ``x``: float (N, T, C), N examples of T samples and C channels (float32 after loading);
- ``y``: (N,), integer class ids 0..K-1 for ``config.task='classification'``, or numbers (the
  targets) for ``'regression'``;
- ``mask`` (optional): bool (N, T), True = real signal, False = padding (in every file or none).

Other keys are ignored. The three files (``train_path``, ``validation_path``, ``test_path``)
must agree on T, C and whether there is a mask. Every file is checked by the config validator
(``check``: ``check_files``, ``check_task``) before any compute, and an error names the file,
the config field and the key. The number of classes is ``num_classes``, else the length of
``class_names``, else the largest label in any split + 1.
"""

from __future__ import annotations

import functools
import os
import zipfile
from typing import Any

import numpy as np

from ecgdepth.data import base

NAME = 'arrays'
SPLIT_FIELDS = {'train': 'train_path', 'validation': 'validation_path', 'test': 'test_path'}

# The data section's fields besides the common ones (base.COMMON_DEFAULTS), with defaults.
DEFAULTS: dict[str, Any] = {
    'train_path': '',  # .npz with x (N, T, C) and y (N,); required.
    'validation_path': '',  # Same layout; picks the best step.
    'test_path': '',  # Same layout; evaluated once, at the best step.
    'class_names': '',  # Comma-separated names, in class-id order; '' = '0', '1', ...
    'num_classes': 0,  # 0 = len(class_names) if given, else the largest label + 1.
    'sample_rate': 1.0,  # Hz; only converts receptive fields and spans to seconds.
}
RULES: dict[str, base.Rule] = {
    'train_path': (str, None, 'a path to a .npz file'),
    'validation_path': (str, None, 'a path to a .npz file'),
    'test_path': (str, None, 'a path to a .npz file'),
    'class_names': (str, None, 'comma-separated names or empty'),
    'num_classes': base.NON_NEGATIVE_INT,
    'sample_rate': base.POSITIVE,
}
# `runlocal`: a quick evaluation.
RUNLOCAL: dict[str, dict[str, Any]] = {'*': {'data.max_eval_examples': 512}}


def _where(data_config: Any, split: str) -> str:
    field = SPLIT_FIELDS[split]
    return f'{data_config.get(field, "")} (config.data.{field})'


@functools.lru_cache(maxsize=6)
def _read(path: str, mtime_ns: int, size: int) -> dict[str, np.ndarray]:
    del mtime_ns, size  # Cache keys only: a rewritten file is read again.
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for value in arrays.values():
        value.flags.writeable = False  # Cached and shared: nobody may change it in place.
    return arrays


def read_file(data_config: Any, split: str) -> dict[str, np.ndarray]:
    """The arrays of one split's file (read once per file version, then cached)."""
    field = SPLIT_FIELDS[split]
    path = str(data_config.get(field, ''))
    if not path:
        raise ValueError(f'config.data.{field} is empty; give the {split} split as a .npz file.')
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise ValueError(f'config.data.{field}: no file at {path}.')
    stat = os.stat(path)
    try:
        arrays = _read(path, stat.st_mtime_ns, stat.st_size)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(
            f'{_where(data_config, split)} is not a readable .npz file: {error}'
        ) from None
    if not isinstance(arrays, dict):
        raise ValueError(f'{_where(data_config, split)} is not a .npz file (use np.savez).')
    return arrays


def _first_bad(bad: np.ndarray) -> str:
    flat = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))
    return f'{int(bad.sum())} value(s), first in example {int(flat[0])}'


def _check_split(data_config: Any, split: str, arrays: dict[str, np.ndarray]) -> None:
    where = _where(data_config, split)
    missing = [key for key in ('x', 'y') if key not in arrays]
    if missing:
        raise ValueError(
            f'{where} has no key {" or ".join(repr(k) for k in missing)}; it holds '
            f'{sorted(arrays)}. Expected x (N, T, C) float and y (N,).'
        )
    x, y = arrays['x'], arrays['y']
    if x.ndim != 3:
        hint = ' (one channel: save x[..., None])' if x.ndim == 2 else ''
        raise ValueError(f"{where}: key 'x' has shape {x.shape}; expected (N, T, C){hint}.")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{where}: key 'x' has dtype {x.dtype}; expected a float array.")
    if min(x.shape) == 0:
        raise ValueError(f"{where}: key 'x' has shape {x.shape}; no dimension may be 0.")
    if y.shape != (len(x),):
        raise ValueError(
            f"{where}: key 'y' has shape {y.shape} but 'x' holds {len(x)} examples; "
            f'expected ({len(x)},).'
        )
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise ValueError(f"{where}: key 'y' has dtype {y.dtype}; expected numbers.")
    for key, value in (('x', x), ('y', y)):
        if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
            bad = ~np.isfinite(value)
            raise ValueError(f"{where}: key '{key}' has NaN or inf: {_first_bad(bad)}.")
    if 'mask' in arrays:
        mask = arrays['mask']
        if mask.shape != x.shape[:2]:
            raise ValueError(
                f"{where}: key 'mask' has shape {mask.shape}; expected (N, T) = {x.shape[:2]}."
            )
        if mask.dtype != bool:
            raise ValueError(f"{where}: key 'mask' has dtype {mask.dtype}; expected bool.")


def _class_count(data_config: Any) -> int:
    """num_classes or len(class_names) (0 if neither is set); they must agree when both are."""
    names = _class_names(data_config)
    num = int(data_config.get('num_classes', 0))
    if num < 0:
        raise ValueError(f'config.data.num_classes must be >= 0, got {num}.')
    if names and num and len(names) != num:
        raise ValueError(
            f'config.data.class_names names {len(names)} classes but config.data.num_classes '
            f'is {num}.'
        )
    return num or len(names)


def _class_names(data_config: Any) -> tuple[str, ...]:
    text = str(data_config.get('class_names', '')).strip()
    if not text:
        return ()
    names = tuple(name.strip() for name in text.split(','))
    if any(not name for name in names) or len(set(names)) != len(names):
        raise ValueError(
            f'config.data.class_names must be distinct, non-empty, comma-separated names, got '
            f'{text!r}.'
        )
    return names


def check_files(data_config: Any) -> None:
    """Reads the three files and checks everything that does not depend on the task."""
    if float(data_config.get('sample_rate', 1.0)) <= 0:
        raise ValueError(
            f'config.data.sample_rate must be > 0, got {data_config.get("sample_rate")}.'
        )
    _class_count(data_config)
    reference = None
    for split in SPLIT_FIELDS:
        arrays = read_file(data_config, split)
        _check_split(data_config, split, arrays)
        shape = (arrays['x'].shape[1:], 'mask' in arrays)
        if reference is None:
            reference = shape
        elif shape[0] != reference[0]:
            raise ValueError(
                f"{_where(data_config, split)}: key 'x' has examples of shape (T, C) = "
                f"{shape[0]} but the training file's are {reference[0]}; every split must agree."
            )
        elif shape[1] != reference[1]:
            has = 'has' if shape[1] else 'has no'
            other = 'does' if reference[1] else 'does not'
            raise ValueError(
                f"{_where(data_config, split)} {has} key 'mask' but the training file {other}; "
                'give a mask in every file or in none.'
            )


def check_task(data_config: Any, task: str) -> None:
    """Checks the labels against config.task: class ids in range, or finite numbers."""
    count = _class_count(data_config)
    labels = {split: read_file(data_config, split)['y'] for split in SPLIT_FIELDS}
    if task == 'regression':
        if count:
            raise ValueError(
                'config.data.class_names and config.data.num_classes apply to config.task='
                "'classification' only; leave them unset for regression."
            )
        return
    for split, y in labels.items():
        if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
            raise ValueError(
                f"{_where(data_config, split)}: key 'y' has dtype {y.dtype}, but "
                "config.task='classification' needs integer class ids 0..K-1 (save "
                "y.astype(int)); for real-valued targets set config.task='regression'."
            )
    num = _num_classes(data_config, labels)
    for split, y in labels.items():
        bad = (y < 0) | (y >= num)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            source = (
                f'{num} classes (config.data.num_classes / class_names)'
                if count
                else 'class ids must be >= 0'
            )
            raise ValueError(
                f"{_where(data_config, split)}: key 'y' has label {int(y[i])} at example {i}, "
                f'out of range for {source}.'
            )
    if num < 2:
        raise ValueError(
            f"{_where(data_config, 'train')}: key 'y' holds a single class; classification "
            'needs two or more (set config.data.num_classes if some are absent from the files).'
        )


def _integer(labels: dict[str, np.ndarray]) -> bool:
    return all(np.issubdtype(y.dtype, np.integer) or y.dtype == bool for y in labels.values())


def _num_classes(data_config: Any, labels: dict[str, np.ndarray]) -> int:
    """num_classes, else len(class_names), else the largest label in any split + 1."""
    return _class_count(data_config) or max(int(y.max()) for y in labels.values()) + 1


# --------------------------------------------------------------------------------------------
# The data protocol (ecgdepth/data/base.py: DatasetModule).
# --------------------------------------------------------------------------------------------


def task(data_config: Any) -> None:
    """Either task: integer labels may be classes or numbers, real-valued ones are targets
    (`check` rejects a task the files cannot pose)."""
    del data_config


def check(config: Any, task: str) -> None:
    """The three files, then their labels against config.task."""
    check_files(config.data)
    check_task(config.data, task)


def input_spec(config: Any) -> base.InputSpec:
    """From the files (read once, then cached): the training file's shape and mask; one output
    for regression, else the class count `load` gives (0 for real-valued labels)."""
    data = config.data
    train = read_file(data, 'train')
    _, time, channels = train['x'].shape
    if config.get('task') == 'regression':
        outputs = 1
    else:
        labels = {split: read_file(data, split)['y'] for split in SPLIT_FIELDS}
        outputs = _num_classes(data, labels) if _integer(labels) else 0
    return base.InputSpec(time, channels, outputs, 0, 'mask' in train)


def load(data_config: Any) -> base.Dataset:
    """Registry loader for ``config.data.name == 'arrays'``.

    Integer labels load as a classification dataset, real-valued ones as regression targets;
    the trainer then poses config.task (``ecgdepth.data.for_task``).
    """
    check_files(data_config)
    raw = {split: read_file(data_config, split) for split in SPLIT_FIELDS}
    integer = _integer({split: arrays['y'] for split, arrays in raw.items()})
    splits = {}
    for split, arrays in raw.items():
        out = {  # No copy where the file already has these dtypes.
            'x': np.asarray(arrays['x'], np.float32),
            'y': np.asarray(arrays['y'], np.int32 if integer else np.float32),
        }
        if 'mask' in arrays:
            out['mask'] = arrays['mask']
        splits[split] = out
        base.log_split(NAME, split, out, f' from {data_config.get(SPLIT_FIELDS[split])}')
    class_names: tuple[str, ...] = ()
    if integer:  # The labels were checked against config.task by the validator.
        num = _num_classes(data_config, {split: out['y'] for split, out in splits.items()})
        class_names = _class_names(data_config) or tuple(str(i) for i in range(num))
    return base.Dataset(
        splits=splits,
        class_names=class_names,
        sample_rate=float(data_config.get('sample_rate', 1.0)),
        name=NAME,
        task='classification' if integer else 'regression',
        info={f'{split}_path': str(data_config.get(f)) for split, f in SPLIT_FIELDS.items()},
    )
