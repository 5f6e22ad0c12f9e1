"""Running sweeps: per-trial status files, claims so no trial runs twice, and local workers.

Layout of a sweep workdir W (the names and status words are in ecgdepth/workdir.py):
    W/sweep.json            the trial list (index, id, overrides, config hash), written at start
    W/<trial-id>/status.json  pending | running | done | diverged | failed (schema: new_status)
    W/<trial-id>/claim.lock   present while a worker runs the trial
    W/<trial-id>/config.json, metrics.jsonl, summary.json, log.txt, tensorboard/
                            written by train_and_evaluate

Claims: a worker runs a trial only after creating claim.lock with O_CREAT | O_EXCL; the file
holds host, pid, a random token and a heartbeat time that a background thread rewrites every
stale_after / 4 s. A claim is stale when its heartbeat is older than stale_after (default
120 s), or its host is this host and its pid is dead (or a zombie). A stale claim is broken by
renaming it aside (atomic: only one breaker wins) and retrying the exclusive create; if the
renamed file turns out to have been refreshed meanwhile, it is put back. So a killed worker's
trial is re-claimed at once on the same host, and after stale_after on another.

Re-running a sweep skips done and diverged trials (a divergence is a result) and retries
failed ones only with retry_failed. A trial that raises is recorded as failed and the sweep goes
on; the caller exits non-zero if any trial ended failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections
from absl import logging

from ecgdepth import data as data_lib
from ecgdepth import files, logs, progress
from ecgdepth import sweep as sweep_lib
from ecgdepth import workdir as workdir_lib
from ecgdepth.sweep import SweepError, Trial
from ecgdepth.train import train_and_evaluate
from ecgdepth.workdir import (
    CLAIM_FILE,
    COMPILATION_CACHE_DIR,
    DEFAULT_STALE_AFTER,
    FAILED,
    FINISHED,
    PENDING,
    PREEMPTED,
    RUNNING,
    SLURM_TASK_ENV,
    STATUS_FILE,
    SWEEP_FILE,
)

HOST = socket.gethostname()
POLL_S = 2.0  # Seconds between the parent's looks at the trial directories (--workers > 1).
# Tokens of the claims this process holds: a lock naming our pid with another token is stale.
_ACTIVE_TOKENS: set[str] = set()


def trial_dir(workdir: str, trial: Trial) -> str:
    return os.path.join(workdir, trial.id)


def read_status(directory: str) -> dict | None:
    """The trial's status.json, or None if absent; SweepError if damaged."""
    try:
        return workdir_lib.read_status(directory)
    except workdir_lib.CorruptFile as error:
        raise SweepError(str(error)) from None


def new_status(trial: Trial) -> dict[str, Any]:
    """status.json of a trial that has not started. Fields:

    id, index, overrides, config_hash: which trial (config_hash guards a reused workdir);
    status: pending | running | done | diverged | failed; attempts: runs started so far;
    host, pid, started, finished: the latest attempt; created, updated: epoch seconds;
    error, traceback: why it failed or was preempted (else None); result: the best step's
    validation/test value of the selection metric, params, wall time (finished runs);
    history: one entry per attempt (attempts, host, pid, started, finished, status, error).
    """
    now = time.time()
    return {
        'id': trial.id,
        'index': trial.index,
        'overrides': trial.overrides,
        'config_hash': trial.config_hash,
        'status': PENDING,
        'attempts': 0,
        'host': None,
        'pid': None,
        'created': now,
        'started': None,
        'finished': None,
        'updated': now,
        'error': None,
        'traceback': None,
        'result': None,
        'history': [],
    }


def write_status(directory: str, status: dict) -> None:
    status['updated'] = time.time()
    files.write_json(os.path.join(directory, STATUS_FILE), status)


def _create_if_absent(path: str, obj: dict) -> bool:
    """Writes JSON to `path` only if nothing is there, atomically (link never overwrites)."""
    directory = os.path.dirname(path)
    tmp = os.path.join(directory, f'.{os.path.basename(path)}.{uuid.uuid4().hex}')
    files.write_json(tmp, obj)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


