"""Result tables, figures and the report: fabricated sweep workdirs (every trial state, every
optional diagnostic), plus one tiny real sweep whose table is checked against its summaries."""

import csv
import io
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from conftest import REPO

from ecgdepth import files, plots, results
from ecgdepth import report as report_lib
from ecgdepth import workdir as workdir_lib

# Four trials of about two seconds each: dilated CNN at depths 1 and 2, two seeds.
TINY = (
    'runlocal,depth=1,width=4,data.num_train=64,data.num_validation=32,data.num_test=32,'
    'data.window=250,train.num_steps=4,train.batch_size=16,train.log_every=2,'
    'train.eval_every=4,optim.warmup_steps=1,train.eval_train_examples=16'
)
SWEEP_FILE = f"""from ecgdepth import spec
from ecgdepth import sweep


def family_arg(arg=None):
    return {TINY!r}


def get_config(arg=None):
    return spec.family_config('dilated_cnn', {TINY!r})


def get_sweep(arg=None):
    return sweep.product({{'model.depth': [1, 2], 'seed': [0, 1]}})
"""


# --------------------------------------------------------------------------------- helpers


def make_summary(acc, f1=None, loss=1.0, params=100, *, status='done', **extra):
    """A summary.json as the trainer writes it (only the fields the report reads)."""
    f1 = acc - 0.05 if f1 is None else f1
    split = lambda a, f, lo: {'accuracy': a, 'macro_f1': f, 'loss': lo, 'per_class': {}}  # noqa: E731
    summary = {
        'status': status,
        'params': params,
        'model': 'lstm',
        'select_metric': 'macro_f1',
        'best_step': 10,
        'train': split(acc + 0.05, f1 + 0.05, loss - 0.1),
        'val': split(acc, f1, loss),
        'test': split(acc - 0.01, f1 - 0.01, loss + 0.02),
        'gap': {'accuracy': 0.05, 'loss': 0.1},
    }
    summary.update(extra)
    return summary


def fabricate(workdir, trials, source='fake.py:runlocal'):
    """A sweep workdir. trials: (overrides, status or None for no directory, summary, error)."""
    entries = []
    for index, (overrides, status, summary, error) in enumerate(trials):
        tid = f'trial{index}-' + '-'.join(f'{v}' for v in overrides.values())
        entries.append({'index': index, 'id': tid, 'overrides': overrides, 'config_hash': 'x'})
        if status is None:
            continue
        directory = os.path.join(workdir, tid)
        files.write_json(
            os.path.join(directory, workdir_lib.STATUS_FILE),
            {'id': tid, 'index': index, 'status': status, 'error': error, 'overrides': overrides},
        )
        if summary is not None:
            files.write_json(os.path.join(directory, workdir_lib.SUMMARY_FILE), summary)
    files.write_json(
        os.path.join(workdir, 'sweep.json'),
        {'source': source, 'num_trials': len(entries), 'trials': entries},
    )
    return entries


def lstm(depth, seed, **more):
    return {'model.name': 'lstm', 'model.depth': depth, **more, 'seed': seed}


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def row_of(table, **group):
    matches = [r for r in table.rows if all(r.group.get(k) == v for k, v in group.items())]
    assert len(matches) == 1, (group, [r.group for r in table.rows])
    return matches[0]


def cell(table, row, name):
    column = next(c for c in table.columns if c.name == name)
    return results.format_cell(table.stats(row, column), column, row)


def assert_figure(figure):
    assert os.path.getsize(figure.png) > 1024, figure.png
    assert os.path.getsize(figure.pdf) > 0, figure.pdf


# --------------------------------------------------------------------------------- real sweep


