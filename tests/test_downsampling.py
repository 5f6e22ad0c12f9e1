"""The architectures ECG papers compare, as knobs of the families: CNN downsampling (max / avg
pooling, strided blocks, the ResNet-1d preset) and the conv front end of every family. Shapes,
scan == unrolled, exact receptive field (= measured gradient support), hand-counted
parameters, FLOPs, masks, diagnostics, validation and the spec's `arch` key."""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from conftest import load_config, set_field

from ecgdepth import diagnostics, spec, validation, variants
from ecgdepth.models import (
    FAMILIES,
    build_model,
    conv,
    count_params,
    dilated_cnn,
    front_end,
    unscan_params,
)

BATCH, TIME, CHANNELS, CLASSES, WIDTH = 2, 64, 3, 5, 8
RESNET1D = {**dilated_cnn.ARCHS['resnet1d'], 'depth': 5, 'kernel_size': 4}  # small for a CPU

CASES = {
    'cnn-max': ('dilated_cnn', dict(depth=5, downsample='max', dilation_cycle=2)),
    'cnn-avg-same': (
        'dilated_cnn',
        dict(depth=7, downsample='avg', downsample_every=3, downsample_factor=3, padding='same'),
    ),
    'cnn-stride-ln-res': (
        'dilated_cnn',
        dict(depth=5, downsample='stride', dilation='none', layer_norm=True, residual=True),
    ),
    'cnn-stride-block': (
        'dilated_cnn',
        dict(
            depth=6,
            downsample='stride',
            downsample_every=3,
            scan_unit='block',
            residual=True,
            dilation_cycle=2,
        ),
    ),  # fmt: skip
    'cnn-stride-every1-glu': (
        'dilated_cnn',
        dict(depth=3, downsample='stride', downsample_every=1, gate='glu', residual=True),
    ),
    'cnn-resnet1d': ('dilated_cnn', RESNET1D),
    'cnn-front-end-max': (
        'dilated_cnn',
        dict(depth=3, front_end_layers=2, front_end_kernel=3, downsample='max', residual=True),
    ),
    'lstm-front-end': ('lstm', dict(depth=2, front_end_layers=2, bidirectional=True)),
    'lstm-front-end-ln-mean': (
        'lstm',
        dict(
            depth=2,
            front_end_layers=1,
            front_end_stride=4,
            front_end_width=6,
            layer_norm=True,
            readout='mean',
            residual=True,
        ),
    ),  # fmt: skip
    'mlp-front-end': ('mi_mlp', dict(depth=2, front_end_layers=2, pool=2, front_end_width=3)),
    'mlp-front-end-zlayer': (
        'mi_mlp',
        dict(
            depth=3,
            front_end_layers=1,
            front_end_stride=4,
            pool=1,
            z_source='layer',
            rank=3,
            layer_norm=True,
        ),
    ),  # fmt: skip
}


def make(family, **fields):
    fields.setdefault('width', WIDTH)
    return build_model(ml_collections.ConfigDict({'name': family, **fields}), CLASSES)


def inputs(seed=1, time=TIME):
    return jax.random.normal(jax.random.key(seed), (BATCH, time, CHANNELS), jnp.float32)


@functools.cache
def setup(case):
    """(model, variables, logits) of a case with scan=True."""
    family, fields = CASES[case]
    model = make(family, **fields)
    variables = model.init(jax.random.key(0), inputs())
    return model, variables, model.apply(variables, inputs())


# ---------------------------------------------------------------------------------------------
# Hand-derived parameter counts: downsampling adds none, the front end its convs (and norms).


def front_end_count(layers=0, kernel=5, width=0, layer_norm=False, model_width=WIDTH, **_):
    width = width or model_width
    count, channels = 0, CHANNELS
    for _ in range(layers):
        count += kernel * channels * width + width + (2 * width if layer_norm else 0)
        channels = width
    return count, (channels if layers else CHANNELS)


def front(fields):
    """front_end_count of a case's fields."""
    return front_end_count(
        fields.get('front_end_layers', 0),
        fields.get('front_end_kernel', 5),
        fields.get('front_end_width', 0),
        fields.get('layer_norm', False),
        fields.get('width', WIDTH),
    )