# --------------------------------------------------------------------------------------------
# Claims.
# --------------------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs on this host; a zombie (killed, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f'/proc/{pid}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        return state not in ('Z', 'X')
    except (OSError, IndexError):
        return True


def _read_lock(path: str) -> tuple[str | None, dict | None, float | None]:
    """(raw text, parsed info or None if unreadable, mtime); (None, None, None) if absent."""
    try:
        with open(path) as f:
            raw = f.read()
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None, None, None
    try:
        info = json.loads(raw)
        float(info['heartbeat'])
    except (json.JSONDecodeError, TypeError, KeyError, ValueError):
        info = None  # Created but not yet written (or its writer died right then), or foreign.
    return raw, info, mtime


def stale_reason(info: dict | None, mtime: float, stale_after: float) -> str | None:
    """Why a lock is stale, or None if it is live."""
    now = time.time()
    if info is None:
        age = now - mtime
        return f'unreadable lock {age:.0f} s old' if age > stale_after else None
    age = now - float(info['heartbeat'])
    if age > stale_after:
        return f'heartbeat {age:.0f} s old (> {stale_after:g} s)'
    if info.get('host') == HOST:
        pid = info.get('pid')
        if isinstance(pid, int):
            if pid == os.getpid() and info.get('token') not in _ACTIVE_TOKENS:
                return f'left by this process (pid {pid}) without a live claim'
            if pid != os.getpid() and not pid_alive(pid):
                return f'pid {pid} on {HOST} is dead'
    return None


