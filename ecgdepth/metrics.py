"""Classification metrics from a confusion matrix (rows: true class, columns: predicted), and
regression metrics from summed errors.

Benchmarks judge by their own figures, each a mean F1 over some of their classes (`scores`):
PhysioNet/CinC 2017's challenge F1 is the mean F1 of N, A and O (noise excluded; Clifford et
al. 2017), and MIT-BIH beat classifiers are compared by the AAMI four-class macro-F1 (N, S, V,
F; Q excluded). Where a recording gives several windows ('group'), the recording is scored
once, from its windows' averaged logits, as the challenge scores whole records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise ratio, NaN where the denominator is zero (an undefined rate, not 0)."""
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_metrics(
    confusion: np.ndarray,
    class_names: Sequence[str],
    scores: Mapping[str, Sequence[str]] | None = None,
) -> dict:
    """Accuracy, macro-F1, per-class sensitivity (recall) and positive predictivity (precision),
    and each of `scores` (name -> classes): the mean F1 of those classes.

    Macro-F1 (and a score) averages F1 over classes present in the truth or the predictions; a
    class with neither is left out rather than counted as 0 or 1.
    """
    confusion = np.asarray(confusion, np.float64)
    true_positives = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    sensitivity = _safe_divide(true_positives, support)
    ppv = _safe_divide(true_positives, predicted)
    f1 = _safe_divide(2 * true_positives, support + predicted)
    total = confusion.sum()
    seen = (support + predicted) > 0
    names = list(class_names)
    chosen = {
        name: np.array([names.index(c) for c in classes], np.int64)
        for name, classes in (scores or {}).items()
    }
    return {
        'accuracy': float(true_positives.sum() / total) if total else float('nan'),
        'macro_f1': _mean_f1(f1, seen),
        **{name: _mean_f1(f1[index], seen[index]) for name, index in chosen.items()},
        'per_class': {
            name: {
                'sensitivity': _none_if_nan(sensitivity[i]),
                'ppv': _none_if_nan(ppv[i]),
                'f1': _none_if_nan(f1[i]),
                'support': int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        'confusion': confusion.astype(np.int64).tolist(),
    }


def _mean_f1(f1: np.ndarray, seen: np.ndarray) -> float:
    return float(np.mean(f1[seen])) if seen.any() else float('nan')


def group_confusion(
    logits: np.ndarray, labels: np.ndarray, groups: np.ndarray, num_classes: int
) -> np.ndarray:
    """The confusion matrix of recordings: each group's prediction is the argmax of its
    examples' mean logits, its truth their (shared) label."""
    ids, inverse = np.unique(np.asarray(groups), return_inverse=True)
    logits = np.asarray(logits, np.float64)
    sums = np.zeros((len(ids), logits.shape[-1]))
    np.add.at(sums, inverse, logits)
    counts = np.bincount(inverse, minlength=len(ids))[:, None]
    truth = np.zeros(len(ids), np.int64)
    truth[inverse] = np.asarray(labels, np.int64)
    predicted = (sums / counts).argmax(axis=-1)
    confusion = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    return confusion


def _none_if_nan(value: float) -> float | None:
    """JSON has no NaN: an undefined rate is written as null."""
    return None if np.isnan(value) else float(value)


def regression_metrics(squared_sum: float, abs_sum: float, count: float, targets) -> dict:
    """MSE, MAE, R² and the MSE of always predicting the split's mean (`baseline_mse`, the
    target variance: the score a model that learnt nothing gets; R² = 1 - mse / baseline_mse).

    The sums come from the device; the targets (host, float64) give the baseline exactly.
    """
    count = float(count)
    mse = float(squared_sum) / count if count else float('nan')
    targets = np.asarray(targets, np.float64)
    baseline = float(np.var(targets)) if len(targets) else float('nan')
    r2 = 1.0 - mse / baseline if baseline > 0 else float('nan')
    return {
        'loss': mse,
        'mse': mse,
        'mae': float(abs_sum) / count if count else float('nan'),
        'r2': r2,
        'baseline_mse': baseline,
    }
