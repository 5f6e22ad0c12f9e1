"""Side features standardised with training statistics only (`config.data.feature_norm`).

Why: side features join the classifier head beside a learned representation, and their scales
differ by orders of magnitude (RR intervals in seconds, ratios near 1, ...); unscaled, one
feature dominates the head's initial logits. The mean and standard deviation come from the
training split alone (after `train_fraction`, so from the examples actually trained on) and are
applied to every split: statistics of validation or test data would leak into training. They
are recorded in `Dataset.info['feature_norm']`, which summary.json keeps.
"""

from __future__ import annotations

import dataclasses

import numpy as np

METHODS = ('zscore', 'none')


def train_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per feature of the training features (N, F), in float64."""
    features = np.asarray(features, np.float64)
    return features.mean(0), features.std(0)


def apply(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(features - mean) / std as float32; a feature of zero (or non-finite) std on the training
    split is only centred, never divided by zero."""
    scale = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return ((np.asarray(features, np.float64) - mean) / scale).astype(np.float32)


def standardise(dataset, mean: np.ndarray, std: np.ndarray):
    """The dataset with every split's side features standardised by the given statistics."""
    splits = {
        split: {**arrays, 'features': apply(arrays['features'], mean, std)}
        for split, arrays in dataset.splits.items()
    }
    return dataclasses.replace(dataset, splits=splits)


def normalize(dataset, method: str = 'zscore'):
    """The dataset with its side features standardised by `method` ('zscore': training mean
    and std; 'none': unchanged). A dataset without side features is returned as it is; one
    with them records `info['feature_norm']` = {'method', 'names', and for 'zscore' 'mean'
    and 'std' per feature, as computed on the training split}."""
    if method not in METHODS:
        raise ValueError(f'config.data.feature_norm must be one of {METHODS}, got {method!r}')
    if 'features' not in dataset.splits['train']:
        return dataset
    record = {'method': method, 'names': list(dataset.feature_names)}
    if method == 'none':
        return dataclasses.replace(dataset, info={**dataset.info, 'feature_norm': record})
    mean, std = train_statistics(dataset.splits['train']['features'])
    record.update(mean=[float(v) for v in mean], std=[float(v) for v in std])
    dataset = standardise(dataset, mean, std)
    return dataclasses.replace(dataset, info={**dataset.info, 'feature_norm': record})
