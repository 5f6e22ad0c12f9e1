"""The sequence tasks (adding problem, multiplicative task), config.task='regression', the
`arrays` loader of user .npz files, and training-label noise. Tiny data throughout."""

import os
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import set_field

from ecgdepth import data, diagnostics, files, models, results, sweep, validation
from ecgdepth import report as report_lib
from ecgdepth import spec as spec_lib
from ecgdepth.data import subsample, synthetic
from ecgdepth.train import loop

TINY = dict(num_train=64, num_validation=32, num_test=32)


def generate(variant, split='train', **params):
    return synthetic.generate({**synthetic.DEFAULTS, **TINY, 'variant': variant, **params}, split)


# ------------------------------------------------------------------ synthetic sequence tasks


def test_adding_problem_target_is_the_sum_of_the_two_marked_values():
    x, y, meta = generate('adding', window=20)
    assert x.shape == (64, 20, 2) and x.dtype == np.float32 and y.dtype == np.float32
    assert ((x[..., 0] >= 0) & (x[..., 0] < 1)).all()
    markers = x[..., 1]
    assert set(np.unique(markers)) == {0.0, 1.0} and (markers.sum(1) == 2).all()
    assert (markers[:, :10].sum(1) == 1).all()  # One in each half.
    np.testing.assert_array_equal(y, (x[..., 0] * markers).sum(1, dtype=np.float32))
    np.testing.assert_array_equal(np.sort(np.flatnonzero(markers[0])), meta['markers'][0])
    again, _, _ = generate('adding', window=20)
    np.testing.assert_array_equal(x, again)  # Deterministic by seed.
    assert not np.array_equal(x, generate('adding', window=20, seed=1)[0])


def test_product_label_is_the_sign_of_the_lagged_product_sum():
    x, y, meta = generate('product', window=30, product_lag=3)
    assert x.shape == (64, 30, 2) and y.dtype == np.int32
    a, b = x[..., 0].astype(np.float64), x[..., 1].astype(np.float64)
    score = sum(a[:, t] * b[:, t - 3] for t in range(3, 30))
    np.testing.assert_allclose(meta['score'], score)
    np.testing.assert_array_equal(y, (score > 0).astype(np.int32))
    assert np.bincount(y).tolist() == [32, 32]  # Exactly balanced.
    # Each stream alone carries no label: the products of a with b do.
    with pytest.raises(ValueError, match=r'config.data.product_lag \(30\) must be smaller'):
        generate('product', window=30, product_lag=30)


def test_spec_strings_select_the_tasks_and_their_defaults():
    for variant, task in synthetic.TASKS.items():
        assert spec_lib.family_config('lstm', f'data.variant={variant}').task == task
    adding = spec_lib.family_config('dilated_cnn', 'data.variant=adding,runlocal')
    assert (adding.task, adding.train.select_metric, adding.data.window) == (
        'regression',
        'mse',
        64,
    )
    validation.validate_config(adding)
    product = spec_lib.family_config(
        'dilated_cnn', 'data.variant=product,data.product_lag=2,runlocal'
    )
    assert (product.task, product.train.select_metric) == ('classification', 'macro_f1')
    validation.validate_config(product)
    assert (adding.train.num_steps, adding.optim.learning_rate) == (300, 3e-3)  # Learnable.
    explicit = spec_lib.family_config(
        'dilated_cnn', 'data.variant=adding,runlocal,train.num_steps=7'
    )
    assert explicit.train.num_steps == 7 and explicit.data.window == 64
    chosen = spec_lib.family_config(
        'dilated_cnn', 'data.variant=adding,train.select_metric=r2,seed=3'
    )
    assert (chosen.train.select_metric, chosen.seed, chosen.data.window) == ('r2', 3, 1000)
    assert sweep.input_spec(adding)[1:3] == (2, 1)  # Two channels, one output.


@pytest.mark.parametrize(
    'spec, path, value, message',
    [
        ('', 'task', 'ranking', "config.task must be one of 'classification', 'regression'"),
        (
            'data.variant=adding',
            'train.select_metric',
            'macro_f1',
            "config.train.select_metric='macro_f1' is not a regression metric; choose one of 'mse'",
        ),
        ('data.variant=adding', 'task', 'classification', "variant='adding' is a regression"),
        ('task=regression,train.select_metric=mse', '', None, "variant='rhythm' is a class"),
        ('data.variant=adding', 'loss.class_weights', 'balanced', "with config.task='regr"),
        ('data.variant=adding', 'data.label_noise', 0.1, 'label_noise=0.1 flips class labels'),
        ('', 'data.label_noise', 1.0, r'config.data.label_noise must be a number in \[0, 1\)'),
        ('data.variant=product', 'data.product_lag', 0, 'config.data.product_lag must be an'),
    ],
)
def test_task_errors_name_the_fields(spec, path, value, message):
    config = spec_lib.family_config('dilated_cnn', spec)
    if path:
        set_field(config, path, value)
    with pytest.raises(validation.ConfigError, match=message):
        validation.validate_config(config)


