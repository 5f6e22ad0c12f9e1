"""The workdir contract: every file a run or a sweep writes, the status words, and summary.json.

The ground floor of the package: it imports only the standard library and ecgdepth.files, so a
reader of results (tables, findings, plots, SLURM --wait) needs neither JAX nor the trainer.

A run's workdir R (train_and_evaluate):
    R/config.json     the run's config (a relaunch must match it to resume)
    R/metrics.jsonl   one record per log, eval, diagnostics step or divergence (appended)
    R/tensorboard/    the records' numbers as TensorBoard scalars (`tensorboard --logdir R`)
    R/log.txt         what the run logged (appended when it resumes)
    R/summary.json    the run's Summary: its status, best step and that step's metrics
    R/checkpoints/    orbax checkpoints (train state, best params, loop bookkeeping)
    R/seed_<s>/       with train.vmap_seeds > 1: seed s's own config, metrics, tensorboard
                      and summary (R/log.txt has every seed's lines)
A sweep's workdir W (ecgdepth/trial.py):
    W/sweep.json      the trial list (index, id, overrides, config hash)
    W/<trial-id>/     a run's workdir R, plus status.json and, while a worker runs it, claim.lock
    W/report/         the report: tables, figures, report.md (ecgdepth/report.py)
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from ecgdepth import files

CONFIG_FILE = 'config.json'  # The run's config, as ConfigDict.to_json_best_effort.
METRICS_FILE = 'metrics.jsonl'  # Records of type train, eval, diagnostics or diverged.
TENSORBOARD_DIR = 'tensorboard'  # Event files of METRICS_FILE's numbers (train/events.py).
LOG_FILE = 'log.txt'  # The run's log lines, as the console shows them (ecgdepth/logs.py).
SUMMARY_FILE = 'summary.json'  # Summary.to_dict(): status, best step, its metrics.
CHECKPOINT_DIR = 'checkpoints'  # orbax's: one folder per saved step.
# The params validation selected (the best step's), as flax msgpack; written when a run
# finishes, whatever its checkpointing, so that it can be scored on other data (--evaluate).
BEST_PARAMS_FILE = 'best_params.msgpack'
EVAL_DIR = 'eval'  # --evaluate=NAME writes EVAL_DIR/NAME/summary.json.
COMPILATION_CACHE_DIR = 'compilation_cache'  # The persistent XLA cache (a run's or a sweep's).
STATUS_FILE = 'status.json'  # A trial's status (trial.new_status has its fields).
CLAIM_FILE = 'claim.lock'  # Present while a worker runs the trial: host, pid, token, heartbeat.
SWEEP_FILE = 'sweep.json'  # The sweep's trial list, written when it starts.
REPORT_DIR = 'report'  # The sweep's report (report.run).
MEMBER_PREFIX = 'seed_'  # seed_<s>: one seed of a vmapped-seeds run.
# A claim whose heartbeat is older than this many seconds is stale: another worker takes it over.
DEFAULT_STALE_AFTER = 120.0
SLURM_TASK_ENV = 'SLURM_ARRAY_TASK_ID'  # Names the trial an array task runs.

# The status vocabulary, of status.json (trials) and summary.json (runs).
PENDING = 'pending'  # Not started, or preempted: it resumes from its checkpoint when relaunched.
RUNNING = 'running'
DONE = 'done'
DIVERGED = 'diverged'  # A non-finite loss: a result, not an error.
FAILED = 'failed'  # Raised an error (recorded with its traceback).
PREEMPTED = 'preempted'  # A run's status after SIGTERM: checkpointed; its trial is pending.
MISSING = 'missing'  # Reports only: a trial with no readable status or summary.
FINISHED = (DONE, DIVERGED)  # Results: never re-run.
# Every state a trial can be reported in, in the order a report's status column lists them.
STATES = (DONE, DIVERGED, FAILED, RUNNING, PENDING, MISSING)

SUMMARY_VERSION = 1  # Of summary.json's layout; files without one (older runs) are version 1.


class CorruptFile(ValueError):
    """A workdir file that does not parse or holds no JSON object; the message names it."""


def member_name(seed: int) -> str:
    """The folder (and trial-id suffix) of seed `seed` of a vmapped-seeds run."""
    return f'{MEMBER_PREFIX}{seed}'


def member_dir(workdir: str, seed: int) -> str:
    """Where seed `seed` of a vmapped-seeds run writes its config, metrics and summary."""
    return os.path.join(workdir, member_name(seed))


def read_json(path: str) -> dict | None:
    """The JSON object at `path`, or None if absent. Our writes are atomic, so a file that does
    not parse was damaged from outside: CorruptFile says which."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptFile(f'{path} is not valid JSON ({error}); delete it to reset.') from None
    if not isinstance(obj, dict):
        raise CorruptFile(f'{path} holds {type(obj).__name__}, not a JSON object')
    return obj


