"""Interrupted runs resume from their checkpoint and end exactly like uninterrupted ones."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO
from test_train import small_config

from ecgdepth import files, validation
from ecgdepth import workdir as workdir_lib
from ecgdepth.train import loop

TIMING = {'steps_per_s', 'wall_time_s'}


def comparable_summary(workdir):
    summary = workdir_lib.read_summary(workdir).to_dict()
    return {k: v for k, v in summary.items() if k not in TIMING}


def comparable_records(workdir):
    records = files.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def resume_config(data_dir, cache_dir):
    config = small_config('lstm', 2, data_dir)
    config.model.dropout = 0.1  # The dropout RNG stream must resume too.
    config.train.num_steps = 40
    config.train.checkpoint_every = 10
    config.train.compilation_cache_dir = str(cache_dir)
    return config


@pytest.fixture(scope='module')
def reference(data_dir, cache_dir, tmp_path_factory):
    """The uninterrupted run of resume_config, which the resumed runs must end exactly like."""
    workdir = tmp_path_factory.mktemp('reference')
    summary = loop.train_and_evaluate(resume_config(data_dir, cache_dir), str(workdir))
    assert summary['status'] == 'done'
    return workdir


class PreemptAt(loop.Preemption):
    """A SIGTERM that arrives just before step `at` (counted by the loop's checks)."""

    def __init__(self, at):
        super().__init__()
        self._checks, self._at = 0, at

    @property
    def requested(self):
        self._checks += 1
        return self._checks > self._at

    @requested.setter
    def requested(self, value):
        pass


@pytest.mark.parametrize('preempt_at', [7, 20])
def test_preempted_run_resumes_to_identical_results(
    preempt_at, reference, data_dir, cache_dir, tmp_path, monkeypatch
):
    config = resume_config(data_dir, cache_dir)
    interrupted = tmp_path / 'interrupted'
    with monkeypatch.context() as patch:
        patch.setattr(loop, 'Preemption', lambda: PreemptAt(preempt_at))
        summary = loop.train_and_evaluate(config, str(interrupted))
    assert summary['status'] == 'preempted'
    assert summary['preempted_step'] == preempt_at
    assert comparable_summary(interrupted)['status'] == 'preempted'
    assert os.path.isdir(interrupted / 'checkpoints' / str(preempt_at))

    resumed = loop.train_and_evaluate(config, str(interrupted))
    assert resumed['status'] == 'done'
    assert comparable_summary(interrupted) == comparable_summary(reference)
    assert comparable_records(interrupted) == comparable_records(reference)


def test_a_finished_run_relaunched_reports_the_same(reference, data_dir, cache_dir, tmp_path):
    workdir = tmp_path / 'run'
    shutil.copytree(reference, workdir)  # The finished run, relaunched on its own copy.
    loop.train_and_evaluate(resume_config(data_dir, cache_dir), str(workdir))
    assert comparable_summary(workdir) == comparable_summary(reference)
    assert comparable_records(workdir) == comparable_records(reference)


def test_resuming_with_a_different_config_is_refused(data_dir, cache_dir, tmp_path):
    config = resume_config(data_dir, cache_dir)
    config.train.num_steps = 10
    loop.train_and_evaluate(config, str(tmp_path))
    config.model.width = 12
    with pytest.raises(validation.ConfigError, match=r'differs in config.model.width'):
        loop.train_and_evaluate(config, str(tmp_path))


# Launches run 100 steps with a checkpoint every 20; the killed ones die after the one at 40.
LAUNCH_STEPS = 100


def start_launch(workdir, data_dir, cache_dir):
    """launch.py in the background; its log goes to a file (a pipe nobody reads would block)."""
    env = dict(os.environ, JAX_PLATFORMS='cpu', ECGDEPTH_DATA_DIR=data_dir)
    args = [
        sys.executable,
        'launch.py',
        '--config=configs/lstm.py:depth=2,runlocal',
        f'--workdir={workdir}',
        f'--config.train.num_steps={LAUNCH_STEPS}',
        '--config.train.checkpoint_every=20',
        '--config.train.eval_every=50',
        '--config.train.log_every=20',
        '--config.data.window=500',
        f'--config.train.compilation_cache_dir={cache_dir}',
    ]
    os.makedirs(workdir, exist_ok=True)
    log = open(os.path.join(workdir, 'launch.log'), 'a')
    process = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = log.name
    return process


def log_tail(process):
    with open(process.log_path) as f:
        return f.read()[-3000:]


def wait_for_checkpoint(workdir, process, step, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.isdir(os.path.join(workdir, 'checkpoints', str(step))):
            return
        assert process.poll() is None, log_tail(process)
        time.sleep(0.05)
    raise AssertionError(f'no checkpoint at step {step} within {timeout} s')


@pytest.fixture(scope='module')
def launched(data_dir, cache_dir, tmp_path_factory):
    """One uninterrupted launch, the reference of the killed ones; it fills `cache_dir`."""
    workdir = tmp_path_factory.mktemp('launched')
    before = set(os.listdir(cache_dir))
    process = start_launch(workdir, data_dir, cache_dir)
    assert process.wait(timeout=600) == 0, log_tail(process)
    assert set(os.listdir(cache_dir)) > before  # The launch compiled into the cache.
    return workdir


def test_killed_launch_resumes_to_identical_results(launched, data_dir, cache_dir, tmp_path):
    """kill -9 mid-run (a launch stopped by SIGTERM resumes likewise: tests/test_multihost.py)."""
    interrupted = tmp_path / 'interrupted'
    process = start_launch(interrupted, data_dir, cache_dir)
    wait_for_checkpoint(interrupted, process, 40)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=120)
    assert comparable_summary(interrupted)['status'] == 'running'  # It was mid-run.

    process = start_launch(interrupted, data_dir, cache_dir)
    assert process.wait(timeout=600) == 0, log_tail(process)
    assert comparable_summary(interrupted) == comparable_summary(launched)
    assert comparable_records(interrupted) == comparable_records(launched)


def test_a_relaunch_compiles_nothing_new(launched, data_dir, cache_dir, tmp_path):
    """The persistent compilation cache: a second identical run only reads it."""
    entries = sorted(os.listdir(cache_dir))
    process = start_launch(tmp_path / 'again', data_dir, cache_dir)
    assert process.wait(timeout=600) == 0, log_tail(process)
    assert sorted(os.listdir(cache_dir)) == entries  # No recompiles.


def test_sigterm_during_start_up_ends_the_launch_at_once(cache_dir, tmp_path):
    """While data are prepared (a fresh data dir) or the step compiles there is nothing to
    checkpoint: SIGTERM ends the process then, not at a first step minutes later."""
    workdir = tmp_path / 'w'
    process = start_launch(workdir, str(tmp_path / 'fresh_tfds'), cache_dir)
    summary = workdir / workdir_lib.SUMMARY_FILE
    deadline = time.time() + 120
    while not summary.exists():  # Written just before the data are loaded.
        assert time.time() < deadline and process.poll() is None, log_tail(process)
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == -signal.SIGTERM, log_tail(process)
    assert 'step 20/' not in log_tail(process)  # It never trained.
    assert comparable_summary(workdir)['status'] == 'running'  # A relaunch starts afresh.
    assert not os.path.exists(workdir / 'checkpoints' / '20')
