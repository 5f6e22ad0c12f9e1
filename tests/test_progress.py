"""Sweep progress (ecgdepth/progress.py): counts, ETA, change lines and the --status table from
fabricated sweep workdirs; launch.py --status; SLURM states from a fake squeue; --wait's lines."""

import io
import json
import os
import time
import types

from conftest import launch
from test_results import fabricate, lstm, make_summary

from ecgdepth import cluster, commands, files, progress
from ecgdepth import workdir as workdir_lib

NOW = 1_000_000.0


def set_status(workdir, entry, status, **fields):
    """Rewrites a trial's status.json with `status` and `fields` (started, finished...)."""
    path = os.path.join(workdir, entry['id'], workdir_lib.STATUS_FILE)
    record = workdir_lib.read_json(path) or {'id': entry['id'], 'index': entry['index']}
    files.write_json(path, {**record, 'status': status, **fields})


def four_trials(workdir):
    """done (60 s), running (started 20 s ago, step 120 of 400), failed, no directory yet."""
    entries = fabricate(workdir, [(lstm(1, 0), 'done', make_summary(0.8), None),
                                  (lstm(2, 0), 'running', None, None),
                                  (lstm(3, 0), 'failed', None, 'boom'),
                                  (lstm(4, 0), None, None, None)])  # fmt: skip
    set_status(workdir, entries[0], 'done', started=NOW - 100, finished=NOW - 40)
    set_status(workdir, entries[1], 'running', started=NOW - 20)
    running = os.path.join(workdir, entries[1]['id'])
    files.write_json(os.path.join(running, 'config.json'), {'train': {'num_steps': 400}})
    with open(os.path.join(running, workdir_lib.METRICS_FILE), 'w') as f:
        f.write('{"type": "train", "step": 100}\n{"type": "eval", "step": 120}\n{"type": "tr')
    return entries


def test_counts_and_eta_from_the_mean_finished_duration_over_the_workers(tmp_path):
    workdir = str(tmp_path)
    four_trials(workdir)
    states = progress.sweep_states(workdir)
    assert [s.status for s in states] == ['done', 'running', 'failed', 'pending']
    # Left: 60 - 20 s of the running trial, 60 s of the pending one; over 1 or 2 workers.
    line = progress.counts_line(states, start=NOW - 130, workers=1, now=NOW)
    assert line == '1 done, 1 failed, 1 running, 1 pending of 4; elapsed 0:02:10, ETA 0:01:40'
    assert progress.eta_s(states, 2, NOW) == 50
    assert progress.eta_s(states, 8, NOW) == 50  # Two trials left: two at a time at most.
    assert progress.eta_s(states, None, NOW) == 100  # As many workers as are running: one.
    unfinished = [s for s in states if s.status != 'done']
    assert progress.eta_s(unfinished, 1, NOW) is None  # Nothing finished yet: no ETA.
    diverged = [progress.TrialState(9, 'x', 'diverged', NOW - 30, NOW), *states]
    assert progress.counts_line(diverged, workers=1, now=NOW) == (
        '1 done, 1 diverged, 1 failed, 1 running, 1 pending of 5; ETA 0:01:10'  # Mean 45 s.
    )


def test_the_status_table_shows_each_trial_and_a_running_trials_step(tmp_path):
    workdir = str(tmp_path)
    entries = four_trials(workdir)
    table = progress.status_table(workdir, progress.sweep_states(workdir), {1: 'RUNNING'})
    rows = [line.split() for line in table.splitlines()]
    assert rows == [
        ['#', 'id', 'status', 'step', 'slurm'],
        ['0', entries[0]['id'], 'done', '-', '-'],
        ['1', entries[1]['id'], 'running', '120/400', 'RUNNING'],
        ['2', entries[2]['id'], 'failed', '-', '-'],
        ['3', entries[3]['id'], 'pending', '-', '-'],
    ]
    assert 'slurm' not in progress.status_table(workdir, progress.sweep_states(workdir))


def test_the_tracker_says_each_change_once_with_the_counts_after_it(tmp_path):
    workdir = str(tmp_path)
    entries = four_trials(workdir)
    tracker = progress.Tracker(workdir, workers=2, start=NOW)
    assert tracker.update() == []  # What was so at the start is no news.
    set_status(workdir, entries[1], 'done', started=NOW - 20, finished=NOW)
    set_status(workdir, entries[3], 'running', started=NOW)
    lines = tracker.update()
    assert [line.split(';')[0] for line in lines] == [
        f'Trial 2 of 4 ({entries[1]["id"]}): done',
        f'Trial 4 of 4 ({entries[3]["id"]}): running',
    ]
    assert lines[0].split('; ')[1] == '2 done, 1 failed, 0 running, 1 pending of 4'
    assert lines[1].split('; ')[1] == '2 done, 1 failed, 1 running, 0 pending of 4'
    assert 'ETA' in lines[1] and tracker.update() == []
    set_status(workdir, entries[3], 'running', started=NOW + 5)  # Restarted: a new attempt.
    assert [line.split(';')[0] for line in tracker.update()] == [
        f'Trial 4 of 4 ({entries[3]["id"]}): running'
    ]


