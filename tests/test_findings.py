"""The findings report: fabricated sweep workdirs that make each hypothesis's rule come out
supported, not supported and inconclusive, the experiment detection, and the CLI's files."""

import dataclasses
import json
import math
import os

import pytest

from ecgdepth import findings, plots
from ecgdepth import workdir as workdir_lib

SEEDS = (0, 1, 2)
OPTS = findings.Options(resamples=2000)  # Fewer resamples: the tests stay fast.


# --------------------------------------------------------------------------------- helpers


def nest(flat):
    """{'model.depth': 4} -> {'model': {'depth': 4}}: config.json as the trainer writes it."""
    out = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split('.')
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def summary(val_acc=0.9, *, params=1000, gap=0.05, loss=0.3, f1=None, **extra):
    """A summary.json with the fields the findings read."""
    split = lambda a, lo: {'accuracy': a, 'macro_f1': a if f1 is None else f1, 'loss': lo}  # noqa: E731
    return {
        'status': 'done',
        'params': params,
        'select_metric': 'macro_f1',
        'train': split(val_acc + gap, loss),
        'val': split(val_acc, loss + 0.1),
        'test': split(val_acc, loss + 0.1),
        'final_train': {'loss': loss, 'accuracy': val_acc},
        'gap': {'accuracy': gap, 'loss': 0.1},
        **extra,
    }


