"""Sweep progress from the workdir's files alone: each trial's state, the counts line with its
elapsed time and ETA, the lines of what changed, and the --status table.

One module so that the local sweep (trial.py), SLURM --wait (cluster.py) and launch.py --status
count alike. It reads sweep.json and each trial's status.json (else summary.json), so any
process can watch any sweep, local or on SLURM; it imports only the standard library and the
workdir contract (test_structure), and leaves printing or logging to its callers.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import time
from collections.abc import Mapping, Sequence

from ecgdepth import workdir as workdir_lib
from ecgdepth.workdir import (
    DONE,
    FAILED,
    FINISHED,
    MISSING,
    PENDING,
    PREEMPTED,
    RUNNING,
    CorruptFile,
)

# The counts line lists these always, then diverged and missing when there are any.
ALWAYS_COUNTED = (DONE, FAILED, RUNNING, PENDING)
TAIL_BYTES = 8192  # Read from the end of metrics.jsonl to find a running trial's last step.


@dataclasses.dataclass(frozen=True)
class TrialState:
    """What the files say of one trial now: its status word and latest attempt's times."""

    index: int
    id: str
    status: str
    started: float | None = None
    finished: float | None = None


def sweep_entries(workdir: str) -> list[dict] | None:
    """sweep.json's trial list (index, id, ...), or None if workdir holds no sweep."""
    sweep = workdir_lib.read_json(os.path.join(workdir, workdir_lib.SWEEP_FILE))
    return None if sweep is None else list(sweep.get('trials', []))


def trial_state(workdir: str, entry: Mapping) -> TrialState:
    """The trial's state from status.json, else its run's summary.json; pending when it has
    neither yet (preempted counts as pending: it resumes), missing when one is damaged."""
    directory = os.path.join(workdir, entry['id'])
    try:
        status = workdir_lib.read_status(directory)
        if status is None:
            summary = workdir_lib.read_summary(directory)
            status = {'status': summary.status if summary else PENDING}
    except CorruptFile:
        status = {'status': MISSING}
    word = status.get('status') or MISSING
    word = PENDING if word == PREEMPTED else word
    started, finished = status.get('started'), status.get('finished')
    return TrialState(entry['index'], entry['id'], word, started, finished)


def sweep_states(workdir: str, entries: Sequence[Mapping] | None = None) -> list[TrialState]:
    """Every trial's state (entries: sweep.json's, read if not given)."""
    entries = sweep_entries(workdir) if entries is None else entries
    return [trial_state(workdir, entry) for entry in entries or []]


def counts(states: Sequence[TrialState]) -> dict[str, int]:
    """How many trials are in each state (every word of workdir.STATES, zeros included)."""
    found = {word: 0 for word in workdir_lib.STATES}
    for state in states:
        found[state.status] = found.get(state.status, 0) + 1
    return found


def eta_s(states: Sequence[TrialState], workers: int | None, now: float) -> float | None:
    """Seconds until the unfinished trials are done: the mean duration of finished trials for
    each pending one and what is left of it for each running one, over `workers` in parallel
    (None: as many as are running now; never more than trials are left). None before any
    trial finished."""
    durations = [
        s.finished - s.started for s in states if s.status in FINISHED and s.started and s.finished
    ]
    if not durations:
        return None
    mean = sum(durations) / len(durations)
    work, running, left = 0.0, 0, 0
    for s in states:
        if s.status == RUNNING:
            running += 1
            work += max(mean - (now - s.started), 0.0) if s.started else mean
        elif s.status in (PENDING, MISSING):
            work += mean
        left += s.status in (RUNNING, PENDING, MISSING)
    return work / max(1, min(workers or running, left))  # No more in parallel than are left.


def duration(seconds: float) -> str:
    """1234.5 -> '0:20:34'."""
    return str(datetime.timedelta(seconds=round(seconds)))


def counts_line(
    states: Sequence[TrialState],
    *,
    start: float | None = None,
    workers: int | None = None,
    now: float | None = None,
) -> str:
    """'2 done, 0 failed, 1 running, 3 pending of 6; elapsed 0:01:05, ETA 0:02:10' (elapsed
    since `start` if given; ETA once a trial has finished, see eta_s)."""
    now = time.time() if now is None else now
    found = counts(states)
    shown = [w for w in workdir_lib.STATES if w in ALWAYS_COUNTED or found.get(w)]
    shown += [w for w in found if w not in shown and found[w]]  # A word of a newer ecgdepth.
    line = ', '.join(f'{found[w]} {w}' for w in shown) + f' of {len(states)}'
    timing = [] if start is None else [f'elapsed {duration(now - start)}']
    eta = eta_s(states, workers, now)
    if eta is not None and found[RUNNING] + found[PENDING] + found[MISSING]:
        timing.append(f'ETA {duration(eta)}')
    return line + ('; ' + ', '.join(timing) if timing else '')