def cnn_count(fields):
    extra, channels = front(fields)
    width, g = WIDTH, 1 if fields.get('gate', 'none') == 'none' else 2
    block = fields.get('kernel_size', 3) * width * g * width + g * width
    block += 2 * width if fields.get('layer_norm') else 0
    return extra + channels * width + width + fields['depth'] * block + width * CLASSES + CLASSES


def lstm_count(fields):
    extra, channels = front(fields)
    h, dirs = WIDTH, 2 if fields.get('bidirectional') else 1
    cell = lambda n_in: 4 * (n_in * h + h * h + h)  # noqa: E731  (OptimizedLSTMCell)
    norm = 2 * dirs * h if fields.get('layer_norm') else 0
    layers = dirs * cell(channels) + norm + (fields['depth'] - 1) * (dirs * cell(dirs * h) + norm)
    return extra + layers + dirs * h * CLASSES + CLASSES


def mlp_count(fields):
    extra, channels = front(fields)
    steps = front_end.output_length(
        TIME, fields['front_end_layers'], fields.get('front_end_stride', 2)
    )
    d, width, rank = (steps // fields['pool']) * channels, WIDTH, fields.get('rank', 8)
    norm = 2 * width if fields.get('layer_norm') else 0

    def layer(dx, dz):
        return dz * width + dx * width + width + dz * rank + dx * rank + rank * width + norm

    rest = layer(width, d if fields.get('z_source', 'input') == 'input' else width)
    return extra + layer(d, d) + (fields['depth'] - 1) * rest + width * CLASSES + CLASSES


COUNTS = {'dilated_cnn': cnn_count, 'lstm': lstm_count, 'mi_mlp': mlp_count}


@pytest.mark.parametrize('case', CASES)
def test_shape_params_and_scan_matches_unrolled(case):
    family, fields = CASES[case]
    model, variables, logits = setup(case)
    assert logits.shape == (BATCH, CLASSES) and np.isfinite(np.asarray(logits)).all()
    assert count_params(variables) == COUNTS[family](fields)
    unrolled = make(family, **fields, scan=False)
    converted = unscan_params(model, variables)
    reference = jax.eval_shape(unrolled.init, jax.random.key(0), inputs())
    assert jax.tree.map(lambda a: a.shape, converted) == jax.tree.map(lambda a: a.shape, reference)
    np.testing.assert_allclose(unrolled.apply(converted, inputs()), logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('case', ['cnn-stride-block', 'cnn-front-end-max', 'lstm-front-end'])
def test_remat_same_outputs(case):
    family, fields = CASES[case]
    model, variables, logits = setup(case)
    for scan in (True, False):
        remat = make(family, **fields, scan=scan, remat=True)
        params = variables if scan else unscan_params(model, variables)
        np.testing.assert_allclose(remat.apply(params, inputs()), logits, atol=1e-5, rtol=1e-5)


def test_stages_scan_their_blocks_and_strided_blocks_keep_their_names():
    model, variables, _ = setup('cnn-max')  # 5 blocks, stages of 2, 2, 1; cycle 2
    assert set(variables['params']) == {
        'stem', 'stage0_cycles', 'stage1_cycles', 'stage2_partial', 'head'
    }  # fmt: skip
    model, variables, _ = setup('cnn-stride-block')  # stages of 3 and 3; block 2 strided
    params = variables['params']
    assert set(params) == {'stem', 'stage0_blocks', 'block_2', 'stage1_blocks', 'head'}
    assert params['stage0_blocks']['conv']['kernel'].shape == (2, 3, WIDTH, WIDTH)
    assert params['stage1_blocks']['conv']['kernel'].shape == (3, 3, WIDTH, WIDTH)
    converted = unscan_params(model, params)
    np.testing.assert_array_equal(
        converted['block_4']['conv']['kernel'], params['stage1_blocks']['conv']['kernel'][1]
    )
    assert dilated_cnn.stage_sizes(7, 'max', 3) == [3, 3, 1]
    assert dilated_cnn.stage_sizes(7, 'none', 3) == [7]


def program_size(model, time=TIME):
    """Length of the lowered program with every integer replaced by 0 (as in test_models)."""
    x = jax.ShapeDtypeStruct((BATCH, time, CHANNELS), jnp.float32)
    params = jax.eval_shape(model.init, jax.random.key(0), x)
    text = jax.jit(lambda p, x: model.apply(p, x)).lower(params, x).as_text()
    return len(re.sub(r'\d+', '0', text))


@pytest.mark.parametrize('scan_unit', ['cycle', 'block'])
def test_program_size_does_not_grow_with_the_blocks_of_a_stage(scan_unit):
    """Two stages each time: 4 + 1 blocks against 16 + 1 (cycle 2: whole cycles scanned)."""
    fields = dict(downsample='avg', dilation_cycle=2, scan_unit=scan_unit, residual=True)
    assert program_size(make('dilated_cnn', depth=5, downsample_every=4, **fields)) == (
        program_size(make('dilated_cnn', depth=17, downsample_every=16, **fields))
    )


# ---------------------------------------------------------------------------------------------
# Pooling, alignment and the receptive field.


def test_pooling_aligns_windows_to_the_end_and_leaves_padding_out():
    x = jnp.arange(1.0, 8.0).reshape(1, 7, 1)  # 1..7: windows of 3 are [pad, 1], [2..4], [5..7]
    ones = jnp.ones(())
    np.testing.assert_array_equal(conv.pool_time(x, ones, 3, 'max')[0, :, 0], [1, 4, 7])
    np.testing.assert_array_equal(conv.pool_time(x, ones, 3, 'avg')[0, :, 0], [1, 3, 6])
    keep = (jnp.arange(7) < 5).astype(jnp.float32).reshape(1, 7, 1)  # steps 5, 6 are padding
    neg = -x * keep
    np.testing.assert_array_equal(conv.pool_time(neg, keep, 3, 'max')[0, :, 0], [-1, -2, -5])
    np.testing.assert_array_equal(conv.pool_time(neg, keep, 3, 'avg')[0, :, 0], [-1, -3, -5])
    np.testing.assert_array_equal(conv.pool_keep(keep, 3)[0, :, 0], [1, 1, 1])
    short = (jnp.arange(7) < 3).astype(jnp.float32).reshape(1, 7, 1)  # [pad, 1], [1, 1], [0, 0]..
    np.testing.assert_array_equal(conv.pool_keep(short, 2)[0, :, 0], [1, 1, 0, 0])
    assert conv.pool_keep(ones, 3) is ones  # No mask stays no mask.
    assert [conv.pooled_length(t, 3) for t in (1, 3, 4, 7)] == [1, 1, 2, 3]
    assert front_end.output_length(64, 3, 3) == 3  # 64 -> 22 -> 8 -> 3


def test_strided_conv_is_the_full_rate_conv_at_the_end_of_each_window():
    x = inputs()
    for padding in ('causal', 'same'):
        strided = conv.DilatedConv1D(4, 3, 2, padding, stride=3)
        full = conv.DilatedConv1D(4, 3, 2, padding)
        variables = strided.init(jax.random.key(0), x)
        expected = full.apply(variables, x)[:, TIME - 1 :: -3][:, ::-1]  # t = 63, 60, ..., 0
        np.testing.assert_allclose(strided.apply(variables, x), expected, atol=1e-6)


def test_receptive_field_values():
    rf = dilated_cnn.receptive_field
    assert rf(3, 4) == 31 and rf(3, 10, 'none') == 21  # Unchanged without downsampling.
    # Plain k=3, 5 blocks, pool 2 after blocks 2 and 4: 1 + 2 + 2 + (1) * 1 + 2 * 2 + 2 * 2
    # + (1) * 2 + 2 * 4.
    assert rf(3, 5, 'none', downsample='max', downsample_every=2) == 1 + 2 + 2 + 1 + 4 + 4 + 2 + 8
    # Strided: the 2nd block of a stage strides; residual widens it to the shortcut's window.
    assert rf(2, 3, 'none', downsample='stride', downsample_every=1, downsample_factor=4) == (
        1 + 1 + 1 * 4 + 1 * 16
    )
    assert rf(2, 3, 'none', downsample='stride', downsample_every=1, downsample_factor=4,
              residual=True) == 1 + 3 + 3 * 4 + 1 * 16  # fmt: skip
    # Dilations restart in every stage: (1, 2) per stage of 2, pools of 3 between.
    assert rf(3, 4, 'exponential', downsample='avg', downsample_factor=3) == (
        1 + 2 * 1 + 2 * 2 + 2 * 1 + (2 * 1 + 2 * 2) * 3
    )
    # The front end: its spans come first, at the input rate.
    model = make('dilated_cnn', depth=2, dilation='none', front_end_layers=2, front_end_kernel=4)
    assert model.receptive_field_samples == 1 + 3 + 3 * 2 + (2 + 2) * 4
    assert conv.receptive_field_of([]) == 1


@pytest.mark.parametrize(
    'fields',
    [
        dict(depth=5, downsample='max', dilation_cycle=2, residual=True),
        dict(depth=5, downsample='stride', dilation='none', residual=True, layer_norm=True),
        dict(depth=4, downsample='stride', downsample_every=1, downsample_factor=3, kernel_size=2,
             dilation='none'),
        dict(depth=3, downsample='stride', downsample_every=1, downsample_factor=4, kernel_size=2,
             dilation='none', residual=True),
        dict(depth=3, front_end_layers=2, front_end_kernel=3, dilation_cycle=2, residual=True),
        dict(depth=4, front_end_layers=1, front_end_stride=3, downsample='stride', residual=True,
             scan=False),
    ],
    ids=['max', 'stride-ln-res', 'stride-f3-gaps', 'stride-res-shortcut', 'front-end',
         'front-end-stride-unrolled'],
)  # fmt: skip
def test_causal_gradient_support_equals_receptive_field(fields):
    """The last output of a causal stack reads exactly `receptive_field_samples` inputs back
    (the extent: strides wider than a kernel leave gaps inside it). A max pool passes gradient
    to each window's argmax only, so there the support is the union over 32 random inputs."""
    model = make('dilated_cnn', readout='last', padding='causal', **{'kernel_size': 3, **fields})
    rf = model.receptive_field_samples
    assert rf <= TIME
    x = jax.random.normal(jax.random.key(1), (32, TIME, CHANNELS))
    variables = model.init(jax.random.key(3), x)
    grad = jax.grad(lambda x: model.apply(variables, x)[:, 0].sum())(x)  # examples do not mix
    support = np.abs(np.asarray(grad)).sum(axis=-1)  # (examples, time)
    uses_max = fields.get('downsample') == 'max' or (
        fields.get('downsample') == 'stride' and fields.get('residual')
    )
    reach = support.max(axis=0) if uses_max else support[0]
    assert np.flatnonzero(reach).min() == TIME - rf
    assert (support[:, : TIME - rf] == 0).all()
    assert reach[-1] > 0  # End-aligned: the last output sees the last sample.


# ---------------------------------------------------------------------------------------------
# FLOPs: XLA counts the downsampled CNN; the recurrent family's count includes the front end.


def test_xla_counts_the_downsampled_cnn():
    b = {'x': jax.random.normal(jax.random.key(0), (1, TIME, 1)), 'y': jnp.zeros(1, jnp.int32)}
    fields = dict(depth=4, dilation='none', residual=True)
    flops = {}
    for downsample in ('none', 'max', 'stride'):
        model = make('dilated_cnn', downsample=downsample, **fields)
        params = model.init(jax.random.key(1), b['x'])['params']
        flops[downsample] = diagnostics.flops_per_example(model, params, b)
    conv_flops = 2 * 3 * WIDTH * WIDTH  # per block and output step
    steps = {'none': [64, 64, 64, 64], 'max': [64, 64, 32, 32], 'stride': [64, 32, 32, 32]}
    for downsample, lengths in steps.items():
        assert flops[downsample] == pytest.approx(conv_flops * sum(lengths), rel=0.15)
    assert flops['stride'] < flops['max'] < flops['none']


def test_recurrent_flops_include_the_front_end_and_its_shorter_time():
    model = make('lstm', depth=2, width=4, front_end_layers=2, front_end_kernel=3)
    front = 32 * (2 * 3 * 1 * 4 + 2 * 4) + 16 * (2 * 3 * 4 * 4 + 2 * 4)  # 64 -> 32 -> 16
    layers = 16 * (8 * 4 * (4 + 4) + 21 * 4) * 2
    head = 2 * 4 * CLASSES + CLASSES
    assert model.flops(TIME, 1) == front + layers + head
    # Against XLA where its count is right: a window the front end shortens to one step.
    for fields in (dict(depth=2, front_end_layers=2), dict(depth=3, cell='gru', layer_norm=True,
                   residual=True, bidirectional=True, readout='mean', front_end_layers=3,
                   front_end_width=6)):  # fmt: skip
        model = make('lstm', **fields, scan=False)
        one = {'x': jax.ShapeDtypeStruct((1, 2 ** fields['front_end_layers'], 2), jnp.float32)}
        params = jax.eval_shape(model.init, jax.random.key(0), one['x'])['params']
        assert diagnostics.flops_per_example(model, params, one) == pytest.approx(
            diagnostics.xla_flops_per_example(model, params, one), rel=0.01
        )


# ---------------------------------------------------------------------------------------------
# Padding masks.

LENGTHS = jnp.array([41, 64])  # Example 0 is padded after step 41 (inside a window); 1 is full.
# Each case with one readout (both readouts among the cases): the mask's path through each form.
MASK_CASES = [
    ('cnn-max', 'mean'),
    ('cnn-avg-same', 'last'),
    ('cnn-stride-ln-res', 'mean'),
    ('cnn-front-end-max', 'last'),
    ('lstm-front-end', 'last'),
    ('lstm-front-end-ln-mean', 'mean'),
    ('mlp-front-end', None),
]


def padded_inputs(fill):
    x = inputs()
    mask = jnp.arange(TIME)[None, :] < LENGTHS[:, None]
    return jnp.where(mask[..., None], x, fill), mask


@pytest.mark.parametrize(('case', 'readout'), MASK_CASES)
def test_padding_is_never_seen_as_signal(case, readout):
    family, fields = CASES[case]
    model = make(family, **{**fields, **({} if readout is None else {'readout': readout})})
    x_zero, mask = padded_inputs(0.0)
    x_junk, _ = padded_inputs(-7.0)
    variables = model.init(jax.random.key(0), x_zero, mask=mask)
    apply = jax.jit(lambda x, m: model.apply(variables, x, mask=m))
    np.testing.assert_allclose(apply(x_zero, mask), apply(x_junk, mask), atol=1e-5, rtol=1e-5)
    unmasked = jnp.ones_like(mask)
    assert not np.allclose(apply(x_zero, unmasked), apply(x_junk, unmasked), atol=1e-4)
    if family != 'mi_mlp':  # (its mask is an input channel)
        full = apply(x_zero, unmasked)
        np.testing.assert_allclose(full, model.apply(variables, x_zero), atol=1e-5, rtol=1e-5)


def test_the_layer_mask_is_downsampled_with_the_front_end():
    model = make('lstm', depth=1, front_end_layers=2, front_end_stride=3)  # 64 -> 22 -> 8
    _, mask = padded_inputs(0.0)
    layer_mask = np.asarray(model.layer_mask(mask))
    assert layer_mask.shape == (BATCH, 8)
    # Example 0: 41 real steps; end-aligned windows of 3 twice: 22 steps of which 15 real
    # (the first window holds 2 padding + 1 real step; the 15th 1 real + 2 padding), then 8
    # of which 6 real.
    assert layer_mask[0].tolist() == [True] * 6 + [False] * 2 and layer_mask[1].all()
    assert make('lstm', depth=1).layer_mask(mask) is mask


def test_hidden_gradients_run_at_the_front_ends_rate():
    model = make('lstm', depth=2, front_end_layers=1, front_end_stride=4, cell='rnn')
    x, mask = padded_inputs(0.0)
    b = {'x': x, 'mask': mask, 'y': jnp.array([0, 1])}
    params = model.init(jax.random.key(0), x)['params']
    shapes = diagnostics.perturbation_shapes(model, params, b)
    assert shapes['layer_0']['input'].shape == (BATCH, 16, WIDTH)
    curves = diagnostics.hidden_gradients(model, params, b)
    assert curves.shape == (2, 16) and np.isfinite(curves).all()
    # Lag 0 is each example's last real front-end step: example 0's 11th (41 -> 11 steps).
    assert (curves[:, 0] > 0).all()
    record = diagnostics.Probe(model, b, 125.0, params)(params)
    assert len(record['hidden_grad_norm']) == 2


# ---------------------------------------------------------------------------------------------
# Validation, the spec's arch key, variant labels.


@pytest.mark.parametrize(
    'family, path, value, message',
    [
        ('dilated_cnn', 'model.downsample_every', 0, 'config.model.downsample_every must be an'),
        ('dilated_cnn', 'model.downsample_factor', 0, 'config.model.downsample_factor must be'),
        ('dilated_cnn', 'model.downsample', 'pool', "config.model.downsample must be one of 'no"),
        ('dilated_cnn', 'model.front_end_layers', -1, 'config.model.front_end_layers must be'),
        ('lstm', 'model.front_end_stride', 0, 'config.model.front_end_stride must be an integer'),
        ('lstm', 'model.front_end_kernel', 0, 'config.model.front_end_kernel must be an integer'),
        ('mi_mlp', 'model.front_end_width', -1, 'config.model.front_end_width must be an'),
    ],
)
def test_validation_names_the_field(family, path, value, message):
    config = load_config(f'{family}.py')
    set_field(config, path, value)
    with pytest.raises(validation.ConfigError, match=message):
        validation.validate_config(config)


def test_the_mi_mlp_pool_must_fit_the_front_ends_output():
    config = load_config('mi_mlp.py', 'front_end_layers=4,front_end_stride=4,pool=8')
    window = config.data.window
    steps = front_end.output_length(window, 4, 4)
    assert steps < 8 <= window
    with pytest.raises(validation.ConfigError, match=rf'pool \(8\) exceeds the {steps} steps'):
        validation.validate_config(config)
    validation.validate_config(load_config('mi_mlp.py', 'front_end_layers=1,pool=4'))


def test_arch_resnet1d_is_a_preset_that_explicit_keys_override():
    config = load_config('dilated_cnn.py', 'arch=resnet1d,runlocal')
    for key, value in dilated_cnn.ARCHS['resnet1d'].items():
        assert config.model[key] == value, key
    assert config.model.width == 16  # runlocal still shrinks what the preset leaves alone
    validation.validate_config(config)
    mine = load_config('dilated_cnn.py', 'arch=resnet1d,kernel_size=5,depth=4')
    assert (mine.model.kernel_size, mine.model.depth, mine.model.downsample) == (5, 4, 'stride')
    assert FAMILIES['dilated_cnn'].label(config.model.to_dict()) == 'strided ResNet-1d'
    model = build_model(config.model, CLASSES)  # and it builds
    assert model.downsample == 'stride'
    with pytest.raises(ValueError, match=r"arch=vgg: family 'dilated_cnn' has .*'resnet1d'"):
        load_config('dilated_cnn.py', 'arch=vgg')
    with pytest.raises(ValueError, match=r"arch=resnet1d: family 'lstm' has the named conf"):
        spec.family_config('lstm', 'arch=resnet1d')


@pytest.mark.parametrize(
    'family, overrides, expected',
    [
        ('dilated_cnn', {'downsample': 'max'}, 'dilated CNN, max-pooled'),
        ('dilated_cnn', {'downsample': 'avg', 'dilation': 'none'}, 'plain CNN, avg-pooled'),
        ('dilated_cnn', {'downsample': 'stride', 'residual': False}, 'dilated CNN, strided'),
        ('dilated_cnn', dilated_cnn.ARCHS['resnet1d'], 'strided ResNet-1d'),
        ('dilated_cnn', {'front_end_layers': 1}, 'dilated CNN + front end'),
        ('lstm', {'front_end_layers': 2}, 'CNN+LSTM'),
        ('lstm', {'front_end_layers': 2, 'cell': 'gru'}, 'CNN+GRU'),
        ('mi_mlp', {'front_end_layers': 1}, 'CNN+MI-MLP'),
        ('mi_mlp', {'front_end_layers': 0}, 'MI-MLP'),
    ],
)
def test_variant_labels(family, overrides, expected):
    fields = {**FAMILIES[family].defaults().to_dict(), **overrides}
    assert FAMILIES[family].label(fields) == expected
    assert variants.label(family, {'name': family, **overrides}) == expected  # sparse overrides
