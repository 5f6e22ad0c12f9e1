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

from ecgdepth import distributed, files
from ecgdepth import workdir as workdir_lib


def write_summary(directory: str, summary: workdir_lib.Summary) -> None:
    if distributed.is_chief():
        workdir_lib.write_summary(directory, summary)


def write_text(path: str, text: str) -> None:
    if distributed.is_chief():
        files.write_text(path, text)


def write_jsonl(path: str, records: list[dict]) -> None:
    if distributed.is_chief():
        files.write_jsonl(path, records)


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

    records: list[dict] = dataclasses.field(default_factory=list)  # metrics.jsonl so far.
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

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.workdir, workdir_lib.METRICS_FILE)

    @property
    def live(self) -> bool:
        return self.progress.diverged_step is None

    def write_metrics(self) -> None:
        """Rewrites metrics.jsonl with every record so far."""
        write_jsonl(self.metrics_path, self.progress.records)


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
