"""SLURM submission (launch.py --submit=slurm): a run as one job, a sweep as one array job.

Jobs are submitted with submitit into WORKDIR/slurm/, which holds the sbatch scripts, the
pickled tasks, each task's log (<job>_<task>_log.out/.err; array tasks <job>_<k>_0_log.*) and
one <job>.json per submission naming the command and, for arrays, which trial each array
task runs. Every task runs launch.py itself, with the submitter's flags minus --submit and
--wait, in the submitter's working directory and environment (sbatch exports it):

- A run is one job of config.cluster.nodes x tasks_per_node tasks; each task runs launch.py on
  the same workdir, and with more than one task, ecgdepth/distributed.py joins them into one
  JAX job from the SLURM environment.
- A sweep is one array job with a task per trial still to run: not done or diverged, and not
  failed unless --retry_failed. Array task k runs `launch.py --sweep --task_index=i_k`,
  so the sweep's claims and status files (ecgdepth/trial.py) keep any trial from running twice,
  even alongside local workers or an earlier submission.

Resources come from config.cluster (ecgdepth/spec.py). They decide where a run runs, not what
it computes, so the section is dropped from the config that trains (`without_cluster`): a
resubmission with, say, more time resumes the same run and keeps the sweep's trial hashes.

Timeouts and preemption: submitit asks SLURM for USR2 90 s before the time limit. The task then
stops launch.py with SIGTERM (the train loop checkpoints and exits; a sweep marks the trial
pending) and requeues itself (at most 3 times); the rerun resumes from the checkpoint. A
preempting cluster's SIGTERM reaches launch.py directly with the same effect; the job is then
requeued if the cluster requeues preempted jobs, else resubmit: finished trials are skipped.
"""

from __future__ import annotations

import copy
import datetime
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ml_collections

from ecgdepth import files, progress, validation
from ecgdepth import workdir as workdir_lib

SUBMIT_CHOICES = ('', 'slurm')
LOG_FOLDER = 'slurm'  # Under the workdir.
SECTION = 'cluster'
STOP_GRACE_S = 75.0  # After USR2 (90 s before the limit): time launch.py gets to checkpoint.
POLL_S = 2.0  # --wait: seconds between squeue calls.
# --wait: how long jobs that left no result must stay unlisted before they count as ended. A job
# being requeued (preemption, time limit) leaves no result and may drop out of squeue's answer
# until it runs again; SLURM holds a requeued job for about two minutes before that.
SETTLE_S = 150.0
# scontrol's JobState values after which SLURM will not run a job again: a job unlisted in one
# of them has ended without waiting out SETTLE_S. PREEMPTED and the REQUEUE* states are not
# final (a preempted or requeued job may come back).
FINAL_STATES = frozenset(
    {'BOOT_FAIL', 'CANCELLED', 'COMPLETED', 'DEADLINE', 'FAILED', 'NODE_FAIL', 'OUT_OF_MEMORY',
     'TIMEOUT'}
)  # fmt: skip
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(REPO, 'launch.py')
# Flags that concern the submission, not the run: never passed on to the tasks.
_SUBMIT_FLAGS = ('submit', 'wait', 'task_index')
_VALUE_FLAGS = ('submit', 'task_index')  # Take a value (`--submit slurm` is two tokens).


class ClusterError(RuntimeError):
    """A submission is impossible or failed; the message names the cause."""


class TaskFailed(RuntimeError):
    """launch.py failed inside a SLURM task (its log holds the traceback)."""


# --------------------------------------------------------------------------------------------
# Configs and command lines.
# --------------------------------------------------------------------------------------------


