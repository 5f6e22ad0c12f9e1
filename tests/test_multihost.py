"""Two processes on one machine train as one job, exactly like one process on the same batch.

Each process runs launch.py with ECGDEPTH_COORDINATOR/NUM_PROCESSES/PROCESS_ID (one CPU device
each, gloo collectives over loopback): a global batch of 32 is 16 rows per process.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import REPO
from test_sharding import assert_close
from test_train import get_config

from ecgdepth import data as data_lib
from ecgdepth import distributed, files
from ecgdepth import workdir as workdir_lib

SPEC = 'depth=2,width=8,runlocal'
OVERRIDES = {
    'data.window': 250,
    'data.num_train': 128,
    'data.num_validation': 64,
    'data.num_test': 64,
    'train.batch_size': 32,
    'train.num_steps': 10,
    'train.log_every': 5,
    'train.eval_every': 5,
    'train.checkpoint_every': 5,
    'train.eval_train_examples': 64,
    # Per-evaluation diagnostics run in single-process jobs only; this compares the training.
    'train.diagnostics': False,
}
TIMING = {'steps_per_s', 'wall_time_s'}
_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _stop_leftovers():
    """A failed test leaves no process behind (one may wait for its peer forever)."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(
    workdir, data_dir, process_id=None, num_processes=2, port=None, **overrides
) -> subprocess.Popen:
    """launch.py in the background (alone, or as process `process_id` of a job).

    Its log goes to a file beside the workdir: a pipe read only at the end could fill up and
    block one process, and with it the whole job.
    """
    env = dict(os.environ, JAX_PLATFORMS='cpu', ECGDEPTH_DATA_DIR=data_dir)
    for key in (distributed.COORDINATOR_ENV, 'XLA_FLAGS'):
        env.pop(key, None)
    if process_id is not None:
        env[distributed.COORDINATOR_ENV] = f'127.0.0.1:{port}'
        env[distributed.NUM_PROCESSES_ENV] = str(num_processes)
        env[distributed.PROCESS_ID_ENV] = str(process_id)
    command = [sys.executable, 'launch.py', f'--config=configs/lstm.py:{SPEC}']
    command += [f'--workdir={workdir}']
    command += [f'--config.{key}={value}' for key, value in {**OVERRIDES, **overrides}.items()]
    log_path = f'{workdir}.{"main" if process_id is None else process_id}.log'
    with open(log_path, 'w') as log:  # This launch's log only.
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    process.log_path = log_path
    _STARTED.append(process)
    return process


def start_job(workdir, data_dir, num_processes=2, **overrides) -> list[subprocess.Popen]:
    port = free_port()
    return [
        start(workdir, data_dir, i, num_processes, port, **overrides) for i in range(num_processes)
    ]


def finish(*processes) -> list[str]:
    """Waits for all; their logs, once each is known to have succeeded."""
    for process in processes:
        process.wait(timeout=300)
    logs = []
    for process in processes:
        with open(process.log_path) as f:
            logs.append(f.read())
        assert process.returncode == 0, logs[-1][-3000:]
    return logs


@pytest.fixture(scope='module')
def prepared(data_dir):
    """The data generated once here, so that concurrent processes only read it."""
    config = get_config('lstm', SPEC, data_dir)
    config.update_from_flattened_dict(OVERRIDES)
    data_lib.load(config.data)
    return data_dir


def comparable(workdir):
    summary = workdir_lib.read_summary(workdir).to_dict()
    records = files.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
    strip = lambda r: {k: v for k, v in r.items() if k not in TIMING}
    return strip(summary), [strip(r) for r in records]


def test_two_processes_train_as_one(prepared, tmp_path):
    single, job = tmp_path / 'single', tmp_path / 'job'
    reference = start(single, prepared)
    logs = finish(*start_job(job, prepared), reference)
    assert '2 global devices' in logs[0]  # distributed.initialize joined the job.

    expected, actual = comparable(single), comparable(job)
    assert actual[0]['status'] == 'done'
    assert_close(actual, expected)
    # One set of outputs, written by process 0 only: no other process's files or leftovers.
    assert sorted(os.listdir(job)) == sorted(os.listdir(single))
    assert sorted(os.listdir(job / 'checkpoints')) == ['10', '5']

    # Relaunched, the job restores its last checkpoint (every process reads it) and reports
    # the same.
    for log in finish(*start_job(job, prepared)):
        assert 'Resuming from the checkpoint at step 10 of 10' in log
    assert comparable(job) == actual


def test_sigterm_to_one_process_stops_all_at_one_step_and_the_job_resumes(prepared, tmp_path):
    """A preemption notice reaches each process at its own step: they agree on one and all take
    part in the checkpoint, then the relaunched job ends exactly like an uninterrupted one."""
    longer = {
        'train.num_steps': 60,
        'train.checkpoint_every': 30,
        'train.compilation_cache_dir': tmp_path / 'cache',  # Three launches, one compilation.
    }
    reference, interrupted = tmp_path / 'reference', tmp_path / 'interrupted'
    finish(*start_job(reference, prepared, **longer))

    job = start_job(interrupted, prepared, **longer)
    metrics_path = interrupted / 'metrics.jsonl'
    deadline = time.time() + 120
    while not (metrics_path.exists() and files.read_jsonl(metrics_path)):  # Step 5 logged.
        assert time.time() < deadline and all(p.poll() is None for p in job)
        time.sleep(0.05)
    job[1].send_signal(signal.SIGTERM)  # Process 1 only.
    finish(*job)
    summary = comparable(interrupted)[0]
    assert summary['status'] == 'preempted'
    step = summary['preempted_step']
    assert step < 60 and step % OVERRIDES['train.log_every'] == 0
    assert os.path.isdir(interrupted / 'checkpoints' / str(step))

    for log in finish(*start_job(interrupted, prepared, **longer)):
        assert f'Resuming from the checkpoint at step {step} of 60' in log
    assert comparable(interrupted) == comparable(reference)


@pytest.mark.parametrize(
    'environ, expected',
    [
        ({}, None),
        ({'SLURM_NTASKS': '1', 'SLURM_STEP_ID': '0'}, None),
        ({'SLURM_NTASKS': '2'}, None),  # The batch script, not an srun step.
        ({'SLURM_NTASKS': '2', 'SLURM_STEP_ID': '0'}, {}),
        ({'TPU_WORKER_HOSTNAMES': 'a'}, None),
        ({'TPU_WORKER_HOSTNAMES': 'a,b'}, {}),
        ({'ECGDEPTH_DISTRIBUTED': '1'}, {}),
        (
            {
                'ECGDEPTH_COORDINATOR': 'h:1234',
                'ECGDEPTH_NUM_PROCESSES': '2',
                'ECGDEPTH_PROCESS_ID': '1',
            },
            {'coordinator_address': 'h:1234', 'num_processes': 2, 'process_id': 1},
        ),
    ],
)
def test_detect_joins_a_job_only_when_the_environment_says_so(environ, expected):
    assert distributed.detect(environ) == expected


def test_a_coordinator_without_the_process_count_is_refused():
    with pytest.raises(ValueError, match='ECGDEPTH_NUM_PROCESSES'):
        distributed.detect({'ECGDEPTH_COORDINATOR': 'h:1', 'ECGDEPTH_PROCESS_ID': '0'})
