"""The seeds of a run: each one's bookkeeping and outputs, and the chief-only writes.

A plain run has one member writing to the workdir itself; `train.vmap_seeds=N` has N, stacked
along the state's leading axis, each writing under workdir/seed_<s>/. Only process 0 writes.
"""

from __future__ import annotations

import dataclasses
import math
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from ecgdepth import distributed, files
from ecgdepth import workdir as workdir_lib
from ecgdepth.train import events


def write_summary(directory: str, summary: workdir_lib.Summary) -> None:
    if distributed.is_chief():
        workdir_lib.write_summary(directory, summary)


def write_text(path: str, text: str) -> None:
    if distributed.is_chief():
        files.write_text(path, text)


def write_params(directory: str, params) -> None:
    """One seed's params (fetched to the host) as `BEST_PARAMS_FILE`, atomically."""
    from flax import serialization

    if distributed.is_chief():
        data = serialization.msgpack_serialize(jax.device_get(params))
        files.write_bytes(os.path.join(directory, workdir_lib.BEST_PARAMS_FILE), data)


def read_params(directory: str):
    """The params `write_params` wrote into `directory` (a nested dict of numpy arrays)."""
    from flax import serialization

    path = os.path.join(directory, workdir_lib.BEST_PARAMS_FILE)
    with open(path, 'rb') as f:
        return serialization.msgpack_restore(f.read())


def config_json(config: ml_collections.ConfigDict) -> str:
    """config.json's text."""
    return config.to_json_best_effort(indent=2, sort_keys=True)


def member_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
    """The config a separate run of one vmapped seed would have: its seed, vmap_seeds=1."""
    member = config.copy_and_resolve_references()
    member.seed = seed
    member.train.vmap_seeds = 1
    return member


@dataclasses.dataclass
class Progress:
    """The loop's bookkeeping, saved with each checkpoint so a resumed run continues exactly."""

    num_records: int = 0  # Lines of metrics.jsonl so far: a resumed run cuts it back to them.
    initial_diagnostics: dict | None = None  # The step-0 diagnostics record.
    pending: list = dataclasses.field(default_factory=list)  # Step metrics not yet logged.
    last_train: dict = dataclasses.field(default_factory=dict)
    best_step: int | None = None
    best_value: float = -math.inf
    best_val: dict | None = None
    best_train: dict | None = None
    best_diagnostics: dict | None = None
    train_seconds: float = 0.0
    timed_steps: int = 0
    diverged_step: int | None = None

    def steps_per_s(self) -> float | None:
        return self.timed_steps / self.train_seconds if self.train_seconds > 0 else None

    def to_meta(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_meta(cls, meta: dict) -> Progress:
        meta = dict(meta)
        if 'records' in meta:  # Checkpoints of before metrics.jsonl was appended to.
            records = meta.pop('records')
            meta['num_records'] = len(records)
            initial = [r for r in records if r['type'] == 'diagnostics' and r['step'] == 0]
            meta['initial_diagnostics'] = initial[0] if initial else None
        progress = cls(**meta)
        if progress.best_value is None:  # -inf is stored as null.
            progress.best_value = -math.inf
        return progress


@dataclasses.dataclass
class Member:
    """One seed of a run: its own outputs and bookkeeping."""

    index: int  # Position along the stacked state's leading axis.
    seed: int
    workdir: str
    progress: Progress
    events: events.EventWriter | None = None  # The chief's, between open() and close().

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.workdir, workdir_lib.METRICS_FILE)

    @property
    def live(self) -> bool:
        return self.progress.diverged_step is None

    def open(self, start_step: int) -> None:
        """Cuts metrics.jsonl back to the records of the checkpoint resumed from (none for a
        fresh run): an interrupted attempt may have logged past it. Then opens the event files.
        """
        if not distributed.is_chief():
            return
        kept = self.progress.num_records
        records = files.read_jsonl(self.metrics_path) if os.path.exists(self.metrics_path) else []
        if len(records) < kept:
            logging.warning(
                '%s has %d records, its checkpoint counted %d.',
                self.metrics_path,
                len(records),
                kept,
            )
        if len(records) != kept:
            files.write_jsonl(self.metrics_path, records[:kept])
        self.events = events.EventWriter(
            os.path.join(self.workdir, workdir_lib.TENSORBOARD_DIR), start_step
        )

    def record(self, record: dict) -> None:
        """Appends one record to metrics.jsonl and its scalars to the event files."""
        self.progress.num_records += 1
        if record['type'] == 'diagnostics' and record['step'] == 0:
            self.progress.initial_diagnostics = record
        if distributed.is_chief():
            files.append_jsonl(self.metrics_path, [record])
            self.events.write(record)

    def close(self) -> None:
        if self.events is not None:
            self.events.close()
            self.events = None


def make_members(workdir: str, seeds: list[int], stacked: bool) -> list[Member]:
    """One member per seed: the workdir itself for one seed, else workdir/seed_<s>/ each."""
    return [
        Member(k, seed, workdir_lib.member_dir(workdir, seed) if stacked else workdir, Progress())
        for k, seed in enumerate(seeds)
    ]


def member_floats(step_metrics: dict, index: int, stacked: bool) -> dict[str, float]:
    """One seed's values of one step's (fetched) metrics."""
    return {
        key: float(np.asarray(value)[index] if stacked else value)
        for key, value in step_metrics.items()
    }


def stack_pending(per_member: list[list[dict]], stacked: bool) -> list:
    """Checkpointed per-seed pending step metrics back into the loop's (stacked) form."""
    if not stacked:
        return list(per_member[0])
    return [
        {key: np.asarray([m[i][key] for m in per_member]) for key in per_member[0][i]}
        for i in range(len(per_member[0]))
    ]


def keep_best(best_params, params, improved: list[int], stacked: bool):
    """A copy of the params of the seeds that improved, the others' best kept."""
    if not stacked or best_params is None:
        return jax.tree.map(jnp.copy, params)
    index = jnp.asarray(improved)
    return jax.tree.map(lambda b, p: b.at[index].set(p[index]), best_params, params)