class Claim:
    """A held claim on one trial directory; refreshes its heartbeat until released."""

    def __init__(self, path: str, token: str, stale_after: float):
        self.path = path
        self.token = token
        self.stale_after = stale_after
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def info(self) -> dict[str, Any]:
        return {
            'host': HOST,
            'pid': os.getpid(),
            'token': self.token,
            'heartbeat': time.time(),
            'stale_after': self.stale_after,
        }

    def owned(self) -> bool:
        _, info, _ = _read_lock(self.path)
        return info is not None and info.get('token') == self.token

    def beat(self) -> bool:
        """Refreshes the heartbeat if the lock is still ours; False (and `lost`) if not."""
        if not self.owned():
            self.lost = True
            return False
        files.write_text(self.path, json.dumps(self.info()))
        return True

    def start(self) -> None:
        interval = max(self.stale_after / 4, 0.05)

        def run():
            while not self._stop.wait(interval):
                try:
                    if not self.beat():
                        logging.error('Lost the claim %s to another worker.', self.path)
                        return
                except OSError as error:  # A full or flaky disk must not kill the trial.
                    logging.warning('Heartbeat of %s failed: %s', self.path, error)

        self._thread = threading.Thread(target=run, name=f'heartbeat {self.path}', daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.owned():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        _ACTIVE_TOKENS.discard(self.token)


def _break(path: str, seen: str) -> None:
    """Moves a stale lock aside; puts it back if it changed since it was judged stale."""
    aside = f'{path}.stale-{uuid.uuid4().hex[:8]}'
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # Someone else broke it first.
    try:
        with open(aside) as f:
            now_raw = f.read()
        if now_raw != seen:  # Refreshed or replaced meanwhile: not the lock judged stale.
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
    finally:
        os.unlink(aside)


def claim(
    directory: str, *, stale_after: float = DEFAULT_STALE_AFTER, start: bool = True
) -> Claim | None:
    """Claims a trial directory: a Claim (heartbeat running if `start`), or None if a live
    claim of another worker holds it. Stale claims are broken (see the module docstring)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, CLAIM_FILE)
    for _ in range(3):
        token = uuid.uuid4().hex
        held = Claim(path, token, stale_after)
        # Registered before the create: a thread of this process must never see our fresh lock
        # with an unregistered token (it would judge it left behind, hence stale).
        _ACTIVE_TOKENS.add(token)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            _ACTIVE_TOKENS.discard(token)
            raw, info, mtime = _read_lock(path)
            if raw is None:
                continue  # Released between our create and our read: try again.
            why = stale_reason(info, mtime, stale_after)
            if why is None:
                return None
            owner = f'{info.get("host")} pid {info.get("pid")}' if info else 'unknown'
            logging.warning('Breaking stale claim %s (%s): %s.', path, owner, why)
            _break(path, raw)
            continue
        with os.fdopen(fd, 'w') as f:
            f.write(json.dumps(held.info()))
            f.flush()
            os.fsync(f.fileno())
        if start:
            held.start()
        return held
    return None


# --------------------------------------------------------------------------------------------
# Running trials.
# --------------------------------------------------------------------------------------------


def _check_hash(directory: str, status: dict | None, trial: Trial) -> None:
    if status is not None and status.get('config_hash') not in (None, trial.config_hash):
        raise SweepError(
            f'{directory} holds trial {trial.id} with a different config (hash '
            f'{status.get("config_hash")}, now {trial.config_hash}): the sweep base config '
            'changed. Use a fresh --workdir, or delete that trial directory.'
        )


def prepare_workdir(trials: Sequence[Trial], workdir: str, source: str = '') -> None:
    """Writes sweep.json and a pending status for new trials; refuses a workdir whose trials
    ran with other configs under the same ids."""
    os.makedirs(workdir, exist_ok=True)
    for trial in trials:
        _check_hash(trial_dir(workdir, trial), read_status(trial_dir(workdir, trial)), trial)
    files.write_json(
        os.path.join(workdir, SWEEP_FILE),
        {
            'source': source,
            'host': HOST,
            'written': time.time(),
            'num_trials': len(trials),
            'trials': [trial.record() for trial in trials],
        },
    )
    for trial in trials:
        directory = trial_dir(workdir, trial)
        os.makedirs(directory, exist_ok=True)
        _create_if_absent(os.path.join(directory, STATUS_FILE), new_status(trial))


def _result(summary: dict) -> dict[str, Any]:
    metric = summary.get('select_metric')
    pick = lambda split: (summary.get(split) or {}).get(metric)  # noqa: E731
    return {
        'select_metric': metric,
        'val': pick('val'),
        'test': pick('test'),
        'best_step': summary.get('best_step'),
        'params': summary.get('params'),
        'wall_time_s': summary.get('wall_time_s'),
    }


def _skip_reason(status: dict | None, retry_failed: bool) -> str | None:
    state = (status or {}).get('status')
    if state in FINISHED:
        return state
    if state == FAILED and not retry_failed:
        return state
    return None


def run_trial(
    trial: Trial,
    workdir: str,
    *,
    retry_failed: bool = False,
    stale_after: float = DEFAULT_STALE_AFTER,
    on_start: Callable[[], None] | None = None,
) -> str:
    """Runs one trial unless it is finished, failed (without retry_failed) or claimed by a live
    worker. Returns what happened: 'done', 'diverged', 'failed', 'skipped <status>', 'busy' or
    'lost' (our claim was broken by another worker: its status is left to that worker).
    `on_start` is called once the trial is marked running (else that is logged)."""
    directory = trial_dir(workdir, trial)
    status = read_status(directory)
    _check_hash(directory, status, trial)
    skip = _skip_reason(status, retry_failed)
    if skip:
        return f'skipped {skip}'
    held = claim(directory, stale_after=stale_after)
    if held is None:
        return 'busy'
    try:
        status = read_status(directory) or new_status(trial)  # Another worker may have run it.
        _check_hash(directory, status, trial)
        skip = _skip_reason(status, retry_failed)
        if skip:
            return f'skipped {skip}'
        _start_attempt(directory, status, trial)
        if on_start is None:
            logging.info(
                'Trial %d %s: running (attempt %d).', trial.index, trial.id, status['attempts']
            )
        else:
            on_start()
        outcome, error, trace, result = FAILED, None, None, None
        try:
            summary = train_and_evaluate(_with_shared_cache(trial.config, workdir), directory)
            outcome, error, result = _outcome(summary)
        except Exception as exc:
            error, trace = f'{type(exc).__name__}: {exc}', traceback.format_exc()
            logging.error('Trial %d %s failed: %s', trial.index, trial.id, error)
        except BaseException as exc:  # Interrupted: record it, release the claim, re-raise.
            error = f'interrupted ({type(exc).__name__})'
            _finish(directory, status, FAILED, error, traceback.format_exc(), None, held)
            raise
        if not _finish(directory, status, outcome, error, trace, result, held):
            return 'lost'
        return PREEMPTED if outcome == PENDING else outcome
    finally:
        held.release()


def _start_attempt(directory: str, status: dict, trial: Trial) -> None:
    """Marks the trial running under this process, as attempt n + 1."""
    status.update(
        status=RUNNING,
        attempts=status.get('attempts', 0) + 1,
        host=HOST,
        pid=os.getpid(),
        started=time.time(),
        finished=None,
        error=None,
        traceback=None,
        result=None,
    )
    write_status(directory, status)


def _outcome(summary: dict) -> tuple[str, str | None, dict]:
    """(status to record, error, result) of a run that returned: a preempted run is pending
    again (it resumes from its checkpoint); an unknown status is a failure."""
    outcome, error = summary.get('status'), None
    if outcome == PREEMPTED:
        outcome, error = PENDING, f'preempted at step {summary.get("preempted_step")}'
    elif outcome not in FINISHED:
        outcome, error = FAILED, f'train_and_evaluate returned status {outcome!r}'
    return outcome, error, _result(summary)


def _finish(directory, status, outcome, error, trace, result, held: Claim) -> bool:
    """Writes the final status unless our claim was taken over (then its new owner writes)."""
    if not held.owned():
        logging.error('%s: claim lost while running; not overwriting its status.', directory)
        return False
    status.update(status=outcome, finished=time.time(), error=error, traceback=trace, result=result)
    status.setdefault('history', []).append(
        {
            key: status[key]
            for key in ('attempts', 'host', 'pid', 'started', 'finished', 'status', 'error')
        }
    )
    write_status(directory, status)
    return True


def _with_shared_cache(config: ml_collections.ConfigDict, workdir: str):
    """One persistent compilation cache per sweep: trials of the same shapes compile once."""
    if config.train.compilation_cache_dir:
        return config
    config = config.copy_and_resolve_references()
    config.train.compilation_cache_dir = os.path.join(
        os.path.abspath(workdir), COMPILATION_CACHE_DIR
    )
    return config


def run_trials(
    trials: Sequence[Trial],
    workdir: str,
    *,
    retry_failed: bool = False,
    stale_after: float = DEFAULT_STALE_AFTER,
    tracker: progress.Tracker | None = None,
) -> dict[str, str]:
    """Runs trials one after another in this process; {trial id: what happened}. With a
    `tracker`, each start and end is logged as a progress line (trial k of N, the counts)."""
    outcomes = {}
    on_change = None if tracker is None else (lambda: log_progress(tracker))
    for trial in trials:
        outcomes[trial.id] = run_trial(
            trial, workdir, retry_failed=retry_failed, stale_after=stale_after, on_start=on_change
        )
        if on_change is None or outcomes[trial.id] not in (*FINISHED, FAILED, PREEMPTED):
            logging.info('Trial %d %s: %s.', trial.index, trial.id, outcomes[trial.id])
        if on_change is not None:
            on_change()
        if outcomes[trial.id] == PREEMPTED:
            logging.warning('Preempted: starting no more trials; relaunch to resume.')
            break
    return outcomes


def log_progress(tracker: progress.Tracker) -> None:
    """Logs what changed in the sweep since the tracker's last look, one line per trial."""
    try:
        lines = tracker.update()
    except (OSError, ValueError) as error:  # A progress line is never worth a trial.
        logging.warning('Sweep progress unavailable: %s', error)
        return
    for line in lines:
        logging.info('%s', line)


@contextlib.contextmanager
def _polling(tracker: progress.Tracker | None, every: float = POLL_S):
    """Logs the sweep's changes every `every` s while worker processes run it (this process
    sees their progress only in the trial directories), and once more at the end."""
    if tracker is None:
        yield
        return
    stop = threading.Event()

    def poll():
        while not stop.wait(every):
            log_progress(tracker)

    thread = threading.Thread(target=poll, name='sweep progress', daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        log_progress(tracker)


def _payload(trials, workdir, retry_failed, stale_after) -> str:
    return json.dumps(
        {
            'workdir': os.path.abspath(workdir),
            'retry_failed': retry_failed,
            'stale_after': stale_after,
            'datasets': data_lib.registered(),  # Registered by a config file, say.
            'trials': [{**trial.record(), 'config': trial.config.to_dict()} for trial in trials],
        }
    )


def _trials_from_payload(payload: dict) -> list[Trial]:
    return [
        Trial(
            index=t['index'],
            id=t['id'],
            overrides=t['overrides'],
            config=ml_collections.ConfigDict(t['config']),
            config_hash=t['config_hash'],
            params=t.get('params'),
        )
        for t in payload['trials']
    ]


def run_workers(
    trials: Sequence[Trial],
    workdir: str,
    workers: int,
    *,
    retry_failed: bool = False,
    stale_after: float = DEFAULT_STALE_AFTER,
    tracker: progress.Tracker | None = None,
) -> list[int]:
    """Runs the trials in `workers` fresh processes (never forked from a process that has
    JAX initialised); each walks the whole list, claims decide who runs what. Returns their
    exit codes. With a `tracker`, this process logs the sweep's progress as it changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (root, env.get('PYTHONPATH')) if p)
    payload = _payload(trials, workdir, retry_failed, stale_after)
    procs = []
    for k in range(workers):
        proc = subprocess.Popen(
            [sys.executable, '-m', 'ecgdepth.trial', f'--worker={k}'],
            stdin=subprocess.PIPE,
            env=env,
            text=True,
        )
        proc.stdin.write(payload)
        proc.stdin.close()
        procs.append(proc)
    logging.info('Started %d workers: pids %s.', workers, [p.pid for p in procs])
    with _forward_sigterm(procs), _polling(tracker):
        return [proc.wait() for proc in procs]


@contextlib.contextmanager
def _forward_sigterm(procs):
    """A preemption notice to this process reaches the workers (they checkpoint and stop)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum, frame):
        del frame
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def summary_table(trials: Sequence[Trial], workdir: str) -> str:
    """One line per trial: index, id, status, attempts, validation and test metric, params."""
    rows = [('#', 'id', 'status', 'tries', 'val', 'test', 'params')]
    metric = None
    for trial in trials:
        status = read_status(trial_dir(workdir, trial)) or {}
        result = status.get('result') or {}
        metric = metric or result.get('select_metric')
        fmt = lambda v: '-' if v is None else f'{v:.4f}'  # noqa: E731
        rows.append(
            (
                str(trial.index),
                trial.id,
                status.get('status', 'missing'),
                str(status.get('attempts', 0)),
                fmt(result.get('val')),
                fmt(result.get('test')),
                str(result.get('params') or trial.params or '-'),
            )
        )
    if metric:
        rows[0] = (*rows[0][:4], f'val {metric}', f'test {metric}', rows[0][6])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return '\n'.join(
        '  '.join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def dry_run_table(trials: Sequence[Trial]) -> str:
    lines = []
    for trial in trials:
        extra = (
            f'  -> width {trial.config.model.width}, {trial.params} params' if trial.params else ''
        )
        lines.append(
            f'{trial.index:4d}  {trial.id}  {json.dumps(trial.overrides, sort_keys=True)}{extra}'
        )
    return '\n'.join(lines)


def select(trials: Sequence[Trial], task_index: int | None) -> list[Trial]:
    """All trials, or only trial `task_index` (naming the valid range if it is out of it)."""
    if task_index is None:
        return list(trials)
    if not 0 <= task_index < len(trials):
        raise SweepError(
            f'Task index {task_index} is out of range: the sweep has {len(trials)} trials '
            f'(0..{len(trials) - 1}).'
        )
    return [trials[task_index]]


def task_index_from_env(env: dict | None = None) -> int | None:
    """$SLURM_ARRAY_TASK_ID as an int, or None if unset."""
    value = (os.environ if env is None else env).get(SLURM_TASK_ENV)
    if value is None or value == '':
        return None
    try:
        return int(value)
    except ValueError:
        raise SweepError(f'{SLURM_TASK_ENV}={value!r} is not an integer.') from None


def run_sweep(
    trials: Sequence[Trial],
    workdir: str,
    *,
    source: str = '',
    workers: int = 1,
    task_index: int | None = None,
    dry_run: bool = False,
    retry_failed: bool = False,
    stale_after: float = DEFAULT_STALE_AFTER,
    out=None,
    base_overrides: dict | None = None,
) -> int:
    """Runs (or lists, with dry_run) a sweep's trials into workdir/<trial id>/ and prints a
    summary table to `out` (stdout). Returns the exit code: 1 if any selected trial ended
    failed or a worker crashed, else 0."""
    out = out or sys.stdout
    if dry_run:
        print(f'{len(trials)} trials in {source or "the sweep"}:', file=out)
        if base_overrides:
            given = ' '.join(f'--config.{k}={v}' for k, v in base_overrides.items())
            print(f'every trial with the command-line overrides {given}', file=out)
        print(dry_run_table(select(trials, task_index)), file=out)
        return 0
    chosen = select(trials, task_index)
    prepare_workdir(trials, workdir, source)
    workers = max(1, min(workers, len(chosen)))
    tracker = progress.Tracker(workdir, workers=workers)
    codes = []
    if workers == 1:
        run_trials(
            chosen, workdir, retry_failed=retry_failed, stale_after=stale_after, tracker=tracker
        )
    else:
        codes = run_workers(
            chosen,
            workdir,
            workers,
            retry_failed=retry_failed,
            stale_after=stale_after,
            tracker=tracker,
        )
    print(summary_table(chosen, workdir), file=out, flush=True)
    states = [(read_status(trial_dir(workdir, t)) or {}).get('status') for t in chosen]
    failed = [t.id for t, s in zip(chosen, states, strict=True) if s == FAILED]
    if failed:
        print(f'{len(failed)} trial(s) failed: {", ".join(failed)}', file=out, flush=True)
    unfinished = [t.id for t, s in zip(chosen, states, strict=True) if s in (PENDING, RUNNING)]
    if unfinished:
        print(
            f'{len(unfinished)} trial(s) not finished (preempted, or run by another worker): '
            f'{", ".join(unfinished)}',
            file=out,
            flush=True,
        )
    crashed = [code for code in codes if code != 0]
    if crashed:
        print(f'{len(crashed)} worker(s) exited with codes {crashed}.', file=out, flush=True)
    return 1 if failed or crashed else 0


def launch_sweep(
    source: str,
    workdir: str,
    *,
    base: ml_collections.ConfigDict | None = None,
    base_overrides: dict | None = None,
    task_index: int | None = None,
    vmap: bool = False,
    **kwargs,
) -> int:
    """launch.py --sweep: load and validate every trial, pick the task, run. Exit code."""
    loaded = sweep_lib.load_sweep(source, base=base, base_overrides=base_overrides, vmap=vmap)
    if task_index is None:
        task_index = task_index_from_env()
    return run_sweep(
        loaded.trials,
        workdir,
        source=source,
        task_index=task_index,
        base_overrides=base_overrides,
        **kwargs,
    )


def _worker_main(argv: list[str]) -> int:
    """A worker process: trials from stdin (JSON from run_workers), run with claims."""
    del argv
    logs.quiet_console()  # As launch.py's console.
    payload = json.loads(sys.stdin.read())
    for name, module in payload['datasets'].items():
        data_lib.register(name, module)
    trials = _trials_from_payload(payload)
    run_trials(
        trials,
        payload['workdir'],
        retry_failed=payload['retry_failed'],
        stale_after=payload['stale_after'],
    )
    return 0


if __name__ == '__main__':
    from absl import app, flags

    flags.DEFINE_integer('worker', 0, 'Worker number (for the logs).')
    app.run(_worker_main)
