"""Each diagnostic on a case with a known answer."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from ecgdepth import diagnostics, models

TIME, CLASSES = 96, 3


def build(name, **fields):
    fields.setdefault('width', 8)
    return models.build_model(ml_collections.ConfigDict({'name': name, **fields}), CLASSES)


def batch(n=4, seed=0):
    x = jax.random.normal(jax.random.key(seed), (n, TIME, 1))
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
