"""Learning curves of a sweep's trials, read from each trial's metrics.jsonl (no JAX).

A run appends one record per log ('train': the interval's mean loss and accuracy), per
evaluation ('eval': 'validation' and 'train' metric dicts) and per diagnostics step. A resumed
run replays the steps after its last checkpoint, so a step may appear twice: the last record
wins. A torn last line (a writer killed mid-append) is skipped, not fatal to the report.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

import numpy as np

from ecgdepth import results
from ecgdepth import workdir as workdir_lib


@dataclasses.dataclass
class Curve:
    """One trial's values by step, steps increasing."""

    steps: list[int]
    values: list[float]


@dataclasses.dataclass
class Band:
    """Seeds' curves on the union of their steps: mean, min and max of the seeds at each step."""

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


def read_records(path: str) -> list[dict]:
    """metrics.jsonl's records ([] if absent); lines that do not parse are skipped."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get('step'), int):
                records.append(record)
    return records


def _value(record: dict, path: Sequence[str]) -> float | None:
    return results.lookup(record, path)


def curve(records: Sequence[dict], kind: str, path: Sequence[str]) -> Curve:
    """The value at `path` of every record of type `kind`, by step (the last of a step wins)."""
    by_step = {}
    for record in records:
        if record.get('type') == kind:
            value = _value(record, path)
            if value is not None:
                by_step[record['step']] = value
    steps = sorted(by_step)
    return Curve(steps, [by_step[s] for s in steps])


def trial_curves(workdir: str, trial: results.TrialResult, metric: str) -> dict[str, Curve]:
    """{'train': the logged training loss, 'val': the validation `metric` at each evaluation}."""
    path = os.path.join(workdir, trial.id, workdir_lib.METRICS_FILE)
    records = read_records(path)
    return {
        'train': curve(records, 'train', ('loss',)),
        'val': curve(records, 'eval', ('validation', metric)),
    }


def band(curves: Sequence[Curve]) -> Band | None:
    """Mean and min-max over the seeds that have each step; None if no curve has a point."""
    steps = sorted({s for c in curves for s in c.steps})
    if not steps:
        return None
    at = [dict(zip(c.steps, c.values, strict=True)) for c in curves]
    per_step = [[a[s] for a in at if s in a] for s in steps]
    return Band(
        np.asarray(steps, np.float64),
        np.array([np.mean(v) for v in per_step]),
        np.array([np.min(v) for v in per_step]),
        np.array([np.max(v) for v in per_step]),
    )


def row_bands(workdir: str, row: results.Row, metric: str) -> dict[str, Band | None]:
    """{'train', 'val'}: the band of the row's done trials."""
    curves = [trial_curves(workdir, t, metric) for t in row.done]
    return {part: band([c[part] for c in curves]) for part in ('train', 'val')}
