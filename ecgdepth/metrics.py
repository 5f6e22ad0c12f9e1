"""Classification metrics from a confusion matrix (rows: true class, columns: predicted), and
regression metrics from summed errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise ratio, NaN where the denominator is zero (an undefined rate, not 0)."""
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_metrics(confusion: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1 and per-class sensitivity (recall) and positive predictivity (precision).

    Macro-F1 averages F1 over classes present in the truth or the predictions; a class with
    neither is left out rather than counted as 0 or 1.
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
    return {
        'accuracy': float(true_positives.sum() / total) if total else float('nan'),
        'macro_f1': float(np.mean(f1[seen])) if seen.any() else float('nan'),
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
