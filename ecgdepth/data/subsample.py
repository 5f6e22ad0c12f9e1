"""Deterministic changes to a loaded dataset: a training-data fraction, an evaluation cap and
training-label noise.

The training fraction and the label noise are knobs of the overfitting ablations (a model that
memorises flipped labels is overfitting, whatever its validation score); the evaluation cap
keeps `runlocal` runs on large datasets quick. All use fixed seeds, independent of the training
seed, so that runs with different seeds see the same examples and the same flipped labels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

SUBSET_SEED = 0


def stratified_indices(labels: np.ndarray, fraction: float, seed: int = SUBSET_SEED) -> np.ndarray:
    """Sorted indices of about `fraction` of each class (at least one per present class)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        take = max(1, round(fraction * len(members)))
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


def random_indices(n: int, limit: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """Sorted indices of `limit` of n examples drawn at random (all if limit is 0 or >= n)."""
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def take(arrays: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[index] for key, value in arrays.items()}


def cap(arrays: dict[str, np.ndarray], limit: int, seed: int = SUBSET_SEED) -> dict:
    """`limit` examples drawn at random, or where examples are windows of recordings
    ('group'), `limit` whole recordings: evaluation scores a recording as one."""
    if 'group' not in arrays:
        return take(arrays, random_indices(len(arrays['y']), limit, seed))
    groups = np.unique(arrays['group'])
    chosen = groups[random_indices(len(groups), limit, seed)]
    return take(arrays, np.flatnonzero(np.isin(arrays['group'], chosen)))


def limit(dataset, train_fraction: float = 1.0, max_eval_examples: int = 0):
    """The dataset with train subsampled (stratified by class; at random for real-valued
    targets) and validation/test capped (to whole recordings where examples are windows)."""
    if train_fraction >= 1.0 and not max_eval_examples:
        return dataset
    splits = dict(dataset.splits)
    if train_fraction < 1.0:
        train = splits['train']
        if np.issubdtype(train['y'].dtype, np.integer):
            index = stratified_indices(train['y'], train_fraction)
        else:
            n = len(train['y'])
            index = random_indices(n, max(1, round(train_fraction * n)))
        splits['train'] = take(train, index)
    for name in ('validation', 'test'):
        splits[name] = cap(splits[name], max_eval_examples)
    info = {
        **dataset.info,
        'train_fraction': train_fraction,
        'max_eval_examples': max_eval_examples,
    }
    return dataclasses.replace(dataset, splits=splits, info=info)


def flip_labels(dataset, fraction: float = 0.0, seed: int = 0):
    """The dataset with round(fraction * N) training labels, chosen at random from `seed`, each
    replaced by a different class drawn uniformly. Validation and test keep their labels.

    Records what was done in `dataset.info`: label_noise (the fraction asked for),
    label_noise_seed, label_noise_flipped (a count) and label_noise_flipped_fraction.
    """
    if not fraction:
        return dataset
    if dataset.task != 'classification' or dataset.num_classes < 2:
        raise ValueError(
            f'config.data.label_noise={fraction} flips class labels, but {dataset.name} is not '
            'a classification dataset with two or more classes.'
        )
    train = dict(dataset.splits['train'])
    y = train['y'].copy()
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(y), size=round(fraction * len(y)), replace=False)
    shift = rng.integers(1, dataset.num_classes, size=len(flipped))
    y[flipped] = (y[flipped] + shift) % dataset.num_classes
    train['y'] = y
    info = {
        **dataset.info,
        'label_noise': fraction,
        'label_noise_seed': seed,
        'label_noise_flipped': int(np.sum(y != dataset.splits['train']['y'])),
        'label_noise_flipped_fraction': float(np.mean(y != dataset.splits['train']['y'])),
    }
    splits = {**dataset.splits, 'train': train}
    return dataclasses.replace(dataset, splits=splits, info=info)
