"""The one train step and the loop, on every model family, end to end on synthetic ECG."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config

from ecgdepth import files, models
from ecgdepth import workdir as workdir_lib
from ecgdepth.train import loop, optim, programs
from ecgdepth.train import state as state_lib
from ecgdepth.train import step as step_lib

FAMILIES = ['dilated_cnn', 'lstm', 'mi_mlp']


def get_config(family, arg='runlocal', data_dir=''):
    config = load_config(f'{family}.py', arg)
    config.data.data_dir = data_dir
    return config


def small_config(family, depth, data_dir):
    """runlocal, made smaller still so that six end-to-end runs stay quick."""
    config = get_config(family, f'depth={depth},width=8,runlocal', data_dir)
    config.data.window = 250
    config.data.num_train = 256
    config.data.num_validation = 64
    config.data.num_test = 64
    config.train.num_steps = 20
    config.train.log_every = 5
    config.train.eval_every = 10
    config.train.eval_train_examples = 64
    if family == 'mi_mlp':
        config.model.width = 16
    return config


def diverging_config(depth, data_dir):
    """A small mi_mlp config whose loss turns non-finite within a few steps (SGD at lr 1e30)."""
    config = small_config('mi_mlp', depth, data_dir)
    config.optim.name = 'sgd'
    config.optim.learning_rate = 1e30
    config.optim.grad_clip_norm = 0.0
    config.optim.warmup_steps = 0
    config.optim.schedule = 'constant'
    return config


@pytest.mark.parametrize('depth', [1, 3])
@pytest.mark.parametrize('family', FAMILIES)
def test_train_step_lowers_the_loss_on_a_learnable_batch(family, depth):
    config = get_config(family, f'depth={depth},width=16')
    rng = np.random.default_rng(0)
    # Class 1 windows carry a sinusoid; class 0 windows are noise: learnable by every family.
    t = np.arange(64)
    y = np.arange(16) % 2
    x = rng.normal(0, 0.3, (16, 64, 1)) + y[:, None, None] * np.sin(t / 3.0)[None, :, None]
    batch = {'x': jnp.asarray(x, jnp.float32), 'y': jnp.asarray(y, jnp.int32)}
    config.optim.warmup_steps = 0
    config.optim.schedule = 'constant'
    config.optim.learning_rate = 3e-3
    model = models.build_model(config.model, num_classes=2)
    tx, _ = optim.create_optimizer(config.optim, num_steps=40)
    state = state_lib.create_train_state(model, tx, batch, jax.random.PRNGKey(0))
    spec = step_lib.LossSpec(num_classes=2)
    train_step = jax.jit(functools.partial(step_lib.train_step, loss_spec=spec), donate_argnums=0)
    losses = []
    for _ in range(40):
        state, metrics = train_step(state, batch)
        losses.append(float(metrics['loss']))
    assert int(state.step) == 40
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses


def test_the_step_folds_the_rng_with_the_step_number():
    """Dropout masks differ between steps but are reproducible from the state."""
    config = get_config('lstm', 'depth=2,width=8,dropout=0.5')
    model = models.build_model(config.model, num_classes=2)
    tx, _ = optim.create_optimizer(config.optim, num_steps=10)
    batch = {'x': jnp.ones((4, 16, 1)), 'y': jnp.zeros((4,), jnp.int32)}
    spec = step_lib.LossSpec(num_classes=2)
    train_step = jax.jit(functools.partial(step_lib.train_step, loss_spec=spec))
    state = state_lib.create_train_state(model, tx, batch, jax.random.PRNGKey(0))

    def grads_at(step):
        _, metrics = train_step(state.replace(step=jnp.int32(step)), batch)
        return float(metrics['grad_norm'])

    assert grads_at(3) == grads_at(3)
    assert grads_at(3) != grads_at(4)


def test_class_weighted_and_smoothed_cross_entropy():
    logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = jnp.array([0, 1, 1])
    plain = step_lib.cross_entropy(logits, labels, step_lib.LossSpec(2))
    per_example = -jax.nn.log_softmax(logits)[jnp.arange(3), labels]
    assert float(plain) == pytest.approx(float(per_example.mean()))
    weighted = step_lib.cross_entropy(
        logits, labels, step_lib.LossSpec(2, class_weights=(1.0, 3.0))
    )
    expected = (per_example[0] + 3 * per_example[1] + 3 * per_example[2]) / 7
    assert float(weighted) == pytest.approx(float(expected))
    smoothed = step_lib.cross_entropy(logits, labels, step_lib.LossSpec(2, label_smoothing=0.2))
    targets = jnp.array([[0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])
    assert float(smoothed) == pytest.approx(
        float(-(targets * jax.nn.log_softmax(logits)).sum(-1).mean()), rel=1e-6
    )


def test_balanced_class_weights_are_inverse_frequency():
    labels = np.array([0, 0, 0, 1])
    balanced = programs.resolve_class_weights('balanced', labels, 3)
    assert balanced == pytest.approx((4 / 9, 4 / 3, 0.0))
    assert programs.resolve_class_weights('none', labels, 3) is None
    assert programs.resolve_class_weights('1,2,3', labels, 3) == (1.0, 2.0, 3.0)


def test_eval_step_ignores_padding():
    apply_fn = lambda variables, x, train: x[:, 0, :2]  # Logits are the first two inputs.
    x = jnp.array([[[5.0, 0.0]], [[0.0, 5.0]], [[9.0, 0.0]]])
    batch = {'x': x, 'y': jnp.array([0, 0, 1]), 'valid': jnp.array([True, True, False])}
    out = step_lib.eval_step({}, apply_fn, batch, num_classes=2)
    assert float(out['count']) == 2
    np.testing.assert_array_equal(out['confusion'], [[1, 1], [0, 0]])


def read_summary(workdir):
    return workdir_lib.read_summary(workdir).to_dict()


@pytest.mark.parametrize('depth', [1, 3])
@pytest.mark.parametrize('family', FAMILIES)
def test_end_to_end_run_writes_a_done_summary(family, depth, data_dir, tmp_path):
    config = small_config(family, depth, data_dir)
    summary = loop.train_and_evaluate(config, str(tmp_path))
    assert read_summary(tmp_path) == json.loads(json.dumps(summary))
    assert summary['status'] == 'done'
    assert summary['params'] > 0
    assert summary['variant'] == models.get(family).label(config.model.to_dict())
    labels = {'dilated_cnn': 'dilated CNN', 'lstm': 'LSTM', 'mi_mlp': 'MI-MLP'}
    assert summary['variant'] == labels[family]  # The family's label of the default config.
    for split in ('val', 'test', 'train'):
        for key in ('loss', 'accuracy', 'macro_f1'):
            assert np.isfinite(summary[split][key]), (split, key)
    assert summary['wall_time_s'] > 0 and summary['steps_per_s'] > 0
    assert json.load(open(tmp_path / 'config.json'))['model']['depth'] == depth
    records = files.read_jsonl(tmp_path / 'metrics.jsonl')
    assert [r['step'] for r in records if r['type'] == 'train'] == [5, 10, 15, 20]
    assert [r['step'] for r in records if r['type'] == 'eval'] == [10, 20]
    for record in records:
        if record['type'] == 'train':
            assert {'loss', 'accuracy', 'grad_norm', 'param_norm', 'learning_rate'} <= set(record)


def test_best_step_is_chosen_on_validation_and_test_reported_there(data_dir, tmp_path):
    config = small_config('dilated_cnn', 2, data_dir)
    config.train.num_steps = 30
    config.train.eval_every = 5
    config.train.select_metric = 'loss'
    summary = loop.train_and_evaluate(config, str(tmp_path))
    evals = [r for r in files.read_jsonl(tmp_path / 'metrics.jsonl') if r['type'] == 'eval']
    assert len(evals) == 6
    best = min(evals, key=lambda r: r['validation']['loss'])
    assert summary['best_step'] == best['step']
    assert summary['val'] == best['validation']
    assert all('test' not in r for r in evals)  # The test split is never seen during training.
    assert summary['test']['per_class'].keys() == summary['val']['per_class'].keys()


def test_same_seed_gives_identical_metrics(data_dir, tmp_path):
    config = small_config('lstm', 2, data_dir)
    config.model.dropout = 0.2
    first = loop.train_and_evaluate(config, str(tmp_path / 'a'))
    second = loop.train_and_evaluate(config, str(tmp_path / 'b'))
    assert first['val'] == second['val'] and first['test'] == second['test']
    assert first['final_train'] == second['final_train']
    strip = lambda rs: [{k: v for k, v in r.items() if k != 'steps_per_s'} for r in rs]
    assert strip(files.read_jsonl(tmp_path / 'a' / 'metrics.jsonl')) == strip(
        files.read_jsonl(tmp_path / 'b' / 'metrics.jsonl')
    )
    config.seed = 1
    third = loop.train_and_evaluate(config, str(tmp_path / 'c'))
    assert third['final_train'] != first['final_train']


def test_a_non_finite_loss_ends_the_run_as_diverged(data_dir, tmp_path):
    config = diverging_config(2, data_dir)
    summary = loop.train_and_evaluate(config, str(tmp_path))
    assert summary['status'] == 'diverged'
    assert 1 <= summary['diverged_step'] <= config.train.num_steps
    assert read_summary(tmp_path)['status'] == 'diverged'
    records = files.read_jsonl(tmp_path / 'metrics.jsonl')
    assert records[-1] == {'type': 'diverged', 'step': summary['diverged_step']}


def test_an_error_is_recorded_as_failed(data_dir, tmp_path, monkeypatch):
    config = small_config('lstm', 1, data_dir)

    def broken(*args, **kwargs):
        raise RuntimeError('model exploded')

    monkeypatch.setattr(models, 'build_model', broken)
    with pytest.raises(RuntimeError, match='model exploded'):
        loop.train_and_evaluate(config, str(tmp_path))
    summary = read_summary(tmp_path)
    assert summary['status'] == 'failed'
    assert 'model exploded' in summary['error']


def masked_dataset_with_features(n=192, steps=64):
    """Labels readable only from a side feature; windows end-padded to random lengths."""
    from ecgdepth import data as data_lib

    rng = np.random.default_rng(0)

    def split(m):
        y = rng.integers(0, 2, m).astype(np.int32)
        lengths = rng.integers(steps // 2, steps + 1, m)
        mask = np.arange(steps)[None, :] < lengths[:, None]
        x = (rng.normal(0, 1, (m, steps, 1)) * mask[..., None]).astype(np.float32)
        features = np.stack([2.0 * y - 1, rng.normal(0, 1, m)], axis=1).astype(np.float32)
        return {'x': x, 'y': y, 'mask': mask, 'features': features}

    return data_lib.Dataset(
        splits={'train': split(n), 'validation': split(64), 'test': split(64)},
        class_names=('a', 'b'),
        sample_rate=100.0,
        name='fake',
        feature_names=('signal_of_label', 'noise'),
    )


@pytest.mark.parametrize('family', FAMILIES)
def test_masks_and_side_features_flow_through_training(family, tmp_path, monkeypatch):
    from ecgdepth import data as data_lib

    dataset = masked_dataset_with_features()
    monkeypatch.setattr(data_lib, 'load', lambda _: dataset)
    config = small_config(family, 1, data_dir='')
    config.train.num_steps = 80
    config.train.eval_every = 40
    config.optim.learning_rate = 1e-2
    summary = loop.train_and_evaluate(config, str(tmp_path))
    assert summary['status'] == 'done'
    assert summary['val']['accuracy'] > 0.9  # Only the side feature carries the label.
    # Recurrent models record the gradient across time, lags counted from each real end.
    assert ('hidden_grad_time_slope' in summary) == (family == 'lstm')
    if family == 'lstm':
        assert len(summary['hidden_grad_norm']) == 1 and summary['hidden_grad_norm'][0][0] > 0
        assert 'hidden_grad_time_slope_init' in summary


def test_diagnostics_are_recorded_at_init_and_each_evaluation(data_dir, tmp_path):
    config = small_config('dilated_cnn', 3, data_dir)
    config.model.dilation_cycle = 2
    summary = loop.train_and_evaluate(config, str(tmp_path / 'on'))
    records = files.read_jsonl(tmp_path / 'on' / 'metrics.jsonl')
    initial = [r for r in records if r['type'] == 'diagnostics']
    assert [r['step'] for r in initial] == [0]
    assert len(initial[0]['grad_norm_per_layer']) == 3
    for record in (r for r in records if r['type'] == 'eval'):
        assert len(record['diagnostics']['grad_norm_per_layer']) == 3
    assert summary['receptive_field'] == 1 + 2 * (1 + 2 + 1)  # k=3, dilations 1, 2, 1.
    assert summary['receptive_field_s'] == pytest.approx(summary['receptive_field'] / 125.0)
    assert summary['flops_per_example'] > 0
    assert summary['grad_norm_per_layer_init'] == initial[0]['grad_norm_per_layer']
    assert 0 <= summary['sensitivity_span50'] <= summary['sensitivity_span90'] < 250
    config.train.diagnostics = False
    plain = loop.train_and_evaluate(config, str(tmp_path / 'off'))
    assert 'grad_norm_per_layer' not in plain and 'receptive_field' not in plain
    assert plain['val'] == summary['val']  # Diagnostics never change the training.