def test_adding_problem_trains_a_dilated_cnn_well_below_the_mean_baseline(data_dir, tmp_path):
    """The regression path end to end: MSE loss, metrics, selection on val mse, the summary."""
    config = spec_lib.family_config(
        'dilated_cnn',
        'data.variant=adding,depth=2,width=16,data.window=16,data.num_train=512,'
        'data.num_validation=128,data.num_test=128,train.batch_size=32,train.num_steps=150,'
        'train.log_every=50,train.eval_every=50,train.eval_train_examples=128,'
        'train.eval_batch_size=64,optim.learning_rate=0.01,optim.warmup_steps=10,'
        'train.checkpoint_every=0,train.diagnostics=false',
    )
    config.data.data_dir = data_dir
    summary = loop.train_and_evaluate(config, str(tmp_path))
    assert summary['status'] == 'done' and summary['task'] == 'regression'
    assert summary['select_metric'] == 'mse' and summary['select_direction'] == 'min'
    baseline = summary['test']['baseline_mse']
    assert 0.1 < baseline < 0.25  # The variance of a sum of two U(0, 1): 1/6.
    assert summary['test']['mse'] < 0.2 * baseline, summary['test']
    assert summary['test']['r2'] > 0.8 and summary['val']['loss'] == summary['val']['mse']
    assert set(summary['gap']) == {'loss'} and summary['num_classes'] == 0
    evals = [r for r in files.read_jsonl(tmp_path / 'metrics.jsonl') if r['type'] == 'eval']
    assert summary['best_step'] == min(evals, key=lambda r: r['validation']['mse'])['step']
    assert {'loss', 'mae', 'grad_norm'} <= set(files.read_jsonl(tmp_path / 'metrics.jsonl')[0])


def test_diagnostics_take_the_squared_error_of_real_valued_targets():
    model = models.build_model(
        spec_lib.family_config('dilated_cnn', 'depth=1,width=4,scan=false').model, 1
    )
    x = jnp.ones((3, 8, 2))
    batch = {'x': x, 'y': jnp.array([0.5, 1.0, 2.0])}
    params = model.init(jax.random.PRNGKey(0), x)['params']
    grads = diagnostics.loss_gradients(model, params, batch)

    def mse(p):
        return ((model.apply({'params': p}, x)[:, 0] - batch['y']) ** 2).mean()

    expected = jax.jit(jax.grad(mse))(params)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5)


# ------------------------------------------------------------------------------ label noise


def test_label_noise_flips_a_fixed_fraction_of_training_labels_only(data_dir):
    cfg = dict(name='synthetic', data_dir=data_dir, **synthetic.DEFAULTS)
    cfg.update(variant='product', window=16, **TINY)
    clean = data.load(ml_collections.ConfigDict(cfg))
    noisy = data.load(ml_collections.ConfigDict({**cfg, 'label_noise': 0.25}))
    y, y_noisy = clean.splits['train']['y'], noisy.splits['train']['y']
    assert (y != y_noisy).sum() == 16 and noisy.info['label_noise_flipped'] == 16
    assert noisy.info['label_noise_flipped_fraction'] == 0.25
    for split in ('validation', 'test'):
        np.testing.assert_array_equal(clean.splits[split]['y'], noisy.splits[split]['y'])
    again = data.load(ml_collections.ConfigDict({**cfg, 'label_noise': 0.25}))
    np.testing.assert_array_equal(again.splits['train']['y'], y_noisy)
    other = data.load(
        ml_collections.ConfigDict({**cfg, 'label_noise': 0.25, 'label_noise_seed': 1})
    )
    assert not np.array_equal(other.splits['train']['y'], y_noisy)
    # Four classes: a flipped label lands on one of the three others.
    four = data.Dataset(
        {s: {'x': np.zeros((400, 2, 1)), 'y': np.arange(400) % 4} for s in data.SPLITS},
        ('a', 'b', 'c', 'd'),
        1.0,
        'four',
    )
    flipped = subsample.flip_labels(four, 0.5, seed=0).splits['train']['y']
    changed = flipped != np.arange(400) % 4
    assert changed.sum() == 200 and len(np.unique(flipped[changed])) == 4