class Tracker:
    """What changed in a sweep since the last look: `update` returns one line per trial whose
    state changed (or that started again), 'Trial k of N (id): done; <counts line>', each with
    the counts after it. The first look is at construction: what was already so is no news."""

    def __init__(self, workdir: str, *, workers: int | None = None, start: float | None = None):
        self.workdir = workdir
        self.workers = workers
        self.start = time.time() if start is None else start
        self.entries = sweep_entries(workdir) or []
        self.known = {s.id: s for s in sweep_states(workdir, self.entries)}

    def update(self) -> list[str]:
        lines = []
        for state in sweep_states(self.workdir, self.entries):
            before = self.known[state.id]
            self.known[state.id] = state
            if (before.status, before.started) == (state.status, state.started):
                continue  # A new attempt (another start time) is news even if still running.
            line = counts_line(list(self.known.values()), start=self.start, workers=self.workers)
            k, n = state.index + 1, len(self.entries)
            lines.append(f'Trial {k} of {n} ({state.id}): {state.status}; {line}')
        return lines

    def line(self) -> str:
        """The counts line as of the last update."""
        return counts_line(list(self.known.values()), start=self.start, workers=self.workers)


# --------------------------------------------------------------------------------------------
# launch.py --status.
# --------------------------------------------------------------------------------------------


def last_step(directory: str) -> int | None:
    """The step of the last record in metrics.jsonl (read from its end only), or None."""
    path = os.path.join(directory, workdir_lib.METRICS_FILE)
    try:
        with open(path, 'rb') as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - TAIL_BYTES))
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    for raw in reversed(lines):
        try:
            return int(json.loads(raw)['step'])
        except (ValueError, KeyError, TypeError):
            continue  # A line cut by the seek, or one being written.
    return None


def step_text(directory: str) -> str:
    """'120/400': a run's last logged step of its train.num_steps (config.json); '-' if none."""
    step = last_step(directory)
    if step is None:
        return '-'
    try:
        config = workdir_lib.read_config(directory) or {}
    except CorruptFile:
        config = {}
    total = (config.get('train') or {}).get('num_steps')
    return f'{step}/{total}' if total else str(step)


def status_table(
    workdir: str, states: Sequence[TrialState], slurm: Mapping[int, str] | None = None
) -> str:
    """One row per trial: index, id, status, step (running trials: last logged / num_steps)
    and, given `slurm` (trial index -> SLURM state of its array task), a slurm column."""
    header = ('#', 'id', 'status', 'step') + (('slurm',) if slurm is not None else ())
    rows = [header]
    for s in states:
        step = step_text(os.path.join(workdir, s.id)) if s.status == RUNNING else '-'
        row = (str(s.index), s.id, s.status, step)
        rows.append(row + ((slurm.get(s.index, '-'),) if slurm is not None else ()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return '\n'.join(
        '  '.join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def run_line(workdir: str) -> str | None:
    """The status line of a plain run's workdir ('W: running, step 120/400'), or None if
    workdir holds no run (neither summary.json nor config.json)."""
    try:
        summary = workdir_lib.read_summary(workdir)
    except CorruptFile as error:
        return f'{workdir}: {MISSING} ({error})'
    if summary is None and not os.path.exists(os.path.join(workdir, workdir_lib.CONFIG_FILE)):
        return None
    given = {} if summary is None else summary.to_dict()  # The fields the run wrote.
    word = given.get('status') or PENDING
    line = f'{workdir}: {word}'
    if word in (RUNNING, PENDING):
        line += f', step {step_text(workdir)}'
    elif given.get('best_step') is not None:
        line += f', best step {given["best_step"]}'
    return line + (f' ({given["error"]})' if given.get('error') else '')


def sweep_start(workdir: str) -> float | None:
    """When the sweep was last launched (sweep.json's 'written'), for the elapsed time."""
    sweep = workdir_lib.read_json(os.path.join(workdir, workdir_lib.SWEEP_FILE)) or {}
    written = sweep.get('written')
    return float(written) if isinstance(written, (int, float)) else None
