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


# The arrays of one split. 'x' and 'y' always; 'mask' where examples are padded (a model must
# not see padding as signal); 'features' where the dataset has side features per example.
SPLIT_KEYS = ('x', 'y', 'mask', 'features')


@dataclasses.dataclass(frozen=True)
class Dataset:
    """All splits of one dataset as arrays.

    splits[split] = {'x': float32 (N, T, C), 'y': int32 (N,)} (float32 targets when `task` is
    'regression'; `class_names` is then empty) plus, where the dataset has them,
    'mask': bool (N, T) (True = real signal, False = padding) and 'features': float32 (N, F)
    side features named by `feature_names` (e.g. RR intervals of a beat).
    """

    splits: dict[str, dict[str, np.ndarray]]
    class_names: tuple[str, ...]
    sample_rate: float
    name: str
    feature_names: tuple[str, ...] = ()
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # Provenance and counts.
    task: str = 'classification'  # Or 'regression': y holds real-valued targets.

    def __post_init__(self):
        for split, arrays in self.splits.items():
            missing = {'x', 'y'} - set(arrays)
            extra = set(arrays) - set(SPLIT_KEYS)
            if missing or extra:
                raise ValueError(
                    f'{self.name} split {split!r}: keys {sorted(arrays)}; need x and y, '
                    f'optionally mask and features'
                )

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


def _load_cinc2017(data_config: Any) -> Dataset:
    from ecgdepth.data import cinc2017

    return cinc2017.load(data_config)


def _check_cinc2017(data_config: Any) -> None:
    from ecgdepth.data import cinc2017

    cinc2017.params_from_config(data_config)


def _load_mitbih(data_config: Any) -> Dataset:
    from ecgdepth.data import mitbih

    return mitbih.load(data_config)


def _check_mitbih(data_config: Any) -> None:
    from ecgdepth.data import mitbih

    mitbih.params_from_config(data_config)


def _load_arrays(data_config: Any) -> Dataset:
    from ecgdepth.data import arrays

    return arrays.load(data_config)


def _check_arrays(data_config: Any) -> None:
    from ecgdepth.data import arrays

    arrays.check(data_config)


def _task_synthetic(data_config: Any, task: str) -> None:
    from ecgdepth.data import synthetic

    variant = synthetic.params_from_config(data_config)['variant']
    wanted = synthetic.TASKS[variant]
    if task != wanted:
        raise ValueError(
            f'config.data.variant={variant!r} is a {wanted} task but config.task is {task!r}; '
            f'set config.task={wanted!r} (spec key task={wanted}).'
        )


def _task_classification(name: str) -> Callable[[Any, str], None]:
    def check(data_config: Any, task: str) -> None:
        del data_config
        if task != 'classification':
            raise ValueError(
                f'config.data.name={name!r} is a classification dataset but config.task is '
                f"{task!r}; set config.task='classification'."
            )

    return check


def _task_arrays(data_config: Any, task: str) -> None:
    from ecgdepth.data import arrays

    arrays.check_task(data_config, task)


DATASETS: dict[str, Callable[[Any], Dataset]] = {
    'synthetic': _load_synthetic,
    'cinc2017': _load_cinc2017,
    'mitbih': _load_mitbih,
    'arrays': _load_arrays,
}

# Dataset-specific checks that need no data (e.g. a motif must fit its window): run by the
# config validator before any compute. Each raises ValueError naming the config.data field.
CHECKS: dict[str, Callable[[Any], None]] = {
    'synthetic': _check_synthetic,
    'cinc2017': _check_cinc2017,
    'mitbih': _check_mitbih,
    'arrays': _check_arrays,
}

# Whether a dataset can pose config.task ('classification' or 'regression'): run by the config
# validator after CHECKS. Each raises ValueError naming the config fields to change.
TASK_CHECKS: dict[str, Callable[[Any, str], None]] = {
    'synthetic': _task_synthetic,
    'cinc2017': _task_classification('cinc2017'),
    'mitbih': _task_classification('mitbih'),
    'arrays': _task_arrays,
}


def load(data_config: Any) -> Dataset:
    """Dispatches on ``data_config.name`` to the registered loader, then takes the training
    fraction and evaluation cap and flips ``label_noise`` of the training labels."""
    name = data_config.get('name', None) if hasattr(data_config, 'get') else None
    if name not in DATASETS:
        raise ValueError(f'Unknown dataset config.data.name={name!r}; choices: {sorted(DATASETS)}')
    dataset = DATASETS[name](data_config)
    from ecgdepth.data import subsample

    dataset = subsample.limit(
        dataset,
        train_fraction=data_config.get('train_fraction', 1.0),
        max_eval_examples=data_config.get('max_eval_examples', 0),
    )
    return subsample.flip_labels(
        dataset,
        fraction=data_config.get('label_noise', 0.0),
        seed=data_config.get('label_noise_seed', 0),
    )


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


__all__ = [
    'CHECKS',
    'DATASETS',
    'TASK_CHECKS',
    'for_task',
    'SPLIT_KEYS',
    'read_tfds_split',
    'DATA_DIR_ENV',
    'SPLITS',
    'Dataset',
    'load',
    'resolve_data_dir',
]
