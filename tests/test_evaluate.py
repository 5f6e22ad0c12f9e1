"""launch.py --evaluate: a finished run's selected params scored on other data (external
validation), with every mismatch an error before any data are loaded."""

import json

import pytest
from conftest import launch

from ecgdepth import commands, spec, validation
from ecgdepth.train import evaluate as evaluate_lib

SPEC = 'runlocal,depth=2,width=8,data.num_train=256'


@pytest.fixture(scope='module')
def run_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('evaluate') / 'run'
    result = launch(
        f'--config=configs/dilated_cnn.py:{SPEC}',
        f'--workdir={workdir}',
        '--config.train.num_steps=40',
        '--config.train.eval_every=20',
        '--config.train.checkpoint_every=0',  # best_params.msgpack is written regardless
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def test_evaluate_scores_the_selected_params_on_other_data(run_dir):
    result = launch(
        f'--workdir={run_dir}', '--evaluate=other_seed', '--config.data.seed=7', '--eval_split=all'
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.load(open(run_dir / 'eval' / 'other_seed' / 'summary.json'))
    run = json.load(open(run_dir / 'summary.json'))
    assert out['status'] == 'done' and out['data_overrides'] == {'config.data.seed': 7}
    assert out['best_step'] == run['best_step'] and out['eval_split'] == 'all'
    assert set(out['test']) == set(run['test'])  # the run's own test layout
    assert set(out['examples']) == {'train', 'validation', 'test'}  # every split, as one
    assert out['examples']['train'] == 256
    supports = sum(c['support'] for c in out['test']['per_class'].values())
    assert supports == sum(out['examples'].values())
    assert 'accuracy' in result.stdout


def test_evaluate_on_the_runs_own_test_split_reproduces_its_test_metrics(run_dir):
    result = launch(f'--workdir={run_dir}', '--evaluate=same', '--eval_split=test')
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.load(open(run_dir / 'eval' / 'same' / 'summary.json'))
    run = json.load(open(run_dir / 'summary.json'))
    assert out['test']['confusion'] == run['test']['confusion']
    assert out['test']['loss'] == pytest.approx(run['test']['loss'], rel=1e-5)


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ({'data.window': 512}, 'time=512, but it was trained on time='),
        ({'model.depth': 3}, 'changes only config.data; config.model.depth differ'),
        ({'data.variant': 'motif'}, "config.data.variant='motif', but the run was trained"),
    ],
)
def test_a_mismatch_is_an_error_before_any_data_are_loaded(run_dir, change, message):
    config = spec.from_workdir(str(run_dir))
    for key, value in change.items():
        spec.set_field(config, key, value, 'test')
    with pytest.raises(validation.ConfigError, match=message):
        evaluate_lib.check_compatible(spec.from_workdir(str(run_dir)), config)


def test_an_unfinished_or_unknown_workdir_is_named(tmp_path):
    with pytest.raises(ValueError, match='config.json does not exist'):
        spec.from_workdir(str(tmp_path))
    result = launch(f'--workdir={tmp_path}', '--evaluate=x')
    assert result.returncode != 0 and 'config.json does not exist' in result.stderr


def test_evaluate_flag_rules():
    assert commands.check_flags([], None, evaluate='ext') == commands.EVALUATE
    with pytest.raises(commands.UsageError, match='not with --sweep'):
        commands.check_flags([], 'c.py', sweep=True, evaluate='ext')
    with pytest.raises(commands.UsageError, match='no "/"'):
        commands.check_flags([], None, evaluate='a/b')
    argv = commands.evaluate_argv(['launch.py', '--workdir=W', '--evaluate=x'], '/c')
    assert argv == ['launch.py', '--config=/c/workdir.py:W', '--workdir=W', '--evaluate=x']
    given = ['launch.py', '--config=a.py', '--workdir=W', '--evaluate=x']
    assert commands.evaluate_argv(given, '/c') == given


def test_scored_features_are_standardised_with_the_runs_training_statistics(monkeypatch):
    """Not with the statistics of the data being scored: those would leak its distribution."""
    import types

    import numpy as np

    from ecgdepth import data
    from ecgdepth.data import base
    from ecgdepth.workdir import Summary

    rng = np.random.default_rng(0)

    def split(n):
        return {
            'x': rng.normal(size=(n, 8, 1)).astype(np.float32),
            'y': (np.arange(n) % 2).astype(np.int32),
            'features': (5.0 + 2.0 * rng.normal(size=(n, 2))).astype(np.float32),
        }

    module = types.ModuleType('featured_data')
    module.NAME, module.DEFAULTS, module.RULES, module.RUNLOCAL = 'featured', {}, {}, {'*': {}}
    module.task = base.classification_task
    module.check = lambda config, task: None
    module.input_spec = lambda config: base.InputSpec(8, 1, 2, 2, False)
    splits = {'train': split(32), 'validation': split(16), 'test': split(16)}
    module.load = lambda data_config: base.Dataset(
        splits, ('a', 'b'), 1.0, 'featured', feature_names=('f0', 'f1')
    )
    monkeypatch.setitem(data.DATASETS, 'featured', module)
    config = spec.family_config('dilated_cnn', 'data=featured')
    stats = {'method': 'zscore', 'names': ['f0', 'f1'], 'mean': [1.0, 2.0], 'std': [2.0, 4.0]}
    summary = Summary(status='done', class_names=['a', 'b'], extra={'feature_norm': stats})
    dataset = evaluate_lib.load_scored(config, summary)
    expected = (splits['test']['features'] - np.array([1.0, 2.0])) / np.array([2.0, 4.0])
    np.testing.assert_allclose(dataset.splits['test']['features'], expected, rtol=1e-6)
    summary.extra['feature_norm'] = {**stats, 'names': ['g0', 'g1']}
    with pytest.raises(validation.ConfigError, match=r"side features \['f0', 'f1'\]; the run"):
        evaluate_lib.load_scored(spec.family_config('dilated_cnn', 'data=featured'), summary)
