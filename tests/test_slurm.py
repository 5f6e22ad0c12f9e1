"""launch.py --submit=slurm: config.cluster checks, and real jobs on a one-node test cluster.

The cluster tests run only where tests/slurm_cluster.py can start SLURM (root, slurm-wlm and
munge installed) and skip otherwise. They check what the jobs wrote (status.json, summary.json,
metrics), not only job states: a job can end COMPLETED without having run anything.
"""

import glob
import io
import itertools
import json
import math
import os
import subprocess
import sys
import time
import types

import ml_collections
import pytest
from slurm_cluster import slurm_cluster  # noqa: F401 (the fixture)

from ecgdepth import cluster, validation
from ecgdepth import spec as spec_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 120  # Seconds per cluster test.
# Trains in seconds: synthetic data, 4 steps, width 4.
SPEC = (
    'runlocal,width=4,data.num_train=64,data.num_validation=32,data.num_test=32,'
    'data.window=250,train.num_steps=4,train.eval_every=4,optim.warmup_steps=1'
)
SWEEP_FILE = f'''"""4 trials: two families x two depths, each trained for a few steps."""

from ecgdepth import spec
from ecgdepth import sweep

SPEC = {SPEC!r}


def family_arg(arg=None):
    return SPEC


def get_config(arg=None):
    return spec.family_config('dilated_cnn', SPEC)


def get_sweep(arg=None):
    return sweep.product({{'model.name': ['dilated_cnn', 'lstm'], 'model.depth': [1, 2]}})
'''


