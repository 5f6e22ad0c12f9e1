"""Dataset registry: ``load(config.data)`` -> in-memory numpy splits.

The trainer only sees :class:`Dataset`; each registered loader turns a ``config.data``
ConfigDict (``name``, ``data_dir`` and loader-specific keys) into one. Datasets are small
enough (ECG windows) to hold fully in memory, which keeps the JAX input pipeline trivial.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import numpy as np

SPLITS = ('train', 'validation', 'test')
DATA_DIR_ENV = 'ECGDEPTH_DATA_DIR'


@dataclasses.dataclass(frozen=True)
class Dataset:
    """All splits of one dataset as arrays: x float32 (N, T, C), y int32 (N,)."""

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    class_names: tuple[str, ...]
    sample_rate: float
    name: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int]:
        x = self.splits['train'][0]
        return int(x.shape[1]), int(x.shape[2])


def resolve_data_dir(data_dir: str) -> str:
    """'' -> $ECGDEPTH_DATA_DIR, else ~/tensorflow_datasets; '~' is expanded."""
    if not data_dir:
        data_dir = os.environ.get(DATA_DIR_ENV) or os.path.join('~', 'tensorflow_datasets')
    return os.path.abspath(os.path.expanduser(data_dir))


def _load_synthetic(data_config: Any) -> Dataset:
    # Imported lazily so `import ecgdepth.data` stays cheap for code that never loads data.
    from ecgdepth.data import synthetic

    return synthetic.load(data_config)


def _check_synthetic(data_config: Any) -> None:
    from ecgdepth.data import synthetic

    synthetic.params_from_config(data_config)


DATASETS: dict[str, Callable[[Any], Dataset]] = {
    'synthetic': _load_synthetic,
}

# Dataset-specific checks that need no data (e.g. a motif must fit its window): run by the
# config validator before any compute. Each raises ValueError naming the config.data field.
CHECKS: dict[str, Callable[[Any], None]] = {
    'synthetic': _check_synthetic,
}


def load(data_config: Any) -> Dataset:
    """Dispatches on ``data_config.name`` to the registered loader."""
    name = data_config.get('name', None) if hasattr(data_config, 'get') else None
    if name not in DATASETS:
        raise ValueError(f'Unknown dataset config.data.name={name!r}; choices: {sorted(DATASETS)}')
    return DATASETS[name](data_config)


__all__ = ['CHECKS', 'DATASETS', 'DATA_DIR_ENV', 'SPLITS', 'Dataset', 'load', 'resolve_data_dir']