def without_cluster(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` minus its cluster section: what trains, and what config.json and the sweep's
    trial hashes record (resources must not make a resubmitted run look like another run)."""
    if SECTION not in config:
        return config
    new = copy.deepcopy(config)
    locked = new.is_locked
    new.unlock()
    del new[SECTION]
    if locked:
        new.lock()
    return new


def run_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Command-line overrides minus cluster.* (the sweep's trials have no cluster section)."""
    return {k: v for k, v in (overrides or {}).items() if k.split('.')[0] != SECTION}


def task_argv(argv: Sequence[str]) -> list[str]:
    """The submitter's flags as each task gets them: without --submit, --wait, --task_index."""
    out: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
            continue
        if not arg.startswith('-') or arg in ('-', '--'):
            out.append(arg)
            continue
        name, has_value, _ = arg.lstrip('-').partition('=')
        bare = name[2:] if name.startswith('no') and name[2:] in _SUBMIT_FLAGS else name
        if bare in _SUBMIT_FLAGS:
            skip_value = bare in _VALUE_FLAGS and not has_value
            continue
        out.append(arg)
    return out


# config.cluster string fields passed on as they are when set ('' = the cluster's default).
_PASSED_ON = {
    'partition': 'slurm_partition',
    'account': 'slurm_account',
    'qos': 'slurm_qos',
    'constraint': 'slurm_constraint',
    'exclude': 'slurm_exclude',
}


def setup_lines(text: str) -> list[str]:
    """config.cluster.setup, 'module load cuda;source venv/bin/activate', as shell lines."""
    return [line.strip() for line in text.split(';') if line.strip()]


def executor_parameters(cluster: ml_collections.ConfigDict, *, name: str, array_size: int = 0):
    """submitit AutoExecutor parameters from config.cluster ('' / 0 fields leave the cluster's
    default: partition, account, qos, constraint, exclude, mem_gb, gpus_per_task)."""
    params: dict[str, Any] = {
        'name': name,
        'timeout_min': int(cluster.time_minutes),
        'cpus_per_task': int(cluster.cpus_per_task),
        'nodes': int(cluster.nodes),
        'tasks_per_node': int(cluster.tasks_per_node),
        # PYTHONPATH: the job's python must import ecgdepth to unpickle the task.
        'slurm_setup': [
            f'export PYTHONPATH={REPO}${{PYTHONPATH:+:$PYTHONPATH}}',
            *setup_lines(cluster.get('setup', '')),
        ],
    }
    for field, parameter in _PASSED_ON.items():
        if cluster.get(field, ''):
            params[parameter] = cluster[field]
    if cluster.get('additional_parameters', ''):
        params['slurm_additional_parameters'] = validation.sbatch_options(
            cluster.additional_parameters
        )
    if cluster.mem_gb:
        params['mem_gb'] = int(cluster.mem_gb)
    if cluster.gpus_per_task:
        params['slurm_gpus_per_task'] = int(cluster.gpus_per_task)
    if array_size:
        parallel = int(cluster.array_parallelism) or array_size
        params['slurm_array_parallelism'] = min(parallel, array_size)
    return params


# --------------------------------------------------------------------------------------------
# The task each SLURM task runs.
# --------------------------------------------------------------------------------------------


def _ignore_usr2() -> None:
    # launch.py must not die of submitit's USR2 (sent to every process of the step): its
    # parent turns it into SIGTERM, which launch.py answers with a checkpoint.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


class LaunchTask:
    """Runs `python launch.py ARGS [extra]` in `cwd` as a child process; submitit's checkpoint
    hook stops it with SIGTERM (it checkpoints) before the job is requeued."""

    def __init__(self, args: Sequence[str], cwd: str, python: str = sys.executable):
        self.command = [python, LAUNCH, *args]
        self.cwd = cwd
        self._proc: subprocess.Popen | None = None
        self._terminated = False

    def __getstate__(self):
        return {'command': self.command, 'cwd': self.cwd, '_proc': None, '_terminated': False}

    def __call__(self, *extra: str) -> int:
        command = [*self.command, *extra]
        print('Running:', ' '.join(command), flush=True)
        self._proc = subprocess.Popen(command, cwd=self.cwd, preexec_fn=_ignore_usr2)
        self._terminated = False
        previous = signal.getsignal(signal.SIGUSR2)
        if callable(previous):  # submitit's handler: stop every task's child, then its logic.

            def on_usr2(signum, frame):
                self._terminate()
                previous(signum, frame)

            signal.signal(signal.SIGUSR2, on_usr2)
        try:
            code = self._wait()
        except BaseException:  # Requeue (SystemExit) or an error: let launch.py checkpoint.
            self.stop()
            raise
        if code != 0:
            raise TaskFailed(f'launch.py exited with code {code} (command above).')
        return code

    def _terminate(self) -> None:
        """One SIGTERM only: a second one after the train loop's handler is gone would kill
        launch.py before it records the trial as pending."""
        if self._proc is not None and not self._terminated and self._proc.poll() is None:
            self._terminated = True
            self._proc.send_signal(signal.SIGTERM)

    def _wait(self, timeout: float | None = None) -> int | None:
        """The child's exit code, or None at the timeout. Polls: Popen.wait holds a lock that
        a signal handler (submitit's, calling `stop`) would then wait on forever."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self._proc.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        return code

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM launch.py and give it `grace_s` to checkpoint and exit, then kill it."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._terminate()
        if self._wait(grace_s) is None:
            self._proc.kill()
            self._wait(10.0)

    def checkpoint(self, *args, **kwargs):
        """submitit's hook before a requeue: launch.py checkpoints; the rerun resumes."""
        from submitit.helpers import DelayedSubmission

        self.stop()
        return DelayedSubmission(self, *args, **kwargs)


# --------------------------------------------------------------------------------------------
# Submitting.
# --------------------------------------------------------------------------------------------


def _executor(folder: str, cluster: ml_collections.ConfigDict, **kwargs):
    """A submitit executor for SLURM (never submitit's local fallback)."""
    missing = [p for p in ('sbatch', 'srun', 'squeue') if shutil.which(p) is None]
    if missing:
        raise ClusterError(
            f'--submit=slurm: {", ".join(missing)} not found on PATH; submit from a machine '
            'with the SLURM client tools, or drop --submit to run here.'
        )
    try:
        import submitit
    except ImportError as error:
        raise ClusterError(
            f'--submit=slurm needs submitit ({error}): pip install -r requirements.txt.'
        ) from None
    executor = submitit.AutoExecutor(folder=folder, cluster='slurm')
    executor.update_parameters(**executor_parameters(cluster, **kwargs))
    return executor


def _submit(fn):
    """Calls fn() (a submission) and turns sbatch's failures into a ClusterError."""
    try:
        return fn()
    except subprocess.CalledProcessError as error:
        output = error.output.decode(errors='replace') if error.output else ''
        raise ClusterError(f'sbatch failed (exit {error.returncode}): {output.strip()}') from None
    except (OSError, RuntimeError) as error:
        raise ClusterError(f'Submitting to SLURM failed: {error}') from None


def _job_name(workdir: str) -> str:
    return 'ecgdepth-' + (os.path.basename(os.path.normpath(os.path.abspath(workdir))) or 'run')


def _record(folder: str, job_id: str, entry: dict) -> str:
    path = os.path.join(folder, f'{job_id}.json')
    files.write_json(path, {'job_id': job_id, 'submitted': time.time(), **entry})
    return path


def submit_run(
    config: ml_collections.ConfigDict, workdir: str, argv: Sequence[str], *, wait: bool, out=None
) -> int:
    """One run as one job of nodes x tasks_per_node tasks, each running launch.py."""
    out = out or sys.stdout
    folder = os.path.join(os.path.abspath(workdir), LOG_FOLDER)
    executor = _executor(folder, config.cluster, name=_job_name(workdir))
    task = LaunchTask(task_argv(argv), os.getcwd())
    job = _submit(lambda: executor.submit(task))
    tasks = int(config.cluster.nodes) * int(config.cluster.tasks_per_node)
    _record(folder, job.job_id, {'kind': 'run', 'command': task.command, 'tasks': tasks})
    print(
        f'Submitted SLURM job {job.job_id} ({tasks} task(s), '
        f'{config.cluster.time_minutes} min) for {workdir}.\n'
        f'Logs: {folder}/{job.job_id}_<task>_log.out and .err',
        file=out,
        flush=True,
    )
    if not wait:
        return 0
    wait_for([job], out=out)
    problems = job_problems([job])
    summary = _read_summary(workdir)
    status = summary.get('status', workdir_lib.MISSING)
    print(f'Job {job.job_id} ended; run status: {status}.', file=out, flush=True)
    for problem in problems:
        print(problem, file=out, flush=True)
    return 0 if status == workdir_lib.DONE and not problems else 1


def pending_trials(trials: Sequence, workdir: str, *, retry_failed: bool) -> list:
    """The trials a submission runs: not finished (done, diverged), nor failed unless retried."""
    from ecgdepth import trial as trial_lib

    chosen = []
    for t in trials:
        state = (trial_lib.read_status(trial_lib.trial_dir(workdir, t)) or {}).get('status')
        if state in workdir_lib.FINISHED or (state == workdir_lib.FAILED and not retry_failed):
            continue
        chosen.append(t)
    return chosen


def submit_sweep(
    config: ml_collections.ConfigDict,
    trials: Sequence,
    workdir: str,
    argv: Sequence[str],
    *,
    source: str = '',
    task_index: int | None = None,
    retry_failed: bool = False,
    wait: bool,
    out=None,
) -> int:
    """The sweep's unfinished trials (or trial `task_index`) as one SLURM array job."""
    from ecgdepth import trial as trial_lib

    out = out or sys.stdout
    _check_one_task_per_trial(config.cluster)
    trial_lib.prepare_workdir(trials, workdir, source)  # Fails now if the workdir clashes.
    selected = trial_lib.select(trials, task_index)
    todo = pending_trials(selected, workdir, retry_failed=retry_failed)
    if not todo:
        print(f'Nothing to submit: the {len(selected)} selected trial(s) are finished.', file=out)
        return 0
    jobs, array_id = _submit_array(config.cluster, todo, len(trials), workdir, argv, out)
    if not wait:
        return 0
    parallel = executor_parameters(config.cluster, name='', array_size=len(todo))
    tracker = progress.Tracker(workdir, workers=parallel['slurm_array_parallelism'])
    wait_for(jobs, out=out, tracker=tracker)
    print(f'Array job {array_id} ended.', file=out, flush=True)
    print(trial_lib.summary_table(todo, workdir), file=out, flush=True)
    states = [
        (trial_lib.read_status(trial_lib.trial_dir(workdir, t)) or {}).get('status') for t in todo
    ]
    unfinished = [t.id for t, s in zip(todo, states, strict=True) if s not in workdir_lib.FINISHED]
    for problem in job_problems(jobs):
        print(problem, file=out, flush=True)
    if unfinished:
        print(f'{len(unfinished)} trial(s) not finished: {", ".join(unfinished)}', file=out)
    return 1 if unfinished else 0


def _check_one_task_per_trial(cluster: ml_collections.ConfigDict) -> None:
    """An array task runs one trial in one process: a multi-task cluster section is a mistake
    to name before anything is written."""
    if cluster.nodes * cluster.tasks_per_node != 1:
        raise ClusterError(
            f'--sweep --submit=slurm runs one process per trial, but config.cluster asks for '
            f'nodes={cluster.nodes} x tasks_per_node={cluster.tasks_per_node} tasks; set both '
            'to 1 (multi-process runs: submit a single run without --sweep).'
        )


def _submit_array(
    cluster: ml_collections.ConfigDict,
    todo: Sequence,
    num_trials: int,
    workdir: str,
    argv: Sequence[str],
    out,
) -> tuple[list, str]:
    """Submits `todo` as one array job (task k runs trial todo[k]), records which trial each
    array task runs and says where the logs go. Returns the jobs and the array id."""
    folder = os.path.join(os.path.abspath(workdir), LOG_FOLDER)
    executor = _executor(folder, cluster, name=_job_name(workdir), array_size=len(todo))
    task = LaunchTask(task_argv(argv), os.getcwd())
    indices = [f'--task_index={t.index}' for t in todo]
    jobs = _submit(lambda: executor.map_array(task, indices))
    array_id = jobs[0].job_id.split('_')[0]
    record = _record(
        folder,
        array_id,
        {
            'kind': 'sweep',
            'command': task.command,
            'array': [
                {'array_task': k, 'trial_index': t.index, 'trial_id': t.id}
                for k, t in enumerate(todo)
            ],
        },
    )
    parallel = executor_parameters(cluster, name='', array_size=len(todo))
    print(
        f'Submitted SLURM array job {array_id}: {len(todo)} task(s) for trials '
        f'{_ranges(t.index for t in todo)} of {num_trials}, at most '
        f'{parallel["slurm_array_parallelism"]} at a time, {cluster.time_minutes} min each.\n'
        f'Logs: {folder}/{array_id}_<k>_0_log.out and .err (array task k -> trial: {record})',
        file=out,
        flush=True,
    )
    return jobs, array_id


def _ranges(indices: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    parts, run = [], []
    for i in sorted(indices):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(f'{run[0]}-{run[-1]}' if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        parts.append(f'{run[0]}-{run[-1]}' if len(run) > 1 else str(run[0]))
    return ','.join(parts)


# --------------------------------------------------------------------------------------------
# Waiting (--wait).
# --------------------------------------------------------------------------------------------


def _read_summary(directory: str) -> dict:
    """The run's summary.json as a dict; empty if absent or damaged (the job's logs say why)."""
    try:
        summary = workdir_lib.read_summary(directory)
    except workdir_lib.CorruptFile:
        return {}
    return {} if summary is None else summary.to_dict()


def _slurm(command: Sequence[str]) -> subprocess.CompletedProcess | None:
    """A SLURM client command's result (not checked); None if it is missing or hangs."""
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _squeue(ids: Sequence[str]) -> set[str] | None:
    """The job ids squeue lists among `ids` (an array id lists its tasks); None if it fails."""
    result = subprocess.run(
        ['squeue', '--noheader', '--format=%i', f'--jobs={",".join(ids)}'],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        if 'Invalid job id' in result.stderr:  # Ended and already purged.
            return set()
        return None
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


def queued(job_ids: Iterable[str]) -> set[str] | None:
    """Which of the jobs squeue still lists (pending, running, requeued...); None if squeue
    fails. Works without SLURM accounting (sacct), which many small clusters lack."""
    job_ids = sorted(set(job_ids))
    arrays = sorted({j.split('_')[0] for j in job_ids})
    listed = _squeue(arrays)
    if listed != set():
        return listed
    # A requeued array task can be listed under its own id only, not its array's.
    found: set[str] = set()
    for job_id in job_ids:
        if job_id not in arrays:
            got = _squeue([job_id])
            if got is None:
                return None
            found |= got
    return found


def job_state(job_id: str) -> str | None:
    """scontrol's JobState of a job (SLURM keeps an ended job's record for MinJobAge, 300 s by
    default); None if SLURM no longer knows the job or scontrol fails."""
    result = _slurm(['scontrol', 'show', 'job', '--oneliner', job_id])
    if result is None or result.returncode != 0:
        return None
    states = set(re.findall(r'\bJobState=(\S+)', result.stdout))
    return states.pop() if len(states) == 1 else None


def wait_for(
    jobs: Sequence,
    *,
    poll_s: float = POLL_S,
    settle_s: float = SETTLE_S,
    out=None,
    tracker: progress.Tracker | None = None,
) -> None:
    """Blocks until SLURM no longer lists the jobs (requeued ones are waited for too). Jobs that
    left no result must be in a final state (cancelled, failed...) or stay gone for `settle_s`:
    a job between its requeue and its return as PENDING has none, and has not ended. With a
    sweep's `tracker`, prints a progress line (trial k of N, the counts) at each change."""
    out = out or sys.stdout
    start = time.time()
    counted = f': {tracker.line()}' if tracker else '...'
    print(f'Waiting for job(s) {jobs[0].job_id.split("_")[0]}{counted}', file=out, flush=True)
    gone_since = None
    while True:
        for line in tracker.update() if tracker else ():
            print(line, file=out, flush=True)
        listed = queued(job.job_id for job in jobs)
        if listed is None:  # No squeue answer: fall back on submitit's result files.
            gone = all(job.done() for job in jobs)
        else:
            gone = not listed
        if not gone:
            gone_since = None
        elif all(_has_result(job) for job in jobs):
            break
        elif all(job_state(job.job_id) in FINAL_STATES for job in jobs if not _has_result(job)):
            break
        elif gone_since is None:
            gone_since = time.time()
        elif time.time() - gone_since >= settle_s:
            break
        time.sleep(poll_s)
    for line in tracker.update() if tracker else ():
        print(line, file=out, flush=True)
    elapsed = datetime.timedelta(seconds=round(time.time() - start))
    print(f'Job(s) ended after {elapsed}.', file=out, flush=True)


def _squeue_states(ids: Sequence[str]) -> dict[str, str] | None:
    """squeue's state of each job it lists among `ids`, array tasks one per line, pending ones
    too ({'123_4': 'RUNNING'}); None if squeue is missing or fails."""
    result = _slurm(
        ['squeue', '--noheader', '--array', '--format=%i %T', f'--jobs={",".join(ids)}']
    )
    if result is None:
        return None
    if result.returncode != 0:
        return {} if 'Invalid job id' in result.stderr else None
    pairs = (line.split() for line in result.stdout.splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def sweep_records(workdir: str) -> list[dict]:
    """The sweep submissions recorded in WORKDIR/slurm/ (see _record), oldest first."""
    records = []
    for path in glob.glob(os.path.join(workdir, LOG_FOLDER, '*.json')):
        try:
            with open(path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue  # Not ours, or damaged: the status table goes on without it.
        if isinstance(record, dict) and record.get('kind') == 'sweep':
            records.append(record)
    return sorted(records, key=lambda r: r.get('submitted') or 0)


def sweep_slurm_states(workdir: str) -> dict[int, str] | None:
    """Trial index -> the SLURM state of the array task that last ran it (submit_sweep's
    records map array task k to a trial): squeue's while listed, else scontrol's (SLURM keeps
    an ended job for MinJobAge), else 'gone'; '?' where squeue cannot be asked. None if the
    sweep was never submitted to SLURM."""
    records = sweep_records(workdir)
    if not records:
        return None
    tasks = {}  # Later submissions of a trial win.
    for record in records:
        for entry in record.get('array', []):
            tasks[entry['trial_index']] = f'{record["job_id"]}_{entry["array_task"]}'
    listed = _squeue_states(sorted({str(r['job_id']) for r in records}))
    if listed is None:
        return dict.fromkeys(tasks, '?')
    return {
        index: listed.get(job_id) or job_state(job_id) or 'gone' for index, job_id in tasks.items()
    }


def _has_result(job) -> bool:
    """Whether submitit's result file of the job is written (it is, once the job returned)."""
    paths = getattr(job, 'paths', None)
    return paths is not None and paths.result_pickle.exists()


def job_problems(jobs: Sequence) -> list[str]:
    """One line per job that failed or left no result, naming its log."""
    problems = []
    for job in jobs:
        if not job.paths.result_pickle.exists():
            state = job_state(job.job_id)
            why = f'SLURM state {state}' if state else 'cancelled, killed or out of time?'
            problems.append(
                f'Job {job.job_id} left no result ({why}); '
                f'see {job.paths.stdout} and {job.paths.stderr}.'
            )
            continue
        if job.exception() is not None:
            cause = _last_error(str(job.paths.stderr)) or 'see the log'
            problems.append(f'Job {job.job_id} failed: {cause} ({job.paths.stderr}).')
    return problems


def _last_error(log: str) -> str | None:
    """The last exception line in a task's log that is not submitit's or ours: the cause."""
    try:
        with open(log, errors='replace') as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    errors = [
        line.removeprefix('launch.py: error: ')
        for line in lines
        if re.match(r'^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*', line)
        and not line.startswith(('ecgdepth.cluster.TaskFailed', 'TaskFailed'))
        or line.startswith('launch.py: error: ')  # A mistake launch.py names in one line.
    ]
    return errors[-1][:500] if errors else None
