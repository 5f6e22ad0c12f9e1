"""Each diagnostic on a case with a known answer."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from ecgdepth import diagnostics, models
from ecgdepth.models import lstm as lstm_lib

TIME, CLASSES = 96, 3


def build(name, **fields):
    fields.setdefault('width', 8)
    return models.build_model(ml_collections.ConfigDict({'name': name, **fields}), CLASSES)


def batch(n=4, seed=0, time=TIME):
    x = jax.random.normal(jax.random.key(seed), (n, time, 1))
    return {'x': x, 'y': jnp.arange(n) % CLASSES}


def init(model, b):
    return model.init(jax.random.key(1), b['x'])['params']


@pytest.mark.parametrize('depth, kernel, cycle', [(3, 3, 8), (4, 2, 2), (2, 5, 8)])
def test_cnn_sensitivity_is_zero_beyond_its_receptive_field(depth, kernel, cycle):
    config = ml_collections.ConfigDict(
        dict(
            name='dilated_cnn',
            depth=depth,
            kernel_size=kernel,
            dilation='exponential',
            dilation_cycle=cycle,
            readout='last',
            padding='causal',
            width=8,
        )
    )
    model = models.build_model(config, CLASSES)
    b = batch()
    sensitivity = diagnostics.input_sensitivity(model, init(model, b), b)
    rf = diagnostics.receptive_field(config, sample_rate=100.0, window=TIME)['receptive_field']
    assert sensitivity.shape == (TIME,)
    assert np.all(sensitivity[rf:] == 0)
    assert sensitivity[rf - 1] > 0
    assert diagnostics.sensitivity_span(sensitivity, 0.9) < rf


def test_a_model_reading_only_the_last_sample_has_all_sensitivity_at_lag_zero():
    model = build('dilated_cnn', depth=2, kernel_size=1, readout='last')
    b = batch()
    sensitivity = diagnostics.input_sensitivity(model, init(model, b), b)
    assert sensitivity[0] > 0 and np.all(sensitivity[1:] == 0)
    summary = diagnostics.summarise_sensitivity(sensitivity, sample_rate=250.0)
    assert summary['sensitivity_span50'] == summary['sensitivity_span90'] == 0


def test_an_lstm_reaches_back_further_than_a_shallow_cnn():
    b = batch()
    lstm = build('lstm', depth=1)
    cnn = build('dilated_cnn', depth=1, readout='last')
    span = lambda m: diagnostics.sensitivity_span(
        diagnostics.input_sensitivity(m, init(m, b), b), 0.99
    )
    assert span(cnn) < 3 <= span(lstm)


def test_sensitivity_span_on_known_masses():
    assert diagnostics.sensitivity_span(np.array([5.0, 3.0, 2.0]), 0.5) == 0
    assert diagnostics.sensitivity_span(np.array([5.0, 3.0, 2.0]), 0.8) == 1
    assert diagnostics.sensitivity_span(np.array([1.0, 1.0, 1.0, 1.0]), 0.9) == 3
    assert diagnostics.sensitivity_span(np.zeros(4), 0.5) == 0


@pytest.mark.parametrize(
    'name, fields',
    [
        ('dilated_cnn', dict(depth=5, dilation_cycle=2)),
        ('lstm', dict(depth=3)),
        ('mi_mlp', dict(depth=3, pool=4)),
    ],
)
def test_layer_grad_norms_slice_the_scanned_axis(name, fields):
    """Per-layer norms from the scanned model equal those of the unrolled one, layer by layer."""
    b = batch()
    scanned = build(name, **fields)
    params = init(scanned, b)
    norms = diagnostics.layer_grad_norms(scanned, diagnostics.loss_gradients(scanned, params, b))
    assert len(norms) == fields['depth'] and all(n > 0 for n in norms)
    unrolled = build(name, **fields, scan=False)
    unrolled_params = models.unscan_params(scanned, params)
    grads = diagnostics.loss_gradients(unrolled, unrolled_params, b)
    expected = [
        float(optax.tree.norm(grads[f'{unrolled.layer_prefix}_{i}']))
        for i in range(fields['depth'])
    ]
    np.testing.assert_allclose(norms, expected, rtol=1e-4)


def test_flops_grow_with_depth():
    b = batch()
    flops = []
    for depth in (2, 4):
        model = build('dilated_cnn', depth=depth, dilation_cycle=2)
        flops.append(diagnostics.flops_per_example(model, init(model, b), b))
    assert flops[0] > 0
    # Each conv block of width 8, kernel 3 costs about 2 * 3 * 8 * 8 FLOPs per time step.
    assert flops[1] - flops[0] == pytest.approx(2 * 2 * 3 * 8 * 8 * TIME, rel=0.3)


def test_receptive_field_of_the_recurrent_and_mlp_families_is_the_window():
    config = ml_collections.ConfigDict(dict(name='lstm'))
    assert diagnostics.receptive_field(config, 250.0, 500) == {
        'receptive_field': 500,
        'receptive_field_s': 2.0,
    }


# ------------------------------------------------------------------- recurrent family: FLOPs


@pytest.mark.parametrize('cell, cls', [('lstm', 'OptimizedLSTMCell'), ('gru', 'GRUCell'),
                                       ('rnn', 'SimpleCell')])  # fmt: skip
def test_cell_flops_equal_xla_count_of_one_step(cell, cls):
    import flax.linen as nn

    for inputs, width in ((3, 8), (16, 5)):
        module = getattr(nn, cls)(features=width)
        x = jax.ShapeDtypeStruct((1, inputs), jnp.float32)
        carry = module.initialize_carry(jax.random.key(0), x.shape)
        variables = jax.eval_shape(module.init, jax.random.key(0), carry, x)
        step = jax.jit(module.apply).lower(variables, carry, x).cost_analysis()
        assert lstm_lib.CELL_FLOPS[cell](inputs, width) == step['flops']


def test_recurrent_flops_are_counted_over_every_time_step():
    """Hand count: LSTM depth 2, width 4, one input channel, 10 steps, 3 classes."""
    model = build('lstm', depth=2, width=4)
    layer_1 = 10 * (8 * 4 * (1 + 4) + 21 * 4)  # 4 gates: 2 * 4 * (1 + 4) * 4 MACs + gates.
    layer_2 = 10 * (8 * 4 * (4 + 4) + 21 * 4)
    head = 2 * 4 * CLASSES + CLASSES
    x = jnp.ones((1, 10, 1))
    assert diagnostics.flops_per_example(model, None, {'x': x}) == layer_1 + layer_2 + head
    # XLA counts the time loop's body once: right for one step, T times short for T steps.
    for fields in (dict(depth=2, width=4), dict(depth=3, cell='gru', layer_norm=True,
                   residual=True, bidirectional=True, readout='mean')):  # fmt: skip
        model = build('lstm', **fields, scan=False)  # Shapes only: no stacked axis to slice.
        one = {'x': jax.ShapeDtypeStruct((1, 1, 2), jnp.float32)}
        params = jax.eval_shape(model.init, jax.random.key(0), one['x'])['params']
        analytic = diagnostics.flops_per_example(model, params, one)
        assert analytic == pytest.approx(
            diagnostics.xla_flops_per_example(model, params, one), rel=0.01
        )
        eight = {'x': jax.ShapeDtypeStruct((1, 8, 2), jnp.float32)}
        assert diagnostics.flops_per_example(model, params, eight) > 7 * analytic


# ---------------------------------------------------- recurrent family: gradient across time

STEPS = 32  # Time steps of the recurrent cases.


def linear_rnn(depth, decay, input_scale=1e-3, width=4):
    """A tanh RNN kept in its linear range (tiny input weights, no bias) with recurrent
    weights decay * I: the gradient shrinks by `decay` per step back in time."""
    model = build('lstm', depth=depth, cell='rnn', width=width)
    keys = jax.random.split(jax.random.key(2), 3)

    def layer(key, inputs, stack=()):
        kernel = jax.random.normal(key, (*stack, inputs, width)) * input_scale
        return {
            'fwd': {
                'h': {'kernel': decay * jnp.broadcast_to(jnp.eye(width), (*stack, width, width))},
                'i': {'kernel': kernel, 'bias': jnp.zeros((*stack, width))},
            }
        }

    head = {'kernel': jax.random.normal(keys[2], (width, CLASSES)), 'bias': jnp.zeros(CLASSES)}
    params = {'layer_0': layer(keys[0], 1), 'head': head}
    if depth > 1:
        params['layers'] = layer(keys[1], width, (depth - 1,))
    return model, params


def test_a_linear_rnn_loses_its_recurrent_decay_per_step():
    b = batch(time=STEPS)
    model, params = linear_rnn(depth=1, decay=0.5)
    curves = diagnostics.hidden_gradients(model, params, b)
    assert curves.shape == (1, STEPS)
    summary = diagnostics.summarise_hidden_gradients(curves)
    assert summary['hidden_grad_time_slope'] == pytest.approx(np.log10(0.5), abs=1e-3)
    assert summary['hidden_grad_layer_slope'] is None  # One layer: no slope across layers.
    # Weaker recurrence, steeper fall; each layer's input weights (1e-3) show across layers.
    model, params = linear_rnn(depth=3, decay=0.2)
    summary = diagnostics.summarise_hidden_gradients(diagnostics.hidden_gradients(model, params, b))
    assert all(s < -0.5 for s in summary['hidden_grad_time_slope_per_layer'])
    assert summary['hidden_grad_layer_slope'] < -2
    assert len(summary['hidden_grad_norm']) == 3
    assert len(summary['hidden_grad_norm'][0]) == len(summary['hidden_grad_lags'])
    assert summary['hidden_grad_lags'][:3] == [0.0, 1.0, 2.0]
    long = diagnostics.summarise_hidden_gradients(np.ones((2, 5000)))
    assert len(long['hidden_grad_lags']) <= diagnostics.HIDDEN_GRAD_POINTS
    assert long['hidden_grad_time_slope'] == long['hidden_grad_layer_slope'] == 0


def test_without_recurrence_only_the_read_steps_get_gradient():
    """Zero recurrent weights: reading the last step leaves every earlier step of every layer
    without gradient, also with end padding (lags count from each example's last real step);
    reading the mean reaches every step."""
    b = batch(time=STEPS)
    b['mask'] = jnp.arange(STEPS)[None] < jnp.array([STEPS, STEPS - 3, STEPS - 9, 12])[:, None]
    model, params = linear_rnn(depth=2, decay=0.0, input_scale=1.0)
    curves = diagnostics.hidden_gradients(model, params, b)
    assert np.all(curves[:, 0] > 0) and np.all(curves[:, 1:] == 0)
    curves = diagnostics.hidden_gradients(model.clone(readout='mean'), params, b)
    assert np.all(curves > 0)


@pytest.fixture(scope='module')
def lstm3():
    """A 3-layer LSTM with random parameters (drawn here: compiling its init costs more)."""
    b = batch(time=STEPS)
    model = build('lstm', depth=3)
    shapes = jax.eval_shape(model.init, jax.random.key(1), b['x'])['params']
    leaves, tree = jax.tree.flatten(shapes)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    leaves = [0.4 * jax.random.normal(k, s.shape) for k, s in zip(keys, leaves, strict=True)]
    return model, jax.tree.unflatten(tree, leaves), b


def test_scanned_curves_match_the_unrolled_model_and_the_input_gradient(lstm3):
    scanned, params, b = lstm3
    curves = diagnostics.hidden_gradients(scanned, params, b)
    unrolled = build('lstm', depth=3, scan=False)
    reference = diagnostics.hidden_gradients(unrolled, models.unscan_params(scanned, params), b)
    np.testing.assert_allclose(curves, reference, rtol=1e-4, atol=1e-12)
    # Layer 1's input is the signal: its curve is each example's d loss / d x_t, by lag.
    loss = lambda x: optax.softmax_cross_entropy_with_integer_labels(  # noqa: E731
        scanned.apply({'params': params}, x), b['y']
    ).sum()
    direct = np.abs(np.asarray(jax.jit(jax.grad(loss))(b['x'])))[..., 0].mean(0)[::-1]
    np.testing.assert_allclose(curves[0], direct, rtol=1e-4, atol=1e-12)


def test_perturbations_are_absent_unless_asked_and_change_nothing(lstm3):
    model, params, b = lstm3
    assert set(jax.eval_shape(model.init, jax.random.key(1), b['x'])) == {'params'}
    shapes = diagnostics.perturbation_shapes(model, params, b)
    assert jax.tree.map(lambda s: s.shape, shapes) == {
        'layer_0': {'input': (4, STEPS, 1)},
        'layers': {'input': (2, 4, STEPS, 8)},
    }
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape), shapes)
    apply = jax.jit(model.apply)
    np.testing.assert_array_equal(
        apply({'params': params, 'perturbations': zeros}, b['x']),
        apply({'params': params}, b['x']),
    )
    cnn = build('dilated_cnn', depth=2)
    cnn_params = jax.eval_shape(cnn.init, jax.random.key(1), b['x'])['params']
    assert diagnostics.perturbation_shapes(cnn, cnn_params, b) is None


def test_the_probe_adds_gradient_flow_across_time_for_recurrent_models(lstm3):
    model, params, b = lstm3
    record = diagnostics.Probe(model, b, 125.0, params)(params)
    assert len(record['grad_norm_per_layer']) == len(record['hidden_grad_norm']) == 3
    assert len(record['hidden_grad_time_slope_per_layer']) == 3
    assert record['hidden_grad_time_slope'] == record['hidden_grad_time_slope_per_layer'][0] < 0
    assert np.isfinite(record['hidden_grad_layer_slope'])