def test_train_fraction_of_real_valued_targets_is_a_random_subset():
    targets = np.linspace(0, 1, 100, dtype=np.float32)
    ds = data.Dataset(
        {s: {'x': np.zeros((100, 2, 1)), 'y': targets} for s in data.SPLITS},
        (),
        1.0,
        'reg',
        task='regression',
    )
    assert len(subsample.limit(ds, train_fraction=0.25).splits['train']['y']) == 25


# ---------------------------------------------------------------------------------- arrays


def write_split(path, n=16, time=12, channels=2, task='classification', seed=0, **keys):
    """A learnable split: class 1 (or a large target) carries a sinusoid on channel 0."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    x = rng.normal(0, 0.3, (n, time, channels)).astype(np.float32)
    x[..., 0] += labels[:, None] * np.sin(np.arange(time) / 2.0)[None]
    y = labels.astype(np.float32) * 2.0 + 0.5 if task == 'regression' else labels
    contents = {'x': x, 'y': y, **keys}
    np.savez(path, **{k: v for k, v in contents.items() if v is not None})
    return str(path)


def arrays_config(tmp_path, task='classification', **per_split):
    """An arrays config over three files; per_split[split] = keyword arguments of write_split."""
    config = spec_lib.family_config(
        'dilated_cnn', f'data=arrays,task={task},runlocal,depth=2,width=8'
    )
    if task == 'regression':
        config.train.select_metric = 'mse'
    for seed, split in enumerate(data.SPLITS):
        kwargs = {'task': task, 'seed': seed, **per_split.get(split, {})}
        path = write_split(tmp_path / f'{split}.npz', **kwargs)
        config.data[f'{split}_path'] = path
    return config


def test_arrays_load_classes_masks_and_regression_targets(tmp_path):
    mask = np.ones((16, 12), bool)
    config = arrays_config(tmp_path, **{s: {'mask': mask} for s in data.SPLITS})
    config.data.class_names = 'calm,wave'
    validation.validate_config(config)
    ds = data.for_task(data.load(config.data), config.task)
    assert ds.class_names == ('calm', 'wave') and ds.input_shape == (12, 2)
    assert ds.splits['train']['y'].dtype == np.int32 and ds.splits['test']['mask'].all()
    assert sweep.input_spec(config) == (12, 2, 2, 0, True)
    (tmp_path / 'reg').mkdir()
    regression = arrays_config(tmp_path / 'reg', task='regression')
    validation.validate_config(regression)
    ds = data.for_task(data.load(regression.data), 'regression')
    assert ds.task == 'regression' and ds.class_names == () and ds.num_classes == 0
    assert ds.splits['train']['y'].dtype == np.float32
    with pytest.raises(ValueError, match="real-valued targets .* set config.task='regression'"):
        data.for_task(ds, 'classification')
    write_split(tmp_path / 'reg' / 'train.npz', y=np.arange(16) - 8)  # Integer targets.
    validation.validate_config(regression)
    ds = data.for_task(data.load(regression.data), 'regression')
    assert ds.splits['train']['y'].dtype == np.float32 and ds.splits['train']['y'][0] == -8


def _nan_x(n=16):
    x = np.zeros((n, 12, 2), np.float32)
    x[3, 5, 1] = np.nan
    return x


@pytest.mark.parametrize(
    'split, changes, message',
    [
        ('train', {'y': None}, r"has no key 'y'; it holds \['x'\]"),
        ('test', {'x': np.zeros((16, 12), np.float32)}, r"'x' has shape \(16, 12\); expected"),
        ('validation', {'x': np.zeros((16, 12, 2), np.int64)}, "'x' has dtype int64; expected"),
        ('test', {'y': np.zeros(15, int)}, r"'y' has shape \(15,\) but 'x' holds 16 examples"),
        ('validation', {'x': _nan_x()}, r"'x' has NaN or inf: 1 value\(s\), first in example 3"),
        ('test', {'x': np.zeros((16, 12, 3), np.float32)}, r"\(12, 3\) but the training file's"),
        ('test', {'mask': np.ones((16, 12), bool)}, "has key 'mask' but the training file does"),
        ('validation', {'mask': np.ones((16, 11), bool)}, r"'mask' has shape \(16, 11\)"),
        ('test', {'y': np.arange(16) % 2 * 0.5}, "'y' has dtype float64, but config.task="),
        ('validation', {'y': np.arange(16) - 1}, "'y' has label -1 at example 0, out of range"),
    ],
)
def test_arrays_reject_malformed_files_naming_file_and_key(tmp_path, split, changes, message):
    config = arrays_config(tmp_path, **{split: changes})
    path = re.escape(config.data[f'{split}_path'])
    with pytest.raises(validation.ConfigError, match=f'{path} \\(config.data.{split}_path\\)'):
        validation.validate_config(config)
    with pytest.raises(validation.ConfigError, match=message):
        validation.validate_config(config)


def test_arrays_reject_missing_files_and_labels_beyond_the_class_count(tmp_path):
    config = arrays_config(tmp_path)
    config.data.num_classes = 2
    validation.validate_config(config)
    write_split(tmp_path / 'test.npz', y=np.arange(16) % 3)
    with pytest.raises(validation.ConfigError, match='label 2 at example 2, out of range for 2'):
        validation.validate_config(config)
    config.data.num_classes, config.data.class_names = 3, 'a,b'
    with pytest.raises(validation.ConfigError, match='names 2 classes but .*num_classes is 3'):
        validation.validate_config(config)
    config.data.num_classes, config.data.class_names = 0, ''
    config.data.test_path = str(tmp_path / 'nope.npz')
    with pytest.raises(validation.ConfigError, match='config.data.test_path: no file at .*nope'):
        validation.validate_config(config)
    (tmp_path / 'junk.npz').write_text('not a zip')
    config.data.test_path = str(tmp_path / 'junk.npz')
    with pytest.raises(validation.ConfigError, match='junk.npz .* is not a readable .npz file'):
        validation.validate_config(config)
    config.data.validation_path = ''
    with pytest.raises(validation.ConfigError, match='config.data.validation_path is empty'):
        validation.validate_config(config)
    noise = arrays_config(tmp_path, task='regression')
    noise.data.class_names = 'a,b'
    with pytest.raises(validation.ConfigError, match='apply to .*classification.* only'):
        validation.validate_config(noise)


def test_arrays_train_end_to_end_with_label_noise_recorded(tmp_path):
    config = arrays_config(tmp_path, train={'n': 128})
    config.data.label_noise = 0.125
    config.train.num_steps = 40
    config.train.eval_every = 20
    config.train.diagnostics = False
    config.optim.learning_rate = 1e-2
    summary = loop.train_and_evaluate(config, str(tmp_path / 'run'))
    assert summary['status'] == 'done' and summary['dataset'] == 'arrays'
    assert summary['label_noise_flipped'] == 16 and summary['label_noise_flipped_fraction'] == 0.125
    assert summary['val']['accuracy'] > 0.8, summary['val']


# --------------------------------------------------------------------------------- results


def test_results_table_holds_regression_metrics(tmp_path):
    split = lambda mse: {'loss': mse, 'mse': mse, 'mae': mse / 2, 'r2': 1 - mse / 0.16}  # noqa: E731
    trials = []
    for depth in (1, 2):
        for seed in (0, 1):
            summary = {
                'status': 'done',
                'params': 10 * depth,
                'model': 'dilated_cnn',
                'task': 'regression',
                'select_metric': 'mse',
                'val': split(0.02 / depth),
                'test': split(0.03 / depth),
                'train': split(0.01 / depth),
                'gap': {'loss': 0.01},
            }
            trials.append(({'model.depth': depth, 'seed': seed}, summary))
    entries = []
    for index, (overrides, summary) in enumerate(trials):
        tid = f'trial{index}'
        entries.append({'index': index, 'id': tid, 'overrides': overrides, 'config_hash': 'x'})
        status = {'id': tid, 'index': index, 'status': 'done', 'overrides': overrides}
        files.write_json(os.path.join(tmp_path, tid, 'status.json'), status)
        files.write_json(os.path.join(tmp_path, tid, 'summary.json'), summary)
    files.write_json(
        os.path.join(tmp_path, 'sweep.json'),
        {'source': 'fake', 'num_trials': len(entries), 'trials': entries},
    )
    table = results.collect(str(tmp_path))
    names = [c.name for c in table.columns]
    assert table.metrics[0] == 'mse' and names[1:4] == ['train_mse', 'val_mse', 'test_mse']
    assert 'val_accuracy' not in names and 'val_r2' in names and 'gap_loss' in names
    report = report_lib.write_report(table, str(tmp_path / 'report'))
    assert 'val MSE' in report.markdown and report.figures