def read_status(directory: str) -> dict | None:
    """A trial's status.json, or None if absent."""
    return read_json(os.path.join(directory, STATUS_FILE))


def read_config(directory: str) -> dict | None:
    """A run's config.json, or None if absent."""
    return read_json(os.path.join(directory, CONFIG_FILE))


class _Unset:
    """A Summary field left out of summary.json (None is written, as null)."""

    def __repr__(self) -> str:
        return 'UNSET'


UNSET: Any = _Unset()


@dataclasses.dataclass
class Summary:
    """summary.json: a run's outcome. A field left UNSET is absent from the file; `extra` holds
    the open-ended entries (dataset info, diagnostics) that to_dict() flattens to the top level.

    Written while running (status, start_time), on failure (status, error, traceback,
    wall_time_s), at the end of a run (the rest; test and gap once it finished; diverged_step or
    preempted_step by status), and for a vmapped-seeds group (status, members: each seed's
    status and directory, whose own summary.json has the results).
    """

    status: str
    start_time: float | None = UNSET  # Epoch seconds; while running.
    params: int | None = UNSET
    model: str | None = UNSET
    variant: str | None = UNSET  # models.get(model).label(config.model): e.g. 'GRU'.
    dataset: str | None = UNSET
    task: str | None = UNSET  # classification | regression.
    num_classes: int | None = UNSET
    class_names: list[str] | None = UNSET
    num_steps: int | None = UNSET
    best_step: int | None = UNSET  # Chosen on validation; None if no evaluation counted.
    select_metric: str | None = UNSET
    select_direction: str | None = UNSET  # max | min.
    val: dict | None = UNSET  # Validation metrics at the best step.
    train: dict | None = UNSET  # Train-subset metrics at the best step (eval_train_examples).
    final_train: dict | None = UNSET  # Mean training metrics of the last logged interval.
    test: dict | None = UNSET  # Test metrics with the best step's params; finished runs.
    gap: dict | None = UNSET  # val - train loss (and train - val accuracy) at the best step.
    wall_time_s: float | None = UNSET
    steps_per_s: float | None = UNSET  # Excluding compilation.
    seed: int | None = UNSET  # A member of a vmapped-seeds run.
    vmap_seeds: int | None = UNSET
    diverged_step: int | None = UNSET
    preempted_step: int | None = UNSET
    error: str | None = UNSET  # Failed: 'Type: message', and its traceback.
    traceback: str | None = UNSET
    members: list[dict] | None = UNSET  # A vmapped-seeds group: seed, dir, status, best_step.
    grad_norm_per_layer_init: list | None = UNSET  # Diagnostics at step 0.
    hidden_grad_time_slope_init: float | None = UNSET
    hidden_grad_layer_slope_init: float | None = UNSET
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    version: int = SUMMARY_VERSION

    def to_dict(self) -> dict[str, Any]:
        """summary.json's flat layout: the set fields, then `extra`, then the version."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ('extra', 'version') and getattr(self, f.name) is not UNSET
        }
        return {**out, **self.extra, 'version': self.version}

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> Summary:
        """Reads to_dict()'s layout back; keys that are no field go to `extra`."""
        names = {f.name for f in dataclasses.fields(cls)} - {'extra'}
        known = {k: v for k, v in obj.items() if k in names}
        known.setdefault('version', 1)  # Written before summaries had a version.
        known.setdefault('status', None)
        return cls(**known, extra={k: v for k, v in obj.items() if k not in names})


def read_summary(directory: str) -> Summary | None:
    """The run's summary.json, or None if absent (CorruptFile if unreadable or too new)."""
    path = os.path.join(directory, SUMMARY_FILE)
    obj = read_json(path)
    if obj is None:
        return None
    summary = Summary.from_dict(obj)
    if not isinstance(summary.version, int) or summary.version > SUMMARY_VERSION:
        raise CorruptFile(
            f'{path} has summary version {summary.version!r}; this ecgdepth reads up to '
            f'{SUMMARY_VERSION}: update ecgdepth to read it.'
        )
    return summary


def write_summary(directory: str, summary: Summary) -> None:
    """Writes summary.json atomically (the caller decides which process writes)."""
    files.write_json(os.path.join(directory, SUMMARY_FILE), summary.to_dict())
