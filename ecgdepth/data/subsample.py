"""Deterministic subsets of a loaded dataset: a training-data fraction and an evaluation cap.

The training fraction is the knob of the overfitting ablations; the evaluation cap keeps
`runlocal` runs on large datasets quick. Both use a fixed seed, independent of the training
seed, so that runs with different seeds see the same examples.
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


def limit(dataset, train_fraction: float = 1.0, max_eval_examples: int = 0):
    """The dataset with train subsampled (stratified) and validation/test capped."""
    if train_fraction >= 1.0 and not max_eval_examples:
        return dataset
    splits = dict(dataset.splits)
    if train_fraction < 1.0:
        train = splits['train']
        splits['train'] = take(train, stratified_indices(train['y'], train_fraction))
    for name in ('validation', 'test'):
        splits[name] = take(splits[name], random_indices(len(splits[name]['y']), max_eval_examples))
    info = {
        **dataset.info,
        'train_fraction': train_fraction,
        'max_eval_examples': max_eval_examples,
    }
    return dataclasses.replace(dataset, splits=splits, info=info)