def test_status_prints_a_sweeps_table_a_runs_line_and_names_an_empty_workdir(tmp_path):
    sweep = str(tmp_path / 'sweep')
    entries = four_trials(sweep)
    sweep_json = os.path.join(sweep, workdir_lib.SWEEP_FILE)
    files.write_json(
        sweep_json, {**workdir_lib.read_json(sweep_json), 'written': time.time() - 3600}
    )
    result = launch(f'--workdir={sweep}', '--status')  # No --config: it reads files only.
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[2].split() == ['1', entries[1]['id'], 'running', '120/400']
    assert [line.split()[2] for line in lines[1:5]] == ['done', 'running', 'failed', 'pending']
    # Elapsed since the sweep was launched (sweep.json's time), an hour ago.
    assert lines[-1].startswith('1 done, 1 failed, 1 running, 1 pending of 4; elapsed 1:00:')
    run = tmp_path / 'run'
    files.write_json(str(run / 'summary.json'), {'status': 'failed', 'error': 'OSError: disk'})
    result = launch(f'--workdir={run}', '--status')
    assert (result.returncode, result.stdout) == (0, f'{run}: failed (OSError: disk)\n')
    os.makedirs(tmp_path / 'empty')
    result = launch(f'--workdir={tmp_path}/empty', '--status')
    assert result.returncode == 2 and result.stderr.strip() == (
        f'launch.py: error: {tmp_path}/empty holds neither a sweep (sweep.json) nor a run '
        '(summary.json or config.json).'
    )


def record(workdir, array_id, trial_indices, submitted):
    """A sweep submission's record, as cluster._submit_array writes it."""
    array = [{'array_task': k, 'trial_index': i, 'trial_id': f't{i}'}
             for k, i in enumerate(trial_indices)]  # fmt: skip
    entry = {'kind': 'sweep', 'command': ['launch.py'], 'array': array}
    path = cluster._record(os.path.join(workdir, 'slurm'), array_id, entry)
    with open(path) as f:
        files.write_json(path, {**json.load(f), 'submitted': submitted})


def test_each_trial_shows_the_slurm_state_of_its_latest_array_task(tmp_path, monkeypatch):
    workdir = str(tmp_path)
    four_trials(workdir)
    assert cluster.sweep_slurm_states(workdir) is None  # Never submitted.
    record(workdir, '10', [0, 1, 2], submitted=1.0)
    record(workdir, '11', [1], submitted=2.0)  # Trial 1 resubmitted: array 11's task 0.
    asked = []

    def squeue(ids):
        asked.append(ids)
        return {'10_1': 'CANCELLED', '10_2': 'PENDING', '11_0': 'RUNNING'}

    monkeypatch.setattr(cluster, '_squeue_states', squeue)
    monkeypatch.setattr(cluster, 'job_state', {'10_0': 'COMPLETED'}.get)
    assert cluster.sweep_slurm_states(workdir) == {0: 'COMPLETED', 1: 'RUNNING', 2: 'PENDING'}
    assert asked == [['10', '11']]
    monkeypatch.setattr(cluster, 'job_state', lambda job_id: None)  # SLURM forgot it.
    assert cluster.sweep_slurm_states(workdir)[0] == 'gone'
    out = io.StringIO()
    assert commands.status(workdir, out=out) == 0
    rows = [line.split() for line in out.getvalue().splitlines()]
    assert [row[-1] for row in rows[:5]] == ['slurm', 'gone', 'RUNNING', 'PENDING', '-']
    monkeypatch.setattr(cluster, '_squeue_states', lambda ids: None)  # No squeue here.
    assert cluster.sweep_slurm_states(workdir) == {0: '?', 1: '?', 2: '?'}


def test_waiting_for_a_sweep_prints_the_counts_as_they_change(tmp_path, monkeypatch):
    workdir = str(tmp_path)
    entries = four_trials(workdir)
    steps = iter([
        lambda: set_status(workdir, entries[3], 'running', started=NOW),
        lambda: set_status(workdir, entries[1], 'done', started=NOW - 20, finished=NOW),
        lambda: None,
        lambda: set_status(workdir, entries[3], 'done', started=NOW, finished=NOW + 50),
    ])  # fmt: skip

    def queued(ids):  # The jobs run a step further at each look, then are gone.
        step = next(steps, None)
        if step is None:
            return set()
        step()
        return {'5'}

    class Job:
        job_id = '5_0'
        paths = types.SimpleNamespace(result_pickle=types.SimpleNamespace(exists=lambda: True))

    monkeypatch.setattr(cluster, 'queued', queued)
    out = io.StringIO()
    tracker = progress.Tracker(workdir, workers=2)
    cluster.wait_for([Job()], poll_s=0.001, out=out, tracker=tracker)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith('Waiting for job(s) 5: 1 done, 1 failed, 1 running, 1 pending')
    counts = [line.split('; ')[1] for line in lines if line.startswith('Trial ')]
    assert counts == [
        '1 done, 1 failed, 2 running, 0 pending of 4',
        '2 done, 1 failed, 1 running, 0 pending of 4',
        '3 done, 1 failed, 0 running, 0 pending of 4',
    ]
    assert lines[-1].startswith('Job(s) ended after ')
