"""Several devices and several processes: joining a multi-process job and the data mesh.

One process per host (or per SLURM task) runs the same program; `initialize()` joins them into
one JAX job before any computation, after which `jax.devices()` lists every process's devices.
Training is data parallel over a one-axis mesh of all of them (`data_mesh`): parameters are
replicated, batches are split along 'data'. A single process with one device is the special
case of a mesh of size one.

How a process learns that it is part of a job, in order:
- ECGDEPTH_COORDINATOR=host:port with ECGDEPTH_NUM_PROCESSES and ECGDEPTH_PROCESS_ID (explicit;
  how the tests start two processes on one machine);
- SLURM: SLURM_NTASKS > 1 inside an srun step (JAX reads the SLURM environment itself);
- TPU pods: TPU_WORKER_HOSTNAMES (or TPU_PROCESS_ADDRESSES) listing several hosts, or
  MEGASCALE_COORDINATOR_ADDRESS (multislice); JAX detects the rest itself;
- ECGDEPTH_DISTRIBUTED=1: call `jax.distributed.initialize()` with no arguments and let JAX
  detect the cluster (e.g. a TPU VM pod whose hosts are known only to the metadata server).
Otherwise the process runs alone and nothing is initialised.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

COORDINATOR_ENV = 'ECGDEPTH_COORDINATOR'
NUM_PROCESSES_ENV = 'ECGDEPTH_NUM_PROCESSES'
PROCESS_ID_ENV = 'ECGDEPTH_PROCESS_ID'
FORCE_ENV = 'ECGDEPTH_DISTRIBUTED'
DATA_AXIS = 'data'
T = TypeVar('T')


def detect(environ=None) -> dict | None:
    """The keyword arguments for `jax.distributed.initialize`, or None when running alone.

    An empty dict means: call it with no arguments, JAX reads the cluster's environment.
    """
    env = os.environ if environ is None else environ
    if env.get(COORDINATOR_ENV):
        missing = [k for k in (NUM_PROCESSES_ENV, PROCESS_ID_ENV) if not env.get(k)]
        if missing:
            raise ValueError(f'{COORDINATOR_ENV} is set but {" and ".join(missing)} is not.')
        return {
            'coordinator_address': env[COORDINATOR_ENV],
            'num_processes': int(env[NUM_PROCESSES_ENV]),
            'process_id': int(env[PROCESS_ID_ENV]),
        }
    if env.get(FORCE_ENV, '').lower() in ('1', 'true', 'yes'):
        return {}
    # SLURM_STEP_ID: inside an srun step, not the batch script that launches it.
    if int(env.get('SLURM_NTASKS', '1') or 1) > 1 and 'SLURM_STEP_ID' in env:
        return {}
    hosts = env.get('TPU_PROCESS_ADDRESSES') or env.get('TPU_WORKER_HOSTNAMES') or ''
    if len([h for h in hosts.split(',') if h.strip()]) > 1 or env.get(
        'MEGASCALE_COORDINATOR_ADDRESS'
    ):
        return {}
    return None


def initialize() -> bool:
    """Joins the multi-process job this process belongs to, if any; True if it did.

    Must run before any JAX computation (commands.run, sweep and submit call it first).
    """
    kwargs = detect()
    if kwargs is None:
        return False
    if not jax.distributed.is_initialized():
        jax.distributed.initialize(**kwargs)
    logging.info(
        'Process %d of %d: %d local and %d global devices.',
        jax.process_index(),
        jax.process_count(),
        jax.local_device_count(),
        jax.device_count(),
    )
    return True


def is_chief() -> bool:
    """Only process 0 writes the run's files, so the processes never clobber each other."""
    return jax.process_index() == 0


def data_mesh() -> Mesh:
    """One 'data' axis over every device of every process, in `jax.devices()` order.

    On CPU (and GPU) that order groups devices by process, so process p holds the p-th block
    of each batch. Nothing depends on it: every device holds the whole train split and gathers
    its own block inside the step.
    """
    return Mesh(np.array(jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharded(mesh: Mesh, leading: int = 0) -> NamedSharding:
    """Split along 'data' on the batch axis, after `leading` unsplit axes."""
    return NamedSharding(mesh, P(*([None] * leading), DATA_AXIS))


def chief_first(fn: Callable[[], T]) -> T:
    """fn() on process 0, then on the others: e.g. data prepared on first use is written once,
    not by every process into the same folder at the same time."""
    if jax.process_count() == 1:
        return fn()
    if is_chief():
        try:
            return fn()
        finally:  # Even if fn fails: the others then fail the same way instead of waiting.
            multihost_utils.sync_global_devices('ecgdepth.chief_first')
    multihost_utils.sync_global_devices('ecgdepth.chief_first')
    return fn()


def any_process(flag: bool) -> bool:
    """True on every process if `flag` is True on any: a decision all of them must share."""
    if jax.process_count() == 1:
        return bool(flag)
    return bool(np.any(multihost_utils.process_allgather(np.array([flag]))))