def write_json(path, obj):
    """Plain writes: the fsync of files.write_json would cost seconds over hundreds of files."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


def write_sweep(workdir, trials, *, experiment=None, source='sweep.py:runlocal', config=None):
    """A sweep workdir: trials are (overrides, summary or None = never started)."""
    entries = []
    for index, (overrides, result) in enumerate(trials):
        tid = f'trial{index}'
        entries.append({'index': index, 'id': tid, 'overrides': overrides, 'config_hash': 'x'})
        if result is None:
            continue
        directory = os.path.join(workdir, tid)
        write_json(os.path.join(directory, workdir_lib.STATUS_FILE), {'status': result['status']})
        write_json(os.path.join(directory, workdir_lib.SUMMARY_FILE), result)
        flat = {**(config or {}), **overrides}
        if experiment:
            flat['experiment'] = experiment
        write_json(os.path.join(directory, 'config.json'), nest(flat))
    write_json(os.path.join(workdir, 'sweep.json'), {'source': source, 'trials': entries})
    return workdir


def seeds(case):
    return (0,) if case == 'inconclusive' else SEEDS


def finding(workdir, letter, everything=None):
    results, skipped = findings.collect([workdir], OPTS)
    assert not skipped, skipped
    if everything is not None:
        everything += results
    return next(f for f in results if f.letter == letter)


def effect(f, key):
    return next(e for e in f.effects if e.key == key and e.votes)


# --------------------------------------------------------------------------------- sweeps


def sweep_a(workdir, case):
    """Plain CNN reaching 0.97 once depth >= span (supported) or at every depth (not)."""
    trials = []
    for span in (2, 8):
        for depth in (1, 2, 4, 8, 16):
            for seed in seeds(case):
                deep_enough = depth >= span or case == 'not supported'
                acc = 0.97 + seed / 1000 if deep_enough else 0.6
                overrides = {
                    'model.name': 'dilated_cnn',
                    'model.dilation': 'none',
                    'data.motif_k': span,
                    'model.depth': depth,
                    'seed': seed,
                }
                rf = {'receptive_field': 1 + 2 * depth, 'motif_span_samples': 2 * span}
                trials.append((overrides, summary(acc, **rf)))
        for depth in (1, 2):
            for seed in seeds(case):
                overrides = {'model.name': 'lstm', 'data.motif_k': span, 'model.depth': depth,
                             'seed': seed}  # fmt: skip
                trials.append((overrides, summary(0.98 - seed / 1000)))
    config = {'data.name': 'synthetic', 'data.variant': 'motif'}
    return write_sweep(workdir, trials, experiment='receptive_field', config=config)


def sweep_b(workdir, case, task='classification'):
    """Plain deep LSTM stacks fail to fit and residual + layer norm recovers (supported), or
    every stack fits and the gradient through time stays flat (not supported)."""
    trials = []
    for depth in (1, 8):
        for residual in (False, True):
            for seed in seeds(case):
                fails = case != 'not supported' and depth == 8 and not residual
                loss = (1.0 if fails else 0.1) + seed / 100
                extra = {'grad_norm_per_layer': [1e-3 if fails else 1.0, 1.0]}
                if case == 'not supported':
                    extra['grad_norm_per_time'] = [1.0] * 50
                overrides = {'model.residual': residual, 'model.layer_norm': residual,
                             'model.depth': depth, 'seed': seed}  # fmt: skip
                trials.append((overrides, summary(loss=loss, **extra)))
    config = {'model.name': 'lstm', 'model.cell': 'lstm', 'data.window': 50, 'task': task}
    return write_sweep(workdir, trials, experiment='trainability', config=config)


def sweep_c(workdir, case):
    """The gap grows with depth and shrinks with regularisation (supported), or stays put."""
    trials = []
    for family in ('dilated_cnn', 'lstm'):
        for depth in (1, 8):
            for dropout, wd in ((0.0, 0.0), (0.3, 0.01)):
                for seed in seeds(case):
                    gap = 0.02 + (0.02 * depth if dropout == 0 else 0.0) + seed / 1000
                    if case == 'not supported':
                        gap = 0.05
                    overrides = {'model.name': family, 'model.depth': depth,
                                 'model.dropout': dropout, 'optim.weight_decay': wd,
                                 'seed': seed}  # fmt: skip
                    trials.append((overrides, summary(gap=gap, params=1000 * depth)))
    return write_sweep(workdir, trials, source='configs/experiments/overfitting.py:runlocal')


def params_of(family, depth, width=16, k=3, scale=1):
    per_layer = (
        (8 * width * width + 4 * width) * scale if family == 'lstm' else k * width**2 + width
    )
    return 100 + per_layer * depth


def sweep_d(workdir, case, depths=None):
    """The CNN leads by 0.2 at matched width and 0.05 at matched params (supported); the
    LSTM's per-layer parameters 4x off the analytic ratio (not supported); no iso trials
    (inconclusive). `depths`: per family, (1, 4) by default."""
    trials = []
    for family in ('dilated_cnn', 'lstm'):
        for depth in (depths or {}).get(family, (1, 4)):
            for seed in SEEDS:
                scale = 4 if case == 'not supported' else 1
                f1 = (0.9 if family == 'dilated_cnn' else 0.7) + seed / 1000
                trials.append(
                    (
                        {'model.name': family, 'model.depth': depth, 'seed': seed},
                        summary(f1=f1, params=params_of(family, depth, scale=scale)),
                    )
                )
                if case == 'inconclusive':
                    continue
                f1 = (0.85 if family == 'dilated_cnn' else 0.8) + seed / 1000
                trials.append(({'model.name': family, 'model.depth': depth, 'iso_params': 5000,
                                'seed': seed}, summary(f1=f1, params=5000)))  # fmt: skip
    config = {'model.width': 16, 'model.kernel_size': 3, 'model.gate': 'none'}
    return write_sweep(workdir, trials, experiment='matched_params', config=config)


def sweep_e(workdir, case):
    """Additive models reach 5 % error only at depth 8, multiplicative ones at depth 1
    (supported), or all at depth 1 (not supported); the adding control never votes."""
    models = (
        {'model.name': 'dilated_cnn', 'model.gate': 'none'},
        {'model.name': 'dilated_cnn', 'model.gate': 'glu'},
        {'model.name': 'mi_mlp', 'model.multiplicative': False},
        {'model.name': 'mi_mlp', 'model.multiplicative': True},
    )
    trials = []
    for variant in ('product', 'adding'):
        for model in models:
            additive = (
                model.get('model.gate') == 'none' or model.get('model.multiplicative') is False
            )
            for depth in (1, 2, 4, 8):
                for seed in seeds(case):
                    slow = additive and case != 'not supported' and variant == 'product'
                    acc = 0.97 if depth >= (8 if slow else 1) else 0.7
                    overrides = {'data.variant': variant, **model, 'model.depth': depth,
                                 'seed': seed}  # fmt: skip
                    trials.append((overrides, summary(acc, params=100 * depth)))
    config = {'data.name': 'synthetic', 'target_error': 0.05}
    return write_sweep(workdir, trials, experiment='multiplicative', config=config)


SWEEPS = {'a': sweep_a, 'b': sweep_b, 'c': sweep_c, 'd': sweep_d, 'e': sweep_e}
CASES = ('supported', 'not supported', 'inconclusive')


# --------------------------------------------------------------------------------- rules


@pytest.mark.parametrize('letter', sorted(SWEEPS))
@pytest.mark.parametrize('case', CASES)
def test_each_rule_gives_each_verdict(tmp_path, letter, case):
    everything = []
    f = finding(SWEEPS[letter](str(tmp_path), case), letter, everything)
    assert f.verdict == case, (f.reason, [(e.key, e.verdict, e.reason) for e in f.effects])
    assert f.reason and f.rule
    others = [g for g in everything if g.letter != letter]
    assert len(others) == 4
    assert all(g.verdict == findings.INCONCLUSIVE and not g.obs for g in others)


def test_receptive_field_effect_is_the_growth_of_the_minimal_depth(tmp_path):
    f = finding(sweep_a(str(tmp_path), 'supported'), 'a')
    growth = effect(f, 'a1')
    assert growth.estimate == 6.0 and growth.ci == (6.0, 6.0) and growth.n == (3, 3)
    assert 'plain CNN' in growth.label and '(k=8 vs k=2)' in growth.label
    assert effect(f, 'a2').estimate == pytest.approx(0.98 - 0.001 - 0.95)
    # Reported: accuracy at the shallowest depth whose field (1 + 2 depth) covers the span
    # (2 k samples) minus at the deepest one short of it: k=2 depth 2 vs 1, k=8 depth 8 vs 4.
    coverage = [e for e in f.effects if e.key == 'a.coverage']
    assert [e.label.rsplit('(', 1)[1] for e in coverage] == [
        '4 samples: depth 2 vs 1)',
        '16 samples: depth 8 vs 4)',
    ]
    assert all(e.estimate == pytest.approx(0.371) and not e.votes for e in coverage)
    # The rule text is generated from the parameters the code uses.
    opts = findings.Options(threshold=0.9)
    assert 'validation accuracy 0.9 ' in findings.rule_a(opts)
    assert 'lies above 0 layers' in growth.rule


def test_censored_seeds_count_as_twice_the_deepest(tmp_path):
    workdir = str(tmp_path)
    sweep_a(workdir, 'supported')
    obs = findings.load_workdir(workdir)[1]
    rows = [o for o in obs if o.get('model.name') == 'dilated_cnn' and o.get('data.motif_k') == 8]
    got, censored = findings.min_depth_per_seed(rows, lambda o: False, findings.depth)
    assert got == [32.0] * 3 and censored == 3


def test_trainability_without_time_gradients_says_why(tmp_path):
    f = finding(sweep_b(str(tmp_path), 'supported'), 'b')
    b3 = effect(f, 'b3')
    assert b3.verdict == findings.INCONCLUSIVE
    assert findings.TIME_GRAD_FIELD in b3.reason
    assert effect(f, 'b1').estimate == pytest.approx(0.9)
    # Gradient ratios at the deepest plain stack are reported, never voted.
    ratio = next(e for e in f.effects if e.key == 'b.ratio.trained' and e.where == 'lstm')
    assert ratio.estimate == pytest.approx(-3.0) and ratio.verdict is None
    per_layer = next(e for e in f.effects if e.key == 'b.per_layer')
    assert per_layer.estimate == pytest.approx(3 / 7)
    assert not any(e.key == 'b.per_step' for e in f.effects)
    flat = finding(sweep_b(str(tmp_path / 'flat'), 'not supported'), 'b')
    assert effect(flat, 'b3').estimate == pytest.approx(0.0)
    assert next(e for e in flat.effects if e.key == 'b.per_step').estimate == pytest.approx(0.0)


def test_time_decay_from_a_curve_or_a_slope(tmp_path):
    trial = findings.results.TrialResult(0, 't', {}, 'done', summary={})
    o = findings.Obs(trial, {'data.window': 11}, '')
    trial.summary = {findings.TIME_GRAD_FIELD: [10.0**-i for i in range(11)]}
    assert findings._time_decay(o) == pytest.approx(10.0)
    trial.summary = {'diagnostics': {findings.TIME_GRAD_SLOPE_FIELD: -0.5}}
    assert findings._time_decay(o) == pytest.approx(5.0)
    trial.summary = {}
    assert findings._time_decay(o) is None
    # What ecgdepth/diagnostics.py writes: the slope at the best step and at initialisation.
    trial.summary = {'hidden_grad_time_slope': -0.1, 'hidden_grad_time_slope_init': -0.3}
    assert findings._time_decay(o) == pytest.approx(1.0)
    assert findings._time_decay(o, findings.INIT_SUFFIX) == pytest.approx(3.0)


def test_matched_params_ratio_is_checked_against_8_over_k(tmp_path):
    f = finding(sweep_d(str(tmp_path), 'supported'), 'd')
    d1 = effect(f, 'd1')
    assert d1.verdict == findings.SUPPORTED
    assert d1.estimate == pytest.approx((8 * 16 + 4) / (3 * 16 + 1) / (8 / 3))
    assert effect(f, 'd2').estimate == pytest.approx(0.15)


def test_loss_margins_are_in_the_units_of_the_task_loss(tmp_path):
    for task, unit in (('classification', ' nats'), ('regression', ' MSE')):
        f = finding(sweep_b(str(tmp_path / task), 'supported', task), 'b')
        assert effect(f, 'b1').unit == unit and f'0.05{unit}' in effect(f, 'b1').rule


def test_matched_params_compares_at_the_deepest_depth_both_families_ran(tmp_path):
    depths = {'dilated_cnn': (1, 2, 4), 'lstm': (1, 2)}
    f = finding(sweep_d(str(tmp_path), 'supported', depths), 'd')
    d2 = effect(f, 'd2')
    assert '(depth 2)' in d2.label
    assert d2.verdict == findings.SUPPORTED and d2.estimate == pytest.approx(0.15)


def test_control_tasks_are_reported_but_do_not_vote(tmp_path):
    f = finding(sweep_e(str(tmp_path), 'supported'), 'e')
    e1 = [e for e in f.effects if e.key == 'e1']
    assert len(e1) == 4
    controls = [e for e in e1 if 'control' in e.label]
    assert len(controls) == 2 and not any(e.votes for e in controls)
    assert all(e.verdict == findings.NOT_SUPPORTED for e in controls)  # Additive is not slower.
    assert all(e.estimate == 7.0 for e in e1 if e.votes)


def test_too_few_seeds_and_missing_trials_are_inconclusive(tmp_path):
    test = findings.Test()
    assert test.decide((0.5, 1.0), 1)[0] == findings.INCONCLUSIVE
    assert test.decide((0.5, 1.0), 2)[0] == findings.SUPPORTED
    assert test.decide((-1.0, 0.0), 2)[0] == findings.NOT_SUPPORTED
    assert test.decide((-1.0, 1.0), 2)[0] == findings.INCONCLUSIVE
    assert findings.Test(inclusive=True).decide((0.0, 0.1), 3)[0] == findings.SUPPORTED
    e = findings.measure('x', 'x', [(1.0, [1.0, 2.0]), (-1.0, [])], findings.Test())
    assert e.verdict == findings.INCONCLUSIVE and 'no done trials' in e.reason
    assert findings.all_of([]) == findings.INCONCLUSIVE
    assert findings.any_of([findings.NOT_SUPPORTED, findings.SUPPORTED]) == findings.SUPPORTED


def test_contrast_ci_matches_a_two_sample_bootstrap():
    estimate, (low, high) = findings.contrast_ci([(1.0, [3.0, 4.0, 5.0]), (-1.0, [1.0, 1.0])])
    assert estimate == pytest.approx(3.0)
    assert 2.0 <= low < estimate < high <= 4.0
    assert findings.contrast_ci([(1.0, [1.0, 2.0, 3.0])])[1] == (1.0, 3.0)


# --------------------------------------------------------------------------------- detection


def test_experiment_from_config_source_or_what_varies_else_skipped(tmp_path):
    named = write_sweep(str(tmp_path / 'named'), [({'seed': 0}, summary())],
                        experiment='trainability')  # fmt: skip
    source = write_sweep(str(tmp_path / 'source'), [({'seed': 0}, summary())],
                         source='configs/experiments/multiplicative.py:runlocal')  # fmt: skip
    varied = write_sweep(str(tmp_path / 'varied'),
                         [({'data.motif_k': k, 'seed': 0}, summary()) for k in (2, 4)])  # fmt: skip
    depth_sweep = write_sweep(
        str(tmp_path / 'depth'),
        [({'model.name': m, 'model.depth': d, 'seed': 0}, summary())
         for m in ('lstm', 'dilated_cnn') for d in (1, 2)],
    )  # fmt: skip
    unknown = write_sweep(str(tmp_path / 'unknown'),
                          [({'model.depth': d, 'seed': 0}, summary()) for d in (1, 2)])  # fmt: skip
    for workdir, expected in ((named, 'trainability'), (source, 'multiplicative'),
                              (varied, 'receptive_field'), (depth_sweep, 'matched_params'),
                              (unknown, None)):  # fmt: skip
        record, obs = findings.load_workdir(workdir)
        name, how = findings.infer_experiment(record, obs)
        assert name == expected, how
    results, skipped = findings.collect([named, unknown], OPTS)
    assert len(skipped) == 1 and 'unknown' in skipped[0] and 'model.depth' in skipped[0]
    assert [f.letter for f in results if f.obs] == ['b']


def test_never_started_trials_borrow_the_config_and_count_as_missing(tmp_path):
    workdir = str(tmp_path)
    trials = [({'model.depth': 1, 'seed': s}, summary()) for s in SEEDS]
    trials.append(({'model.depth': 1, 'seed': 3}, None))
    write_sweep(workdir, trials, experiment='trainability', config={'model.name': 'lstm'})
    f = finding(workdir, 'b')
    assert f.counts() == {'done': 3, 'missing': 1}
    assert all(o.get('model.name') == 'lstm' for o in f.obs)


# --------------------------------------------------------------------------------- the CLI


def test_cli_writes_findings_md_json_and_figures(tmp_path, capsys):
    """End to end with real PNG and PDF files, on two hypotheses (figures cost ~1 s each)."""
    workdirs = [SWEEPS[letter](str(tmp_path / letter), 'supported') for letter in 'cd']
    skip = write_sweep(str(tmp_path / 'other'), [({'seed': 0}, summary())])
    out = str(tmp_path / 'out')
    assert findings.main([*workdirs, skip, '--out', out, '--resamples', '500']) == 0
    printed = capsys.readouterr()
    assert f'Findings: {out}/findings.md' in printed.out
    assert '(c) overfitting: supported.' in printed.out
    assert 'Skipped `' in printed.err and 'cannot tell which hypothesis' in printed.err
    text = open(os.path.join(out, 'findings.md')).read()
    data = json.load(open(os.path.join(out, 'findings.json')))
    assert sorted(data['hypotheses']) == ['a', 'b', 'c', 'd', 'e']
    for letter, f in data['hypotheses'].items():
        assert f'## ({letter})' in text and f['rule'] in text
        if letter not in 'cd':
            assert f['verdict'] == 'inconclusive' and not f['figures'] and f['trials'] == 0
            continue
        assert f['verdict'] == 'supported', (letter, f['reason'])
        assert f['seeds'] == 3 and f['effects'] and f['figures']
        for figure in f['figures']:
            assert os.path.getsize(os.path.join(out, figure['png'])) > 1024
            assert os.path.getsize(os.path.join(out, figure['pdf'])) > 0
            assert f'({figure["png"]})' in text
    assert text.count('**Verdict: supported.**') == 2
    assert '| id | effect | estimate | 95% CI | n | verdict | why |' in text
    assert '### Table' in text and '| status |' in text
    assert 'Skipped workdirs:' in text


def test_every_hypothesis_draws_its_figures(tmp_path, monkeypatch):
    """Every figure function on data that fills it, drawn in full but saved as a small PNG."""
    saved = []

    def quick_save(fig, out_dir, name, caption):
        path = os.path.join(out_dir, f'{name}.png')
        os.makedirs(out_dir, exist_ok=True)
        fig.savefig(path, dpi=20)
        saved.append(name)
        return plots.FigureFile(name, caption, path, path)

    monkeypatch.setattr(plots, 'save', quick_save)
    workdirs = [SWEEPS[letter](str(tmp_path / letter), 'supported') for letter in 'abe']
    report = findings.run(workdirs, out=str(tmp_path / 'out'), opts=OPTS)
    assert sorted(saved) == [
        'a_accuracy_vs_depth',
        'a_accuracy_vs_receptive_field',
        'b_grad_ratio_vs_depth',
        'b_train_loss_vs_depth',
        'e_error_vs_depth',
    ]  # No time gradients in (b)'s summaries: that figure is skipped.
    for f in report.findings:
        for figure in f.figures:
            assert os.path.getsize(figure.png) > 0


def test_diverged_deep_stacks_count_as_chance_level_loss(tmp_path):
    workdir = str(tmp_path)
    trials = []
    for depth in (1, 8):
        for residual in (False, True):
            for seed in SEEDS:
                result = summary(loss=0.1, num_classes=4)
                if depth == 8 and not residual:
                    result = {'status': 'diverged', 'num_classes': 4, 'diverged_step': 3}
                overrides = {'model.residual': residual, 'model.depth': depth, 'seed': seed}
                trials.append((overrides, result))
    write_sweep(workdir, trials, experiment='trainability', config={'model.name': 'lstm'})
    f = finding(workdir, 'b')
    assert effect(f, 'b1').estimate == pytest.approx(math.log(4) - 0.1)
    assert effect(f, 'b2').verdict == findings.SUPPORTED
    assert f.verdict == findings.SUPPORTED and f.counts() == {'done': 9, 'diverged': 3}


def test_overfitting_reports_label_noise_and_training_fraction(tmp_path):
    workdir = str(tmp_path)
    trials = []
    for depth in (1, 8):
        for dropout in (0.0, 0.5):
            for noise in (0.0, 0.2):
                for fraction in (0.25, 1.0):
                    for seed in SEEDS:
                        gap = (0.01 * depth if dropout == 0 else 0.0) + noise + (1 - fraction) / 10
                        overrides = {'model.depth': depth, 'model.dropout': dropout,
                                     'data.label_noise': noise, 'data.train_fraction': fraction,
                                     'seed': seed}  # fmt: skip
                        trials.append((overrides, summary(gap=gap + seed / 1000)))
    write_sweep(workdir, trials, experiment='overfitting', config={'model.name': 'lstm'})
    f = finding(workdir, 'c')
    assert f.verdict == findings.SUPPORTED
    # Voted on the full training set without noise: c1 = 0.01 * (8 - 1), c2 = 0.08.
    assert effect(f, 'c1').estimate == pytest.approx(0.07)
    assert effect(f, 'c2').estimate == pytest.approx(0.08)
    noisy = [e for e in f.effects if 'label noise max' in e.label]
    assert len(noisy) == 1 and not noisy[0].votes and noisy[0].estimate == pytest.approx(0.08)
    fraction = next(e for e in f.effects if e.key == 'c.fraction')
    assert fraction.estimate == pytest.approx(0.075) and fraction.verdict is None


def test_a_task_may_name_its_error_metric(tmp_path):
    """mitbih/beats is ~90 % one class: a config can judge it by 1 − macro-F1 instead."""
    workdir = sweep_e(str(tmp_path), 'supported')
    obs = [o for o in findings.load_workdir(workdir)[1] if o.get('data.variant') == 'product']
    assert findings.error_path(obs) == ('val', 'accuracy')
    for o in obs:
        o.config['target_metric'] = 'macro_f1'
        o.trial.summary['val']['macro_f1'] = 0.5  # Never reaches the target by macro-F1.
    assert findings.error_path(obs) == ('val', 'macro_f1')
    effects = findings.analyse_e(obs, OPTS)
    e1 = [e for e in effects if e.key == 'e1']
    assert e1 and all(e.verdict == findings.NOT_SUPPORTED for e in e1)  # All censored alike.


def test_regression_is_judged_by_r2_and_the_flag_overrides_config_targets(tmp_path):
    workdir = sweep_e(str(tmp_path), 'supported')
    obs = [o for o in findings.load_workdir(workdir)[1] if o.get('data.variant') == 'adding']
    for o in obs:
        o.config['task'] = 'regression'
        o.trial.summary['val'] = {'r2': 0.92 if o.get('model.depth') >= 4 else 0.5}
    assert findings.error_path(obs) == ('val', 'r2')
    assert findings.target_of(obs, OPTS) == 0.05  # The sweep's config.target_error.
    loose = dataclasses.replace(OPTS, target_error=0.1)
    assert findings.target_of(obs, loose) == 0.1
    per_seed = findings.min_depth_per_seed(obs, lambda o: 1 - o.value(('val', 'r2')) <= 0.1,
                                           findings.depth)[0]  # fmt: skip
    assert per_seed and set(per_seed) == {4}  # 1 - R^2 = 0.08 from depth 4 on, for every model.
    e1 = [e for e in findings.analyse_e(obs, loose) if e.key == 'e1']
    assert e1 and all(e.estimate == 0 and not e.votes for e in e1)  # A control, equal depths.


def test_cli_rejects_a_workdir_that_is_not_a_sweep(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        findings.main([str(tmp_path / 'absent')])
    assert exit_info.value.code == 2
    assert 'does not exist' in capsys.readouterr().err
