"""Dataset registry: ``load(config.data)`` -> in-memory numpy splits.

`DATASETS` maps each `config.data.name` to the module that implements it (the protocol of
ecgdepth/data/base.py: `DatasetModule`); the module is imported only when first used, since
the real datasets import TFDS and building a config or reading results must not need it.
`register(name, 'package.module')` adds one (a config file may call it before `get_config`).
The trainer only sees :class:`Dataset`. Datasets are small enough (ECG windows) to hold fully
in memory, which keeps the JAX input pipeline trivial.

TFDS users: after ``import ecgdepth.data``, ``tfds.builder('mitbih/beats')`` and
``tfds.builder('cinc2017')`` work if TFDS was imported first; otherwise call
``ecgdepth.data.register_tfds()`` (importing TFDS here would slow every config build).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from ecgdepth.data import base
from ecgdepth.data.base import (
    DATA_DIR_ENV,
    SPLIT_KEYS,
    SPLITS,
    DataError,
    Dataset,
    DatasetModule,
    InputSpec,
    for_task,
    read_tfds_split,
    resolve_data_dir,
)

# config.data.name -> the dataset's module (a dotted module path, imported on first use).
DATASETS: dict[str, str | ModuleType] = {
    'synthetic': 'ecgdepth.data.synthetic',
    'mitbih': 'ecgdepth.data.mitbih',
    'cinc2017': 'ecgdepth.data.cinc2017',
    'arrays': 'ecgdepth.data.arrays',
}


def register(name: str, module: str | ModuleType) -> None:
    """Makes `module` (a dotted path, importable where the config is built, checked and
    trained, or the module itself) the dataset `config.data.name == name`."""
    if not isinstance(name, str) or not name:
        raise ValueError(f'A dataset name must be a non-empty string, got {name!r}.')
    DATASETS[name] = module


def register_tfds() -> None:
    """Lets tfds.builder, tfds.load and tfds.data_source find 'mitbih' and 'cinc2017' by name
    (their modules are imported on first lookup). Imports TFDS; repeated calls do nothing."""
    from ecgdepth.data import tfds_prep

    tfds_prep.register()


def registered() -> dict[str, str]:
    """The registry as dotted module paths: what another process registers to know the same
    datasets (a sweep's worker processes)."""
    return {name: m if isinstance(m, str) else m.__name__ for name, m in DATASETS.items()}


def dataset(name: str) -> DatasetModule:
    """The module of dataset `name`, imported on first use and checked against the protocol."""
    if name not in DATASETS:
        raise ValueError(
            f'config.data.name={name!r} is not a dataset; choose one of {sorted(DATASETS)}.'
        )
    entry = DATASETS[name]
    module = importlib.import_module(entry) if isinstance(entry, str) else entry
    missing = [key for key in base.PROTOCOL if not hasattr(module, key)]
    if missing or module.NAME != name:
        raise TypeError(
            f'Dataset {name!r}: module {module.__name__} does not implement the data protocol '
            f'(ecgdepth/data/base.py: DatasetModule): '
            + (f'it lacks {missing}.' if missing else f'its NAME is {module.NAME!r}.')
        )
    return module  # type: ignore[return-value]


def input_spec(config: Any) -> InputSpec:
    """The example shape, output count, side-feature count and mask of config.data, from the
    config alone (no training run; arrays reads its files)."""
    return dataset(config.data.get('name')).input_spec(config)


def scores(data_config: Any) -> dict[str, tuple[str, ...]]:
    """The benchmark scores (name -> the classes whose F1 it averages) the dataset of
    `data_config` reports, from the config alone; {} for a dataset that declares none."""
    module = dataset(data_config.get('name'))
    declared = getattr(module, 'scores', None)
    return dict(declared(data_config)) if declared is not None else {}


def load(data_config: Any) -> Dataset:
    """Dispatches on ``data_config.name`` to the dataset's loader, then takes the training
    fraction and evaluation cap, standardises side features with the statistics of that
    training subset (``feature_norm``) and flips ``label_noise`` of the training labels."""
    name = data_config.get('name', None) if hasattr(data_config, 'get') else None
    module = dataset(name)
    try:
        loaded = module.load(data_config)
    except DataError:
        raise
    except (ValueError, OSError) as error:  # What a user's files or data fields can cause.
        raise DataError(f'{name}: {error}') from error
    from ecgdepth.data import feature_norm, subsample

    loaded = subsample.limit(
        loaded,
        train_fraction=data_config.get('train_fraction', 1.0),
        max_eval_examples=data_config.get('max_eval_examples', 0),
    )
    loaded = feature_norm.normalize(loaded, data_config.get('feature_norm', 'zscore'))
    return subsample.flip_labels(
        loaded,
        fraction=data_config.get('label_noise', 0.0),
        seed=data_config.get('label_noise_seed', 0),
    )


if 'tensorflow_datasets' in sys.modules:  # Free then: TFDS is loaded, the builders are not.
    register_tfds()

__all__ = [
    'DATASETS',
    'DATA_DIR_ENV',
    'SPLITS',
    'SPLIT_KEYS',
    'DataError',
    'Dataset',
    'DatasetModule',
    'InputSpec',
    'dataset',
    'for_task',
    'input_spec',
    'load',
    'read_tfds_split',
    'register',
    'register_tfds',
    'registered',
    'scores',
    'resolve_data_dir',
]
