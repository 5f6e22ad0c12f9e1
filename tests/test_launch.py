"""launch.py from the command line: overrides, and errors before any compute."""

import concurrent.futures
import json
import os
import re

import pytest
from conftest import launch

from ecgdepth import commands

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_a_misspelt_override_fails_and_names_it(tmp_path):
    result = launch(
        '--config=configs/lstm.py:runlocal', f'--workdir={tmp_path}/run', '--config.model.dpeth=3'
    )
    assert result.returncode != 0
    assert 'dpeth' in result.stderr
    assert not os.path.exists(tmp_path / 'run')


def test_an_out_of_range_value_fails_before_compute(tmp_path):
    result = launch(
        '--config=configs/dilated_cnn.py:runlocal',
        f'--workdir={tmp_path}/run',
        '--config.model.depth=0',
    )
    assert result.returncode != 0
    assert 'config.model.depth must be an integer in [1, 4096], got 0' in result.stderr
    assert not os.path.exists(tmp_path / 'run')


def test_a_wrong_type_on_the_command_line_fails(tmp_path):
    result = launch(
        '--config=configs/dilated_cnn.py',
        f'--workdir={tmp_path}/run',
        '--config.model.kernel_size=wide',
    )
    assert result.returncode != 0
    assert 'kernel_size' in result.stderr


def test_launch_trains_with_overrides_and_writes_outputs(tmp_path, data_dir):
    """Run from outside the repository: the package and the config file need no repo cwd."""
    workdir = tmp_path / 'run'
    result = launch(
        f'--config={REPO}/configs/dilated_cnn.py:runlocal',
        f'--workdir={workdir}',
        '--config.model.depth=2',
        '--config.train.num_steps=20',
        '--config.train.eval_every=10',
        '--config.train.log_every=10',
        data_dir=data_dir,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.load(open(workdir / 'summary.json'))
    assert summary['status'] == 'done'
    assert json.load(open(workdir / 'config.json'))['model']['depth'] == 2
    assert 'step 20/20' in result.stderr  # The progress line.
    assert 'ETA' in result.stderr
    # It checkpointed (runlocal's checkpoint_every), but orbax's INFO lines stay off the console.
    assert 'Checkpoint at step 20' in result.stderr
    assert 'checkpoint_manager.py' not in result.stderr
    with open(workdir / 'log.txt') as f:
        assert 'step 20/20' in f.read()


def test_report_alone_on_a_sweep_workdir_prints_the_table_and_path(tmp_path):
    from test_results import fabricate, lstm, make_summary

    workdir = str(tmp_path / 'sweep')
    fabricate(workdir, [(lstm(1, 0), 'done', make_summary(0.8), None),
                        (lstm(2, 0), 'done', make_summary(0.9), None)])  # fmt: skip
    result = launch(f'--workdir={workdir}', '--report')  # No --config: it reads files only.
    assert result.returncode == 0, result.stderr[-3000:]
    assert '| lstm | 2 | 1 done | 100 | 0.900 (1) |' in result.stdout
    assert result.stdout.rstrip().endswith(f'Report: {workdir}/report/report.md')
    assert os.path.exists(os.path.join(workdir, 'report', 'figures', 'macro_f1_vs_depth.png'))
    result = launch(f'--workdir={tmp_path}', '--report')  # Not a sweep workdir: says so.
    assert result.returncode != 0 and f'{tmp_path}/sweep.json not found' in result.stderr


def test_mistakes_are_one_line_named_before_anything_runs(tmp_path):
    """Flag, config-file, override, value and data mistakes: one stderr line naming the
    culprit, exit status 2, no traceback or flag listing, nothing written."""
    w = f'--workdir={tmp_path}/w'
    cnn = '--config=configs/dilated_cnn.py:runlocal'
    sweep = '--config=configs/sweeps/depth.py:runlocal'
    cases = [
        ([w, 'extra'], "Unexpected arguments: ['extra']"),
        ([w], '--config is required (except for --report or --status alone).'),
        ([cnn, w, '--workers=2', '--dry_run'], '--workers, --dry_run only apply with --sweep.'),
        ([sweep, w, '--sweep', '--report', '--dry_run'], '--report needs the trials to have run'),
        ([sweep, w, '--sweep', '--submit=slurm', '--dry_run'], '--dry_run runs locally'),
        ([cnn, w, '--config.model.dpeth=8'],
         "--config.model.dpeth=8: config.model has no field 'dpeth'; did you mean 'depth'?"),
        ([cnn, w, '--config.model.depth=abc'], '--config.model.depth=abc: invalid literal'),
        ([cnn, w, '--config.model.depth=0'], 'config.model.depth must be an integer in'),
        (['--config=configs/nope.py', w], '--config: no such file: configs/nope.py'),
        (['--config=configs/dilated_cnn.py:dpth=3', w], "key 'model.dpth' is not a config field"),
        ([cnn, '--workdirr=x'], "Unknown command line flag 'workdirr'. Did you mean: workdir"),
        ([cnn, w, '--config.data.name=mitbih'],
         "config.data.name='mitbih', but config.data holds another dataset's fields"),
        # Data are read once the run has started (its workdir records the failure).
        (['--config=configs/dilated_cnn.py:data=mitbih,runlocal', f'--workdir={tmp_path}/d',
          f'--config.data.manual_dir={tmp_path}'],
         f"mitbih: config.data.manual_dir='{tmp_path}': no folder of WFDB records"),
        ([sweep, w, '--sweep', '--dry_run', '--config.model.depth=8'],
         '--config.model.depth=8 is also set by the sweep'),
    ]  # fmt: skip
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda case: launch(*case[0]), cases))
    for (args, message), result in zip(cases, results, strict=True):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (args, result.stderr[-3000:])
        assert lines == [f'launch.py: error: {lines[-1].split("error: ", 1)[-1]}'], (args, lines)
        assert message in lines[0], (args, lines)
    assert not os.path.exists(tmp_path / 'w')


