"""`train_and_evaluate(config, workdir)`, the library's entry point: it checks the config,
claims the workdir, and has a Trainer (trainer.py) run it, recording a failure or preemption.

Data are placed on the device once; each step gathers its batch from a per-epoch permutation
on the device, so the host only dispatches. Metrics stay on the device and are fetched every
`log_every` steps in one transfer. The best step is chosen on validation only; the test split is
evaluated once, with the parameters of that step.

Data parallel over every device of every process (ecgdepth/distributed.py): the state and the
train split are replicated on each device, and each step's batch indices are split along the
mesh's 'data' axis, so every device gathers its own block of the global batch and differentiates
it; the gradients are summed once per step (step.py). Each process loads the same dataset
(loading is deterministic), so nothing crosses processes but those sums. Only process 0 writes
files; every process takes part in every step, evaluation and checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
import traceback

import jax
import ml_collections
from absl import logging
from jax.experimental.compilation_cache import compilation_cache
from jax.sharding import Mesh

from ecgdepth import distributed, files, logs, spec, validation
from ecgdepth import workdir as workdir_lib
from ecgdepth.train import members as members_lib
from ecgdepth.train.trainer import Trainer
from ecgdepth.workdir import Summary


class Preemption:
    """SIGTERM (a cluster's preemption notice) as a flag the loop checks every step, once armed.

    Until `arm` (after the first step), SIGTERM and Ctrl-C end the process at once (the default
    actions): loading data or compiling has nothing to checkpoint, and a Python handler would
    wait for TFDS or XLA's compiler to return. Every file is written atomically, so nothing is
    left half-written and a relaunch resumes from the last checkpoint.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        del signum, frame
        logging.warning('SIGTERM received: checkpointing at the next step.')
        self.requested = True

    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, signal.SIG_DFL)
        return self

    def arm(self) -> None:
        """From here SIGTERM checkpoints at the next step, and Ctrl-C is Python's again."""
        if self._previous and signal.getsignal(signal.SIGTERM) is not self._handle:
            signal.signal(signal.SIGTERM, self._handle)
            signal.signal(signal.SIGINT, self._previous[signal.SIGINT])

    def __exit__(self, *exc) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}


def _claim_workdir(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes config.json, or checks that a resumed workdir was run with the same config.

    Every process checks (so all of them stop together); only process 0 writes.
    """
    path = os.path.join(workdir, workdir_lib.CONFIG_FILE)
    text = members_lib.config_json(config)
    if os.path.exists(path) and os.path.isdir(os.path.join(workdir, workdir_lib.CHECKPOINT_DIR)):
        with open(path) as f:
            previous = json.load(f)
        if previous != json.loads(text):
            changed = spec.diff_keys(previous, json.loads(text))
            raise validation.ConfigError(
                f'{workdir} holds checkpoints of a run with a different config (differs in '
                f'{", ".join(changed)}); use a new --workdir or delete that one to start over.'
            )
    if distributed.is_chief():
        files.write_text(path, text)


def enable_compilation_cache(directory: str) -> None:
    """The persistent XLA cache: restarts and repeated shapes in a sweep skip recompiling."""
    os.makedirs(directory, exist_ok=True)
    if jax.config.jax_compilation_cache_dir != directory:
        compilation_cache.reset_cache()  # A process may train runs with different caches.
    jax.config.update('jax_compilation_cache_dir', directory)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
    jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains one model as `config` says and writes config.json, metrics.jsonl, summary.json, the
    TensorBoard event files and log.txt (what it logs meanwhile; ecgdepth/logs.py).

    Returns the summary. A non-finite loss ends the run with status 'diverged'; SIGTERM ends it
    with a checkpoint and status 'preempted'; any other error is recorded with status 'failed'
    and re-raised. A relaunch on the same workdir resumes from the latest checkpoint and ends
    with the same metrics as an uninterrupted run.
    """
    validation.validate_config(config)
    check_batch_size(config.train.batch_size, distributed.data_mesh())
    check_vmap_seeds(config.train.vmap_seeds, distributed.data_mesh())
    os.makedirs(workdir, exist_ok=True)
    with logs.run_log(workdir, write=distributed.is_chief()):
        return _run(config, workdir)


def _run(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """train_and_evaluate in a checked, existing workdir: the summary, or the failure recorded."""
    _claim_workdir(config, workdir)
    enable_compilation_cache(
        config.train.compilation_cache_dir
        or os.path.join(workdir, workdir_lib.COMPILATION_CACHE_DIR)
    )
    summary_path = os.path.join(workdir, workdir_lib.SUMMARY_FILE)
    start = time.time()
    members_lib.write_summary(workdir, Summary(status=workdir_lib.RUNNING, start_time=start))
    try:
        with Preemption() as preemption:
            summary = Trainer(config, workdir, start, preemption).train()
    except Exception as error:
        failed = Summary(
            status=workdir_lib.FAILED,
            error=f'{type(error).__name__}: {error}',
            traceback=traceback.format_exc(),
            wall_time_s=time.time() - start,
        )
        members_lib.write_summary(workdir, failed)
        if config.train.vmap_seeds > 1:
            for k in range(config.train.vmap_seeds):
                directory = workdir_lib.member_dir(workdir, config.seed + k)
                if os.path.isdir(directory):
                    members_lib.write_summary(directory, failed)
        raise
    members_lib.write_summary(workdir, summary)
    logging.info('Run %s: %s', summary.status, summary_path)
    return summary.to_dict()


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """The global batch is split evenly over the data-parallel devices, so it must divide."""
    if batch_size % mesh.size:
        raise validation.ConfigError(
            f'config.train.batch_size ({batch_size}) must be divisible by the number of '
            f'data-parallel devices, {mesh.size} (over {jax.process_count()} process(es)): it is '
            f'the global batch, split evenly over them; e.g. use '
            f'{math.ceil(batch_size / mesh.size) * mesh.size}.'
        )


def check_vmap_seeds(vmap_seeds: int, mesh: Mesh) -> None:
    """Vmapped seeds share one device: with several, train seeds as separate trials."""
    if vmap_seeds > 1 and mesh.size > 1:
        raise validation.ConfigError(
            f'config.train.vmap_seeds ({vmap_seeds}) > 1 runs every seed on one device, but '
            f'this job has {mesh.size} data-parallel devices: run the seeds as separate '
            'trials (launch.py --sweep without --vmap_seeds), or use one device.'
        )