def test_real_sweep_table_equals_summaries_and_cli_prints_report(tmp_path, data_dir):
    sweep_path = tmp_path / 'tiny_sweep.py'
    sweep_path.write_text(SWEEP_FILE)
    workdir = str(tmp_path / 'sweep')
    env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'ECGDEPTH_DATA_DIR': data_dir}
    env.pop('SLURM_ARRAY_TASK_ID', None)
    with tempfile.TemporaryFile('w+') as log:  # A file, not a pipe nobody reads.
        proc = subprocess.run(
            [sys.executable, 'launch.py', f'--config={sweep_path}', f'--workdir={workdir}',
             '--sweep'],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600,
        )  # fmt: skip
        log.seek(0)
        assert proc.returncode == 0, log.read()[-3000:]
    cli = subprocess.run(
        [sys.executable, '-m', 'ecgdepth.report', workdir, '--ci'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-3000:]
    report_path = os.path.join(workdir, 'report', 'report.md')
    assert cli.stdout.rstrip().endswith(f'Report: {report_path}')
    assert '| family | depth | status | params |' in cli.stdout

    # Independently: group the summaries by depth and take mean and sample std.
    sweep = json.load(open(os.path.join(workdir, 'sweep.json')))
    by_depth = {}
    for entry in sweep['trials']:
        summary = workdir_lib.read_summary(os.path.join(workdir, entry['id'])).to_dict()
        by_depth.setdefault(entry['overrides']['model.depth'], []).append(summary)
    assert sorted(by_depth) == [1, 2] and all(len(s) == 2 for s in by_depth.values())
    rows = {int(r['model.depth']): r for r in read_csv(os.path.join(workdir, 'report/table.csv'))}
    table = results.collect(workdir)
    checked = 0
    for depth, summaries in by_depth.items():
        assert rows[depth]['status'] == '2 done' and rows[depth]['n_done'] == '2'
        for split in ('train', 'val', 'test'):
            for metric in ('accuracy', 'macro_f1', 'loss'):
                values = [s[split][metric] for s in summaries]
                name = f'{split}_{metric}'
                assert float(rows[depth][f'{name}_mean']) == pytest.approx(np.mean(values), 1e-12)
                assert float(rows[depth][f'{name}_std']) == pytest.approx(
                    np.std(values, ddof=1), rel=1e-9, abs=1e-15
                )
                assert rows[depth][f'{name}_n'] == '2'
                low, high = (
                    float(rows[depth][f'{name}_ci_low']),
                    float(rows[depth][f'{name}_ci_high']),
                )
                assert min(values) - 1e-12 <= low <= np.mean(values) <= high <= max(values) + 1e-12
                text = f'{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} (2)'
                assert text.replace('-0.000', '0.000') in cli.stdout
                got = cell(table, row_of(table, **{'model.depth': depth}), name)
                assert got.startswith(text.replace('-0.000', '0.000'))
                checked += 1
        gaps = [s['gap']['accuracy'] for s in summaries]
        assert float(rows[depth]['gap_accuracy_mean']) == pytest.approx(np.mean(gaps), 1e-12)
        assert float(rows[depth]['params_mean']) == summaries[0]['params']
    assert checked == 18

    figures = os.path.join(workdir, 'report', 'figures')
    # Every run records its diagnostics, so the per-layer and sensitivity figures appear too.
    for name in (
        'macro_f1_vs_depth',
        'gap_vs_depth',
        'macro_f1_vs_params',
        'grad_norm_per_layer',
        'input_sensitivity',
        'learning_curves',  # From each trial's metrics.jsonl.
        'confusion_matrices',
    ):
        assert os.path.getsize(os.path.join(figures, f'{name}.png')) > 1024
        assert os.path.getsize(os.path.join(figures, f'{name}.pdf')) > 0
    report = open(report_path).read()
    assert f'# Sweep report: {sweep_path}' in report
    assert '![' in report and '(figures/macro_f1_vs_depth.png)' in report
    assert 'All trials are done.' in report
    trials = read_csv(os.path.join(workdir, 'report', report_lib.TRIALS_FILE))
    assert [(r['model.depth'], r['seed'], r['status']) for r in trials] == [
        ('1', '0', 'done'), ('1', '1', 'done'), ('2', '0', 'done'), ('2', '1', 'done'),
    ]  # fmt: skip
    for entry, row in zip(sweep['trials'], trials, strict=True):
        summary = workdir_lib.read_summary(os.path.join(workdir, entry['id'])).to_dict()
        assert float(row['test_macro_f1']) == summary['test']['macro_f1']
        assert int(row['params']) == summary['params'] and row['model.width'] == '4'
    assert '\\toprule' in open(os.path.join(workdir, 'report', 'table.tex')).read()


# --------------------------------------------------------------------------------- fabricated


def test_diverged_failed_and_missing_trials_are_marked_never_averaged(tmp_path):
    workdir = str(tmp_path)
    fabricate(
        workdir,
        [
            (lstm(1, 0), 'done', make_summary(0.80), None),
            (lstm(1, 1), 'done', make_summary(0.90), None),
            # Its val accuracy would drag the mean to 0.6 if it were averaged.
            (lstm(1, 2), 'diverged', make_summary(0.10, status='diverged', diverged_step=7), None),
            (lstm(2, 0), 'done', make_summary(0.70), None),
            (lstm(2, 1), None, None, None),  # Listed in sweep.json, never started.
            (lstm(4, 0), 'diverged', make_summary(0.2, status='diverged', diverged_step=3), None),
            (lstm(4, 1), 'diverged', None, None),
            (lstm(8, 0), 'failed', None, 'ValueError: bad shape\nTraceback (most recent call)'),
            (lstm(8, 1), None, None, None),
        ],
    )
    report = report_lib.run(workdir, out=str(tmp_path / 'out'))
    table = report.table
    assert table.group_keys == ['model.name', 'model.depth']
    assert table.counts() == {'done': 3, 'diverged': 3, 'failed': 1, 'missing': 2}

    d1 = row_of(table, **{'model.depth': 1})
    assert d1.status_text() == '2 done, 1 diverged'
    assert cell(table, d1, 'val_accuracy') == '0.850 ± 0.071 (2) †'
    assert cell(table, d1, 'params') == '100'  # Architecture facts are not marked.
    d2 = row_of(table, **{'model.depth': 2})
    assert d2.status_text() == '1 done, 1 missing'
    assert cell(table, d2, 'val_accuracy') == '0.700 (1) †'
    d4 = row_of(table, **{'model.depth': 4})
    assert cell(table, d4, 'val_accuracy') == 'diverged'
    assert cell(table, d4, 'params') == 'diverged'
    d8 = row_of(table, **{'model.depth': 8})
    assert cell(table, d8, 'test_loss') == 'failed/missing'
    assert d8.status_text() == '1 failed, 1 missing'

    rows = {r['model.depth']: r for r in read_csv(str(tmp_path / 'out' / 'table.csv'))}
    assert float(rows['1']['val_accuracy_mean']) == pytest.approx(0.85)
    assert rows['1']['n_diverged'] == '1' and rows['1']['val_accuracy_n'] == '2'
    assert rows['2']['val_accuracy_std'] == ''  # Undefined for one value, not 0.
    assert rows['4']['val_accuracy_mean'] == '' and rows['4']['val_accuracy_n'] == '0'
    assert rows['8']['n_failed'] == '1' and rows['8']['n_missing'] == '1'

    text = open(report.path).read()
    assert 'Trials: 9 (3 done, 3 diverged, 1 failed, 2 missing)' in text
    assert '**diverged**. diverged at step 7' in text
    assert '**failed**. ValueError: bad shape' in text
    assert 'Traceback' not in text  # The error's first line only.
    assert text.count('no trial directory: never started') == 2
    # report.md shows the short table (the headline macro-F1); table.md has every column.
    assert '| family | depth | status | val macro-F1 | test macro-F1 | params |\n' in text
    assert '0.800 ± 0.071 (2) †' in text and '0.850 ± 0.071 (2) †' not in text
    assert '0.850 ± 0.071 (2) †' in open(tmp_path / 'out' / 'table.md').read()
    assert 'diverged' in report.markdown
    # Figures still drawn from the done trials.
    assert {f.name for f in report.figures} >= {'macro_f1_vs_depth', 'gap_vs_depth'}
    for figure in report.figures:
        assert_figure(figure)


def test_regularisation_sweep_groups_by_varying_keys_except_seed(tmp_path):
    workdir = str(tmp_path)
    trials = []
    for family in ('dilated_cnn', 'lstm'):
        for dropout in (0.0, 0.2):
            for wd in (0.0, 0.01):
                for seed in (0, 1, 2):
                    overrides = {
                        'model.name': family,
                        'model.dropout': dropout,
                        'optim.weight_decay': wd,
                        'loss.label_smoothing': 0.1,  # Constant: not a row key.
                        'seed': seed,
                    }
                    acc = 0.8 + dropout / 10 + seed / 100
                    trials.append((overrides, 'done', make_summary(acc), None))
    fabricate(workdir, trials)
    table = results.collect(workdir, metrics=['accuracy'])
    assert table.group_keys == ['model.name', 'model.dropout', 'optim.weight_decay']
    assert len(table.rows) == 8 and all(len(r.trials) == 3 for r in table.rows)
    assert [c.name for c in table.columns] == [
        'params', 'train_accuracy', 'val_accuracy', 'test_accuracy', 'gap_accuracy', 'gap_loss',
    ]  # fmt: skip
    row = row_of(table, **{'model.name': 'lstm', 'model.dropout': 0.2, 'optim.weight_decay': 0.0})
    assert cell(table, row, 'val_accuracy') == '0.830 ± 0.010 (3)'
    assert results.header(table)[:4] == ['family', 'dropout', 'weight decay', 'status']
    # The main plot axis is the first numeric varying key; lines per family and weight decay.
    assert plots.main_axis(table) == 'model.dropout'
    figures = plots.make_figures(table, str(tmp_path / 'figures'))
    assert [f.name for f in figures] == [
        'accuracy_vs_dropout',
        'gap_vs_dropout',
        'accuracy_vs_params',
    ]
    for figure in figures:
        assert_figure(figure)


def test_diagnostics_add_columns_and_figures_only_when_present(tmp_path):
    workdir = str(tmp_path)
    trials = []
    for family in ('dilated_cnn', 'lstm'):
        for depth in (1, 2, 4, 8):
            for seed in (0, 1):
                layers = np.geomspace(1.0, 10.0**-depth, depth + 2) * (1 + seed / 10)
                lags = np.exp(-np.arange(50) / (5 * depth)) + 1e-3
                summary = make_summary(
                    0.7 + depth / 100,
                    params=100 * depth,
                    receptive_field=2**depth + 1,
                    receptive_field_s=(2**depth + 1) / 125,
                    grad_norm_per_layer=layers.tolist(),
                    input_sensitivity=lags.tolist(),
                )
                if family == 'lstm':  # Diagnostics may also sit under 'diagnostics'.
                    summary['diagnostics'] = {'grad_norm_ratio': layers[0] / layers[-1]}
                    # Gradient across time: recurrent models only; 10x per layer, 0.9x per step.
                    lags = [0.0, 1.0, 2.5, 6.0, 14.0]
                    summary['hidden_grad_lags'] = lags
                    summary['hidden_grad_norm'] = [
                        [10.0 ** (layer - depth) * 0.9**lag for lag in lags]
                        for layer in range(depth)
                    ]
                    summary['hidden_grad_time_slope'] = np.log10(0.9) * (1 + seed)
                    summary['hidden_grad_layer_slope'] = -1.0 if depth > 1 else None
                else:
                    summary['grad_norm_ratio'] = layers[0] / layers[-1]
                trials.append(({'model.name': family, 'model.depth': depth, 'seed': seed},
                               'done', summary, None))  # fmt: skip
    fabricate(workdir, trials)
    report = report_lib.run(workdir, out=str(tmp_path / 'out'), metrics=['macro_f1'])
    table = report.table
    names = [c.name for c in table.columns]
    assert names[-5:] == [
        'receptive_field',
        'receptive_field_s',
        'grad_norm_ratio',
        'hidden_grad_time_slope',
        'hidden_grad_layer_slope',
    ]
    row = row_of(table, **{'model.name': 'lstm', 'model.depth': 4})
    assert cell(table, row, 'receptive_field') == '17'
    assert cell(table, row, 'receptive_field_s') == '0.136'
    assert cell(table, row, 'grad_norm_ratio') == '1e+04 ± 0 (2)'
    assert cell(table, row, 'hidden_grad_time_slope') == '-0.0686 ± 0.0324 (2)'
    assert cell(table, row, 'hidden_grad_layer_slope') == '-1 ± 0 (2)'
    assert cell(table, row_of(table, **{'model.name': 'lstm', 'model.depth': 1}),
                'hidden_grad_layer_slope') == '–'  # fmt: skip
    cnn = row_of(table, **{'model.name': 'dilated_cnn', 'model.depth': 4})
    assert cell(table, cnn, 'hidden_grad_time_slope') == '–'
    assert 'receptive field (samples)' in report.markdown
    assert 'negative = vanishing' in report.markdown
    assert [f.name for f in report.figures] == [
        'macro_f1_vs_depth',
        'gap_vs_depth',
        'macro_f1_vs_params',
        'grad_norm_per_layer',
        'input_sensitivity',
        'hidden_grad_vs_lag',
    ]
    for figure in report.figures:
        assert_figure(figure)
    text = open(report.path).read()
    assert '(figures/grad_norm_per_layer.png)' in text and '*Figure 6.*' in text
    # Input sensitivity: a dashed line at each curve's last lag inside its receptive field
    # (RF 2^depth + 1 samples), where that lies inside the 50 lags; one y scale for all panels.
    sensitivity = next(f for f in report.figures if f.name == 'input_sensitivity')
    assert 'receptive field' in sensitivity.caption
    axes = [ax for ax in sensitivity.figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ['dilated CNN', 'LSTM']
    for ax in axes:
        marks = [line.get_xdata()[0] for line in ax.lines if line.get_gid() == plots.MARK_GID]
        assert marks == [2.0, 4.0, 16.0]  # Depth 8's 256 lies beyond lag 49: not drawn.
        assert ax.get_yscale() == 'log' and ax.get_ylim() == axes[0].get_ylim()
    # One panel per LSTM row, one curve per layer: the first, last and evenly between.
    assert plots.pick_layers(3) == [0, 1, 2]
    assert plots.pick_layers(64) == [0, 13, 25, 38, 50, 63]
    lags, curves = plots._mean_layer_curves(row)
    assert lags.tolist() == [0.0, 1.0, 2.5, 6.0, 14.0] and curves.shape == (4, 5)


def test_bootstrap_ci_is_deterministic_contains_the_mean_and_narrows_with_seeds():
    rng = np.random.default_rng(1)
    few, many = rng.normal(0.9, 0.01, 3), rng.normal(0.9, 0.01, 24)
    first = results.bootstrap_ci(few)
    assert first == results.bootstrap_ci(few)  # Fixed seed.
    # With 3 values each end is hit by chance 1/27 > 2.5 %: the interval is [min, max] for
    # any seed. With 5 values the resampling shows.
    assert first == pytest.approx((min(few), max(few)), abs=1e-12)
    assert first == results.bootstrap_ci(few, seed=1)
    five = rng.normal(0.9, 0.01, 5)
    assert results.bootstrap_ci(five) != results.bootstrap_ci(five, seed=1)
    for values in (few, many):
        low, high = results.bootstrap_ci(values)
        assert low < np.mean(values) < high
        assert min(values) - 1e-12 <= low and high <= max(values) + 1e-12
    # More seeds of the same spread: 3, 6, 12 copies of one pattern; the CI shrinks ~1/sqrt(n).
    pattern = [0.88, 0.90, 0.91, 0.93]
    widths = [np.diff(results.bootstrap_ci(pattern * k))[0] for k in (1, 2, 4, 8)]
    assert widths == sorted(widths, reverse=True) and widths[-1] < 0.5 * widths[0]
    assert results.bootstrap_ci([0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError, match='non-empty'):
        results.bootstrap_ci([])
    stats = results.describe(list(few), ci=True, resamples=2000)
    assert stats.n == 3 and stats.ci == results.bootstrap_ci(few, resamples=2000)
    assert results.describe([0.5], ci=True).ci is None  # No interval from one seed.


def test_csv_and_latex_hold_the_values_escaped(tmp_path):
    workdir = str(tmp_path)
    fabricate(
        workdir,
        [
            (lstm(1, 0, **{'model.dropout': 0.1}), 'done', make_summary(0.90, 0.80, 0.30), None),
            (lstm(1, 1, **{'model.dropout': 0.1}), 'done', make_summary(0.92, 0.84, 0.34), None),
            (lstm(1, 2, **{'model.dropout': 0.1}), 'failed', None, 'RuntimeError: 100% & done'),
            (lstm(1, 0, **{'model.dropout': 0.3}), 'done', make_summary(0.70, 0.60, 0.50), None),
        ],
        source='configs/sweeps/my_sweep.py:runlocal',
    )
    out = str(tmp_path / 'out')
    report = report_lib.run(workdir, out=out, ci=True, resamples=1000, plots=False)
    assert report.figures == [] and not os.path.exists(os.path.join(out, 'figures'))

    rows = read_csv(os.path.join(out, 'table.csv'))
    assert [r['model.dropout'] for r in rows] == ['0.1', '0.3']
    assert float(rows[0]['val_macro_f1_mean']) == pytest.approx(0.82)
    assert float(rows[0]['val_macro_f1_std']) == pytest.approx(np.std([0.8, 0.84], ddof=1))
    assert float(rows[0]['val_loss_mean']) == pytest.approx(0.32)
    assert rows[0]['status'] == '2 done, 1 failed' and rows[0]['n_trials'] == '3'
    assert float(rows[0]['val_macro_f1_ci_low']) <= 0.82 <= float(rows[0]['val_macro_f1_ci_high'])
    assert rows[1]['val_macro_f1_std'] == '' and rows[1]['val_macro_f1_ci_low'] == ''
    # pandas reads it too, with the numbers as numbers.
    import pandas as pd

    frame = pd.read_csv(io.StringIO(open(os.path.join(out, 'table.csv')).read()))
    assert frame['val_accuracy_mean'].tolist() == pytest.approx([0.91, 0.70])

    tex = open(os.path.join(out, 'table.tex')).read()
    assert '\\begin{tabular}{llllrrrrrrrrrrrr}' in tex
    assert tex.count('\\toprule') == tex.count('\\midrule') == tex.count('\\bottomrule') == 1
    assert 'configs/sweeps/my\\_sweep.py' in tex and 'macro-F1' in tex
    assert 'val macro-F1' in tex and 'gap accuracy (train$-$val)' in tex
    assert '0.820 $\\pm$ 0.028 (2)' in tex and '$^\\dagger$' in tex
    body = tex.split('\\midrule')[1]
    assert '_' not in body.replace('\\_', '') and '±' not in tex and '†' not in tex
    assert all(line.endswith('\\\\') for line in body.strip().splitlines()[:-2])

    md = open(os.path.join(out, 'table.md')).read()
    assert md == report.markdown
    assert '| lstm | 1 | 0.1 | 2 done, 1 failed |' in md
    assert '0.820 ± 0.028 (2) [' in md and '] †' in md
    report_text = open(report.path).read()
    assert '**failed**. RuntimeError: 100% & done' in report_text
    assert '## Figures' not in report_text


def test_unreadable_files_and_bad_options_name_the_culprit(tmp_path):
    with pytest.raises(results.ResultsError, match='sweep.json not found'):
        results.collect(str(tmp_path))
    with pytest.raises(results.ResultsError, match='does not exist'):
        results.collect(str(tmp_path / 'nowhere'))
    workdir = str(tmp_path)
    entries = fabricate(
        workdir,
        [
            (lstm(1, 0), 'done', make_summary(0.8), None),
            (lstm(1, 1), 'done', make_summary(0.9), None),
            (lstm(1, 2), 'done', None, None),  # Status says done, but no summary.
            (lstm(1, 3), 'pending', None, None),
            (lstm(1, 4), 'running', None, None),
        ],
    )
    with open(os.path.join(workdir, entries[1]['id'], workdir_lib.SUMMARY_FILE), 'w') as f:
        f.write('{"status": "do')  # Damaged from outside.
    table = results.collect(workdir)
    states = {t.id: (t.status, t.note) for t in table.trials}
    assert states[entries[1]['id']][0] == 'missing'
    assert 'summary.json is not valid JSON' in states[entries[1]['id']][1]
    assert states[entries[2]['id']] == ('missing', 'status done but summary.json is absent')
    assert states[entries[3]['id']] == ('pending', 'not run yet')
    assert states[entries[4]['id']][0] == 'running'
    assert table.rows[0].status_text() == '1 done, 1 running, 1 pending, 2 missing'
    with pytest.raises(results.ResultsError, match=r'--metric: unknown metric\(s\) acc; choose'):
        results.collect(workdir, metrics=['acc'])
    files.write_json(os.path.join(workdir, 'sweep.json'), {'trials': [{'id': 'x'}]})
    with pytest.raises(results.ResultsError, match='trial 0 lacks index, id or overrides'):
        results.collect(workdir)


def test_cli_rejects_missing_workdir_argument():
    proc = subprocess.run(
        [sys.executable, '-m', 'ecgdepth.report'], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode != 0 and 'Usage: python -m ecgdepth.report WORKDIR' in proc.stderr


def test_curve_figures_skip_silently_without_data(tmp_path):
    workdir = str(tmp_path)
    fabricate(workdir, [(lstm(1, 0), 'done', make_summary(0.8), None)])
    table = results.collect(workdir)
    assert plots.main_axis(table) is None  # One depth: no metric-vs-depth figure.
    assert plots.grad_norm_per_layer(table, str(tmp_path / 'f')) is None
    assert plots.input_sensitivity(table, str(tmp_path / 'f')) is None
    assert [f.name for f in plots.make_figures(table, str(tmp_path / 'f'))] == [
        'macro_f1_vs_params'
    ]


# --------------------------------------------------------------------------------- new figures

CLASSES = ['normal', 'afib', 'other']


def classified(val_f1, test_f1, confusion, **extra):
    """A classification summary whose val and test splits carry a confusion matrix."""
    summary = make_summary(0.6, val_f1, num_classes=3, class_names=CLASSES, **extra)
    summary['val']['confusion'] = confusion
    summary['test'].update(macro_f1=test_f1, confusion=confusion)
    return summary


def write_metrics(workdir, entry, losses, f1s):
    """metrics.jsonl as a resumed run leaves it: a replayed step (the later record wins) and a
    torn last line."""
    records = [{'type': 'diagnostics', 'step': 0, 'grad_norm_per_layer': [1.0]}]
    records += [{'type': 'train', 'step': 10 * (i + 1), 'loss': v} for i, v in enumerate(losses)]
    records += [
        {'type': 'eval', 'step': 20 * (i + 1), 'validation': {'macro_f1': v}, 'train': {}}
        for i, v in enumerate(f1s)
    ]
    records.insert(1, {'type': 'train', 'step': 10, 'loss': 99.0})  # Replaced on resume.
    path = os.path.join(workdir, entry['id'], workdir_lib.METRICS_FILE)
    with open(path, 'w') as f:
        f.write(files.jsonl_text(records) + '{"type": "train", "st')


def curves_sweep(workdir):
    """Two families x depths 1, 2, 4 x seeds 0, 1; each trial with metrics.jsonl."""
    confusion = [[6, 1, 1], [1, 2, 0], [1, 0, 0]]  # 8 normal of 12: majority rate 2/3.
    trials = []
    for family in ('dilated_cnn', 'lstm'):
        for depth in (1, 2, 4):
            for seed in (0, 1):
                # Best on validation: lstm depth 2 seed 1; best on test: lstm depth 4 seed 0.
                val = 0.5 + depth / 100 + seed / 1000 + (0.2 if (depth, seed) == (2, 1) else 0)
                test = 0.9 if (family, depth, seed) == ('lstm', 4, 0) else 0.5
                overrides = {'model.name': family, 'model.depth': depth, 'seed': seed}
                trials.append((overrides, 'done', classified(val, test, confusion), None))
    entries = fabricate(workdir, trials)
    for i, entry in enumerate(entries):
        write_metrics(workdir, entry, [2.0 - i / 10, 1.0 - i / 20], [0.3, 0.4 + i / 100])
    return entries


def test_learning_curves_one_line_per_depth_and_family_names_and_chance(tmp_path):
    workdir = str(tmp_path)
    curves_sweep(workdir)
    report = report_lib.run(workdir, out=str(tmp_path / 'out'))
    by_name = {f.name: f for f in report.figures}
    assert {'learning_curves', 'confusion_matrices', 'macro_f1_vs_depth'} <= set(by_name)
    for figure in report.figures:
        assert_figure(figure)
    fig = by_name['learning_curves'].figure
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == [
        'dilated CNN: train loss', 'dilated CNN: validation macro-F1',
        'LSTM: train loss', 'LSTM: validation macro-F1',
    ]  # fmt: skip
    depths = ['depth 1', 'depth 2', 'depth 4']
    for i, ax in enumerate(axes):
        lines = [line for line in ax.lines if line.get_label() in depths]
        assert [line.get_label() for line in lines] == depths
        assert {line.get_linestyle() for line in lines} == {'--' if i % 2 == 0 else '-'}
    # Seeds averaged per step; the replayed step 10 keeps its later record, the torn line skipped.
    first = next(line for line in axes[0].lines if line.get_label() == 'depth 1')
    assert first.get_xdata().tolist() == [10.0, 20.0]
    assert first.get_ydata().tolist() == pytest.approx([(2.0 + 1.9) / 2, (1.0 + 0.95) / 2])
    # One y axis per column: the train losses of both families on one scale.
    assert axes[0].get_ylim() == axes[2].get_ylim() and axes[1].get_ylim() == axes[3].get_ylim()
    # Chance on the validation metric: macro-F1 1/K with K = 3 classes present.
    for ax in axes[1::2]:
        chance = [line for line in ax.lines if line.get_label() == 'chance']
        assert len(chance) == 1 and chance[0].get_ydata()[0] == pytest.approx(1 / 3)
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert legend == {*depths, 'chance'}
    assert 'Grey dotted line: chance, 1/K' in by_name['learning_curves'].caption
    # Display names in the metric-vs-depth legend, chance at 1/3 in both panels.
    depth_fig = by_name['macro_f1_vs_depth'].figure
    assert {t.get_text() for t in depth_fig.legends[0].get_texts()} == {
        'dilated CNN', 'LSTM', 'chance',
    }  # fmt: skip
    for ax in depth_fig.axes:
        assert [line.get_ydata()[0] for line in ax.lines if line.get_label() == 'chance'] == [
            pytest.approx(1 / 3)
        ]


def test_confusion_of_the_best_trial_by_validation_row_normalised(tmp_path):
    workdir = str(tmp_path)
    curves_sweep(workdir)
    table = results.collect(workdir)
    figure = plots.confusion_matrices(table, str(tmp_path / 'f'))
    assert_figure(figure)
    axes = [ax for ax in figure.figure.axes if ax.images]
    titles = [ax.get_title() for ax in axes]
    # Each family's best validation macro-F1 is depth 2, seed 1, never lstm depth 4 seed 0,
    # whose test score is the best.
    assert titles == [
        'dilated CNN, depth 2, seed 1\ntest split; val macro-F1 0.721',
        'LSTM, depth 2, seed 1\ntest split; val macro-F1 0.721',
    ]
    rates = np.asarray(axes[0].images[0].get_array())
    assert rates.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0])
    assert rates[0].tolist() == pytest.approx([6 / 8, 1 / 8, 1 / 8])
    assert [t.get_text() for t in axes[0].get_xticklabels()] == CLASSES
    cells = [t.get_text() for t in axes[0].texts]
    assert cells[:3] == ['0.75\n6', '0.12\n1', '0.12\n1']
    # Regression or summaries without a confusion matrix: no figure.
    fabricate(str(tmp_path / 'plain'), [(lstm(1, 0), 'done', make_summary(0.8), None)])
    assert plots.confusion_matrices(results.collect(str(tmp_path / 'plain')), str(tmp_path)) is None


def test_chance_levels_majority_rate_one_over_k_and_prior_entropy():
    counts = {'val': {'confusion': [[5, 1, 0], [2, 0, 0], [0, 0, 0]]}, 'num_classes': 3}
    assert plots.chance_level(counts, 'val', 'accuracy') == pytest.approx(6 / 8)
    assert plots.chance_level(counts, 'val', 'macro_f1') == pytest.approx(1 / 2)  # 2 present.
    p = np.array([6, 2]) / 8
    assert plots.chance_level(counts, 'val', 'loss') == pytest.approx(-(p * np.log(p)).sum())
    # No counts recorded: 1/K from num_classes; nothing defined for other metrics.
    assert plots.chance_level({'num_classes': 4}, 'test', 'accuracy') == 0.25
    assert plots.chance_level({'num_classes': 4}, 'test', 'loss') == pytest.approx(np.log(4))
    assert plots.chance_level({}, 'test', 'accuracy') is None
    assert plots.chance_level(counts, 'val', 'challenge_f1') is None
    assert plots.chance_level({}, 'val', 'r2') == 0.0


def test_trials_csv_one_row_per_trial_and_the_short_table(tmp_path):
    workdir = str(tmp_path)
    entries = fabricate(
        workdir,
        [
            (lstm(1, 0), 'done', make_summary(0.80, receptive_field=250, wall_time_s=3.5), None),
            (lstm(1, 1), 'done', make_summary(0.90, flops_per_example=1e4), None),
            (lstm(2, 0), 'diverged', make_summary(0.1, status='diverged', diverged_step=7), None),
            (lstm(2, 1), None, None, None),
        ],
    )
    files.write_json(
        os.path.join(workdir, entries[0]['id'], workdir_lib.CONFIG_FILE),
        {'model': {'name': 'lstm', 'depth': 1, 'width': 32}, 'seed': 0},
    )
    out = str(tmp_path / 'out')
    report = report_lib.run(workdir, out=out, plots=False)
    rows = read_csv(os.path.join(out, report_lib.TRIALS_FILE))
    assert [r['id'] for r in rows] == [e['id'] for e in entries]
    assert list(rows[0])[:9] == [
        'id', 'index', 'status', 'note', 'model.name', 'model.depth', 'model.width', 'seed',
        'variant',
    ]  # fmt: skip
    assert [r['status'] for r in rows] == ['done', 'done', 'diverged', 'missing']
    assert [r['seed'] for r in rows] == ['0', '1', '0', '1']
    assert rows[0]['model.width'] == '32' and rows[1]['model.width'] == ''  # From config.json.
    summary = make_summary(0.80)
    for split in ('val', 'test'):
        for metric in ('accuracy', 'macro_f1', 'loss'):
            assert float(rows[0][f'{split}_{metric}']) == summary[split][metric]
    assert rows[0]['params'] == '100' and rows[0]['receptive_field'] == '250'
    assert rows[0]['wall_time_s'] == '3.5' and rows[0]['best_step'] == '10'
    assert rows[1]['flops'] == '10000.0' and rows[0]['flops'] == ''
    # Not done: the state and why, never its numbers.
    assert rows[2]['note'] == 'diverged at step 7' and rows[2]['val_accuracy'] == ''
    assert rows[3]['note'] == 'no trial directory: never started'

    text = open(report.path).read()
    short = text.split('## Results')[1]
    assert short.lstrip().startswith(
        '| family | depth | status | val macro-F1 | test macro-F1 | params | FLOPs/example | '
        'receptive field (samples) |\n'
    )
    assert 'val accuracy' not in short.split('\n\n')[1] and '[trials.csv](trials.csv)' in text
    # The full table is unchanged in table.md and printed.
    assert open(os.path.join(out, 'table.md')).read() == report.markdown
    assert '| val accuracy |' in report.markdown