def test_check_flags_picks_the_mode_and_names_the_mistake():
    check = commands.check_flags
    cnn = 'configs/dilated_cnn.py:runlocal'
    depth = 'configs/sweeps/depth.py:runlocal'
    assert check([], None, report=True) == commands.REPORT  # No --config needed.
    assert check([], None, status=True) == commands.STATUS  # Nor here.
    assert check([], cnn) == commands.RUN
    assert check([], cnn, submit='slurm', wait=True) == commands.SUBMIT
    assert check([], depth, sweep=True, report=True) == commands.SWEEP
    assert check([], depth, sweep=True, submit='slurm', given=['task_index']) == commands.SUBMIT
    dry = commands.SweepOptions(dry_run=True)
    assert check([], depth, sweep=True, options=dry, given=['dry_run']) == commands.SWEEP
    mistakes = [
        ((['x'], cnn), {}, "Unexpected arguments: ['x']"),
        (([], depth), {}, 'is a sweep file: add --sweep'),
        (([], cnn), {'given': ['vmap_seeds', 'workers']}, '--workers, --vmap_seeds only apply'),
        (([], depth), {'sweep': True, 'report': True, 'options': dry}, '--report needs'),
        (([], depth), {'sweep': True, 'submit': 'slurm', 'given': ['dry_run']}, '--dry_run runs'),
        (([], None), {'status': True, 'report': True}, '--status only reads WORKDIR: not with'),
    ]
    for args, kwargs, message in mistakes:
        with pytest.raises(commands.UsageError, match=re.escape(message)):
            check(*args, **kwargs)
    assert commands.SWEEP_FLAGS == (
        'workers',
        'task_index',
        'dry_run',
        'retry_failed',
        'claim_timeout',
        'vmap_seeds',
    )  # Named as launch.py's flags, in the order a mistake lists them.