def launch(*args, env=None, timeout=TIMEOUT):
    return subprocess.run(
        [sys.executable, 'launch.py', *args],
        cwd=REPO,
        env=env or dict(os.environ, JAX_PLATFORMS='cpu'),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def launch_in_background(*args, env) -> subprocess.Popen:
    """launch.py running while the test acts on its jobs; read it with communicate()."""
    return subprocess.Popen(
        [sys.executable, 'launch.py', *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --------------------------------------------------------------------------------------------
# No cluster needed.
# --------------------------------------------------------------------------------------------


def config_with(**cluster_values):
    config = spec_lib.family_config('dilated_cnn', 'runlocal')
    for key, value in cluster_values.items():
        config.cluster[key] = value
    return config


def test_the_default_cluster_section_is_valid():
    config = spec_lib.get_base_config()
    assert config.cluster.to_dict() == {
        'partition': '',
        'time_minutes': 60,
        'gpus_per_task': 0,
        'cpus_per_task': 1,
        'mem_gb': 4,
        'array_parallelism': 0,
        'nodes': 1,
        'tasks_per_node': 1,
        'account': '',
        'qos': '',
        'constraint': '',
        'exclude': '',
        'additional_parameters': '',
        'setup': '',
    }
    validation.validate_config(spec_lib.family_config('dilated_cnn', 'runlocal'))


@pytest.mark.parametrize(
    'field, value, message',
    [
        ('time_minutes', 0, 'config.cluster.time_minutes must be an integer >= 1, got 0'),
        ('cpus_per_task', 0, 'config.cluster.cpus_per_task must be an integer >= 1, got 0'),
        ('gpus_per_task', -1, 'config.cluster.gpus_per_task must be an integer >= 0, got -1'),
        ('mem_gb', -2, 'config.cluster.mem_gb must be an integer >= 0, got -2'),
        ('array_parallelism', -1, 'config.cluster.array_parallelism must be an integer >= 0'),
        ('nodes', 0, 'config.cluster.nodes must be an integer >= 1, got 0'),
        ('tasks_per_node', 0, 'config.cluster.tasks_per_node must be an integer >= 1, got 0'),
        ('partition', 'gpu large', 'config.cluster.partition must be a partition name or empty'),
        ('account', 'my lab', 'config.cluster.account must be an account name or empty'),
        ('qos', 'high\t', 'config.cluster.qos must be a QoS name or empty'),
        ('constraint', 'a100 | h100', 'config.cluster.constraint must be a node-feature'),
        ('exclude', 'node01 node02', 'config.cluster.exclude must be a node list'),
        (
            'additional_parameters',
            'mail-type=END,exclusive',
            "config.cluster.additional_parameters item 'exclusive' is not option=value",
        ),
        (
            'additional_parameters',
            '=3',
            "config.cluster.additional_parameters item '=3' is not option=value",
        ),
        (
            'additional_parameters',
            'mail_type=END,mail-type=FAIL',
            "config.cluster.additional_parameters sets 'mail-type' twice",
        ),
        ('setup', 'module load cuda\nls', 'config.cluster.setup must be shell lines separated'),
    ],
)
def test_an_invalid_cluster_field_is_named(field, value, message):
    with pytest.raises(validation.ConfigError, match=message):
        validation.validate_config(config_with(**{field: value}))


def replace_cluster(**values):
    """A config whose cluster section is rebuilt (type checks bypassed, as from Python code)."""
    config = spec_lib.family_config('dilated_cnn', 'runlocal')
    config.cluster = ml_collections.ConfigDict({**config.cluster.to_dict(), **values})
    return config


def test_wrong_types_and_unknown_cluster_fields_are_named():
    for value in (1.5, True, '60'):
        with pytest.raises(
            validation.ConfigError,
            match=f'config.cluster.time_minutes must be an integer >= 1, got {value!r}',
        ):
            validation.validate_config(replace_cluster(time_minutes=value))
    with pytest.raises(
        validation.ConfigError, match=r"config.cluster has unknown field\(s\) \['queue'\]"
    ):
        validation.validate_config(replace_cluster(queue='high'))
    config = ml_collections.ConfigDict(
        {**spec_lib.family_config('dilated_cnn', 'runlocal').to_dict(), 'cluster': 3}
    )
    with pytest.raises(validation.ConfigError, match='config.cluster must be a section, got 3'):
        validation.validate_config(config)


def test_the_config_that_trains_has_no_cluster_section():
    config = spec_lib.family_config('dilated_cnn', 'runlocal')
    config.lock()
    run = cluster.without_cluster(config)
    assert 'cluster' not in run and 'cluster' in config
    assert run.is_locked
    validation.validate_config(run)
    assert cluster.run_overrides({'cluster.mem_gb': 2, 'model.depth': 3}) == {'model.depth': 3}


def test_tasks_get_the_submitters_flags_minus_the_submission_ones():
    argv = [
        '--config=configs/sweeps/depth.py:runlocal',
        '--workdir=/tmp/w',
        '--sweep',
        '--submit=slurm',
        '--wait',
        '--task_index',
        '3',
        '--config.cluster.mem_gb=2',
        '--submit',
        'slurm',
        '--nowait',
        '--retry_failed',
    ]
    assert cluster.task_argv(argv) == [
        '--config=configs/sweeps/depth.py:runlocal',
        '--workdir=/tmp/w',
        '--sweep',
        '--config.cluster.mem_gb=2',
        '--retry_failed',
    ]


def test_executor_parameters_leave_unset_resources_to_the_cluster():
    params = cluster.executor_parameters(config_with().cluster, name='x', array_size=5)
    assert params['timeout_min'] == 60 and params['mem_gb'] == 4 and params['cpus_per_task'] == 1
    assert params['slurm_array_parallelism'] == 5  # 0 = no limit: all at once.
    assert 'slurm_partition' not in params and 'slurm_gpus_per_task' not in params
    config = config_with(partition='gpu', gpus_per_task=1, mem_gb=0, array_parallelism=2)
    params = cluster.executor_parameters(config.cluster, name='x', array_size=5)
    assert params['slurm_partition'] == 'gpu' and params['slurm_gpus_per_task'] == 1
    assert params['slurm_array_parallelism'] == 2 and 'mem_gb' not in params
    assert cluster._ranges([5, 0, 1, 2, 7, 8]) == '0-2,5,7-8'
    for field in ('account', 'qos', 'constraint', 'exclude', 'additional_parameters'):
        assert f'slurm_{field}' not in params
    assert params['slurm_setup'] == [f'export PYTHONPATH={REPO}${{PYTHONPATH:+:$PYTHONPATH}}']


def rich_cluster():
    return config_with(
        account='lab',
        qos='high',
        constraint='a100|h100',
        exclude='node[01-03],node07',
        additional_parameters=' mail-type=END, --comment=depth sweep,',
        setup='module load cuda; source venv/bin/activate;',
    ).cluster


def test_executor_parameters_pass_account_qos_constraint_exclude_options_and_setup():
    params = cluster.executor_parameters(rich_cluster(), name='x')
    assert params['slurm_account'] == 'lab' and params['slurm_qos'] == 'high'
    assert params['slurm_constraint'] == 'a100|h100'
    assert params['slurm_exclude'] == 'node[01-03],node07'
    assert params['slurm_additional_parameters'] == {'mail-type': 'END', 'comment': 'depth sweep'}
    assert params['slurm_setup'] == [
        f'export PYTHONPATH={REPO}${{PYTHONPATH:+:$PYTHONPATH}}',  # First: before the user's.
        'module load cuda',
        'source venv/bin/activate',
    ]


def test_the_sbatch_script_carries_the_cluster_fields(tmp_path):
    """The script submitit writes for sbatch (rendered without a cluster)."""
    submitit = pytest.importorskip('submitit')
    executor = submitit.AutoExecutor(folder=str(tmp_path), cluster='slurm')
    executor.update_parameters(**cluster.executor_parameters(rich_cluster(), name='x'))
    script = executor._executor._make_submission_file_text('python task.py', 'uid')
    lines = script.splitlines()
    for line in (
        '#SBATCH --account=lab',
        '#SBATCH --qos=high',
        "#SBATCH --constraint='a100|h100'",
        "#SBATCH --exclude='node[01-03],node07'",
        '#SBATCH --mail-type=END',
        "#SBATCH --comment='depth sweep'",
    ):
        assert line in lines, (line, script)
    setup = lines.index('module load cuda')
    assert lines[setup - 1].startswith('export PYTHONPATH=')
    assert lines[setup + 1] == 'source venv/bin/activate'
    assert setup < next(i for i, line in enumerate(lines) if line.startswith('srun '))


def test_waiting_outlasts_the_moment_a_requeued_job_is_unlisted(monkeypatch):
    # squeue's answers: running, gone for a moment (the requeue), pending again, then ended.
    answers = itertools.chain([{'7'}, set(), {'7'}, {'7'}], itertools.repeat(set()))
    calls = []

    def queued(ids):
        calls.append(list(ids))
        return next(answers)

    class Job:  # A job that left no result (yet): it may be coming back.
        job_id = '7_0'

    monkeypatch.setattr(cluster, 'queued', queued)
    monkeypatch.setattr(cluster, 'job_state', lambda job_id: 'PENDING')  # Requeued: not final.
    cluster.wait_for([Job()], poll_s=0.001, settle_s=0.01, out=io.StringIO())
    assert len(calls) > 5  # It did not stop at the first empty answer.

    class Finished:  # A job whose result is written: ended as soon as it is unlisted.
        job_id = '8_0'
        paths = types.SimpleNamespace(result_pickle=types.SimpleNamespace(exists=lambda: True))

    calls.clear()
    answers = iter([{'8'}, set()])
    cluster.wait_for([Finished()], poll_s=0.001, settle_s=60, out=io.StringIO())
    assert len(calls) == 2


def test_a_cancelled_job_without_a_result_ends_the_wait_at_once(monkeypatch, tmp_path):
    answers = iter([{'9'}, set()])
    monkeypatch.setattr(cluster, 'queued', lambda ids: next(answers))
    monkeypatch.setattr(cluster, 'job_state', {'9_0': 'CANCELLED'}.get)

    class Cancelled:
        job_id = '9_0'
        paths = types.SimpleNamespace(
            result_pickle=tmp_path / 'missing.pkl',
            stdout=tmp_path / '9_0_log.out',
            stderr=tmp_path / '9_0_log.err',
        )

    cluster.wait_for([Cancelled()], poll_s=0.001, settle_s=3600, out=io.StringIO())
    (problem,) = cluster.job_problems([Cancelled()])
    assert 'Job 9_0 left no result (SLURM state CANCELLED)' in problem


def test_an_invalid_cluster_value_fails_before_submitting(tmp_path):
    result = launch(
        f'--config=configs/dilated_cnn.py:{SPEC}',
        f'--workdir={tmp_path}/run',
        '--submit=slurm',
        '--config.cluster.time_minutes=0',
    )
    assert result.returncode != 0
    assert 'config.cluster.time_minutes must be an integer >= 1, got 0' in result.stderr
    assert not os.path.exists(tmp_path / 'run')


def test_submitting_without_slurm_tools_says_so(tmp_path):
    env = dict(os.environ, JAX_PLATFORMS='cpu', PATH=str(tmp_path))  # No sbatch there.
    result = launch(
        f'--config=configs/dilated_cnn.py:{SPEC}',
        f'--workdir={tmp_path}/run',
        '--submit=slurm',
        env=env,
    )
    assert result.returncode != 0
    assert '--submit=slurm: sbatch, srun, squeue not found on PATH' in result.stderr


def test_submission_flag_mistakes_are_named(tmp_path):
    result = launch(f'--config=configs/dilated_cnn.py:{SPEC}', f'--workdir={tmp_path}', '--wait')
    assert result.returncode != 0
    assert '--wait only applies with --submit=slurm' in result.stderr
    sweep_file = tmp_path / 'tiny.py'
    sweep_file.write_text(SWEEP_FILE)
    common_args = [f'--config={sweep_file}', f'--workdir={tmp_path}/w', '--sweep']
    result = launch(*common_args, '--submit=slurm', '--workers=2')
    assert result.returncode != 0
    assert '--workers runs locally; with --submit=slurm each trial is an array task' in (
        result.stderr
    )
    result = launch(*common_args, '--submit=slurm', '--config.cluster.tasks_per_node=2')
    assert result.returncode != 0
    assert 'nodes=1 x tasks_per_node=2 tasks; set both to 1' in result.stderr


# --------------------------------------------------------------------------------------------
# On a real cluster.
# --------------------------------------------------------------------------------------------


@pytest.fixture
def slurm_env(slurm_cluster, data_dir):  # noqa: F811
    """Subprocess env for the cluster; cancels whatever a test leaves queued."""
    env = dict(slurm_cluster.env, JAX_PLATFORMS='cpu', ECGDEPTH_DATA_DIR=data_dir)
    yield env
    queued = subprocess.run(
        ['squeue', '--noheader', '--format=%A'], env=env, capture_output=True, text=True
    )
    ids = sorted(set(queued.stdout.split()))
    if ids:
        subprocess.run(['scancel', *ids], env=env, capture_output=True)


def prepare_data(data_dir: str) -> None:
    """Builds the synthetic data once here, so the array tasks do not all start by building
    it (they would wait on the builder's lock)."""
    from ecgdepth import data as data_lib

    config = spec_lib.family_config('dilated_cnn', SPEC)
    config.data.data_dir = data_dir
    data_lib.load(config.data)


def read(path) -> dict:
    with open(path) as f:
        return json.load(f)


def assert_finished_run(directory) -> dict:
    summary = read(os.path.join(directory, 'summary.json'))
    assert summary['status'] == 'done', summary
    metric = summary['select_metric']
    for split in ('val', 'test'):
        assert math.isfinite(summary[split][metric]), (split, summary[split])
        assert math.isfinite(summary[split]['loss']), (split, summary[split])
    return summary


@pytest.mark.slow
def test_a_sweep_runs_as_one_array_job(tmp_path, slurm_env, data_dir):
    prepare_data(data_dir)
    sweep_file = tmp_path / 'tiny.py'
    sweep_file.write_text(SWEEP_FILE)
    workdir = tmp_path / 'sweep'
    args = [
        f'--config={sweep_file}',
        f'--workdir={workdir}',
        '--sweep',
        '--submit=slurm',
        '--config.cluster.mem_gb=1',
    ]
    result = launch(*args, '--wait', env=slurm_env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert 'Submitted SLURM array job' in result.stdout
    assert '4 task(s) for trials 0-3 of 4' in result.stdout
    records = glob.glob(str(workdir / 'slurm' / '*.json'))
    assert len(records) == 1
    record = read(records[0])
    assert [a['trial_index'] for a in record['array']] == [0, 1, 2, 3]
    trials = read(workdir / 'sweep.json')['trials']
    assert len(trials) == 4
    for entry in trials:
        status = read(workdir / entry['id'] / 'status.json')
        assert status['status'] == 'done', status
        assert status['attempts'] == 1
        assert math.isfinite(status['result']['val'])
        assert_finished_run(workdir / entry['id'])
    # Each array task ran its own trial.
    logs = ''.join(open(p).read() for p in glob.glob(str(workdir / 'slurm' / '*_log.out')))
    for entry in trials:
        assert f'--task_index={entry["index"]}' in logs
    # --wait said as each trial ended, with the counts; --status shows each array task's state.
    for entry in trials:
        k = entry['index'] + 1
        assert result.stdout.count(f'Trial {k} of 4 ({entry["id"]}): done; ') == 1
    assert '4 done, 0 failed, 0 running, 0 pending of 4; elapsed ' in result.stdout
    status = launch(f'--workdir={workdir}', '--status', env=slurm_env)
    assert status.returncode == 0, status.stderr[-3000:]
    rows = [line.split() for line in status.stdout.splitlines()]
    assert rows == [['#', 'id', 'status', 'step', 'slurm']] + [
        [str(entry['index']), entry['id'], 'done', '-', 'COMPLETED'] for entry in trials
    ] + [['4', 'done,', '0', 'failed,', '0', 'running,', '0', 'pending', 'of', '4']]
    # Submitting again finds nothing to do: finished trials are never re-run.
    again = launch(*args, env=slurm_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'Nothing to submit: the 4 selected trial(s) are finished.' in again.stdout


@pytest.mark.slow
def test_a_run_with_two_tasks_is_one_jax_distributed_job(tmp_path, slurm_env, data_dir):
    prepare_data(data_dir)
    workdir = tmp_path / 'run'
    marker = tmp_path / 'setup_ran'
    result = launch(
        f'--config=configs/dilated_cnn.py:{SPEC}',
        f'--workdir={workdir}',
        '--submit=slurm',
        '--wait',
        '--config.cluster.mem_gb=1',
        '--config.cluster.nodes=1',
        '--config.cluster.tasks_per_node=2',
        # The job's setup lines (the second relies on the first's cd) and an extra #SBATCH
        # option, which sbatch must accept.
        f'--config.cluster.setup=cd {tmp_path};echo "$SLURM_JOB_ID" > {marker.name}',
        '--config.cluster.additional_parameters=comment=ecgdepth-test',
        env=slurm_env,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert '(2 task(s), 60 min)' in result.stdout
    job_id = result.stdout.split('Submitted SLURM job ')[1].split()[0]
    assert marker.read_text().strip() == job_id  # Ran in the job, before the tasks.
    summary = assert_finished_run(workdir)
    logs = sorted(glob.glob(str(workdir / 'slurm' / '*_log.err')))
    assert len(logs) == 2, logs  # One log per task.
    text = ''.join(open(p).read() for p in logs)
    if 'num_processes' in summary:
        assert summary['num_processes'] == 2
    # ecgdepth/distributed.py logs 'Process i of n: ...' when it joins the job.
    assert 'Process 0 of 2' in text and 'Process 1 of 2' in text, text[-3000:]
    assert 'cluster' not in read(workdir / 'config.json')  # Resources are not the run's config.


@pytest.mark.slow
def test_a_failing_job_is_reported_with_its_cause(tmp_path, slurm_env):
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('')
    workdir = tmp_path / 'run'
    result = launch(
        f'--config=configs/dilated_cnn.py:{SPEC}',
        f'--workdir={workdir}',
        '--submit=slurm',
        '--wait',
        '--config.cluster.mem_gb=1',
        f'--config.data.data_dir={not_a_dir}',
        env=slurm_env,
    )
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert 'run status: failed' in result.stdout
    assert 'Not a directory' in result.stdout, result.stdout  # The cause, in one line.


def wait_until(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f'timed out after {timeout:g} s waiting for {what}')


def squeue(env, *args) -> str:
    result = subprocess.run(
        ['squeue', '--noheader', *args], env=env, capture_output=True, text=True
    )
    return result.stdout.strip()


@pytest.mark.slow
def test_a_timed_out_array_task_checkpoints_requeues_and_resumes(tmp_path, slurm_env, data_dir):
    """submitit's USR2 (SLURM sends it 90 s before the time limit) as `scancel --signal`."""
    prepare_data(data_dir)
    sweep_file = tmp_path / 'tiny.py'
    sweep_file.write_text(SWEEP_FILE)
    workdir = tmp_path / 'sweep'
    proc = launch_in_background(
        f'--config={sweep_file}',
        f'--workdir={workdir}',
        '--sweep',
        '--task_index=2',  # lstm at depth 1: quick steps.
        '--submit=slurm',
        '--wait',
        '--config.cluster.mem_gb=1',
        '--config.train.num_steps=2000',
        '--config.train.eval_every=2000',
        env=slurm_env,
    )
    try:
        wait_until(lambda: os.path.exists(workdir / 'sweep.json'), 30, 'sweep.json')
        trial_id = read(workdir / 'sweep.json')['trials'][2]['id']
        metrics = workdir / trial_id / 'metrics.jsonl'
        wait_until(
            # Two logged training intervals: the loop is well under way (not compiling).
            lambda: os.path.exists(metrics) and open(metrics).read().count('"type": "train"') >= 2,
            60,
            'the trial to train',
        )
        (record,) = glob.glob(str(workdir / 'slurm' / '*.json'))
        job = read(record)['job_id']
        assert squeue(slurm_env, '--format=%T', f'--jobs={job}') == 'RUNNING'
        subprocess.run(['scancel', '--signal=USR2', job], env=slurm_env, check=True)
        # The task checkpoints and requeues itself; SLURM holds the requeued job for
        # slurm_cluster.CRED_EXPIRE_S + 1 s before it reruns and resumes from the checkpoint.
        try:
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            state = subprocess.run(
                ['scontrol', 'show', 'job', job], env=slurm_env, capture_output=True, text=True
            )
            pytest.fail(f'launch.py --wait ran {TIMEOUT} s past the USR2; job:\n{state.stdout}')
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stdout + stderr[-3000:]
    status = read(workdir / trial_id / 'status.json')
    assert status['status'] == 'done', status
    assert status['attempts'] == 2
    first, second = status['history']
    assert first['status'] == 'pending' and first['error'].startswith('preempted at step')
    assert second['status'] == 'done'
    summary = assert_finished_run(workdir / trial_id)
    assert summary['num_steps'] == 2000
    log = open(glob.glob(str(workdir / 'slurm' / '*_0_log.out'))[0]).read()
    assert 'Requeued job' in log


@pytest.mark.slow
def test_waiting_on_a_job_cancelled_before_it_ran_ends_with_its_state(tmp_path, slurm_env):
    """A job cancelled while pending leaves no result: --wait reads scontrol's CANCELLED
    instead of waiting out cluster.SETTLE_S (longer than TIMEOUT) for a requeue to come back."""
    blocker = subprocess.run(  # Holds the node, so that the job stays pending.
        ['sbatch', '--parsable', '--exclusive', f'--output={tmp_path}/blocker.out', '--wrap',
         'sleep 600'],
        env=slurm_env, capture_output=True, text=True, check=True,
    ).stdout.strip().split(';')[0]  # fmt: skip
    workdir = tmp_path / 'run'
    proc = launch_in_background(
        f'--config=configs/dilated_cnn.py:{SPEC}',
        f'--workdir={workdir}',
        '--submit=slurm',
        '--wait',
        '--config.cluster.mem_gb=1',
        env=slurm_env,
    )
    try:
        records = wait_until(
            lambda: glob.glob(str(workdir / 'slurm' / '*.json')), 30, 'the submission record'
        )
        job = read(records[0])['job_id']
        wait_until(
            lambda: squeue(slurm_env, '--format=%T', f'--jobs={job}') == 'PENDING', 30, 'pending'
        )
        subprocess.run(['scancel', job], env=slurm_env, check=True)
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        subprocess.run(['scancel', blocker], env=slurm_env, check=False)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, stdout + stderr[-3000:]
    assert f'Job {job} left no result (SLURM state CANCELLED)' in stdout, stdout
