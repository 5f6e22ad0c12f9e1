"""Model families: shapes, exact parameter counts (hand-derived), scan == unrolled, program size
flat in depth, exact CNN receptive field, remat, dropout and the registry."""

from __future__ import annotations

import dataclasses
import functools
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ecgdepth import findings, results, variants
from ecgdepth.models import (
    FAMILIES,
    base,
    build_model,
    count_params,
    display_name,
    get,
    lstm,
    model_fields,
    per_layer_params,
    register,
    unscan_params,
)
from ecgdepth.models.dilated_cnn import receptive_field

BATCH, TIME, CHANNELS, CLASSES, WIDTH = 2, 64, 3, 5, 8

# ---------------------------------------------------------------------------------------------
# Hand-derived parameter counts, written independently of the model code.


def cnn_count(depth, width=WIDTH, kernel_size=3, gate='none', layer_norm=False, **_):
    g = 1 if gate == 'none' else 2  # gated convs output 2 * width channels
    stem = CHANNELS * width + width  # 1x1 conv with bias
    block = kernel_size * width * (g * width) + g * width + (2 * width if layer_norm else 0)
    head = width * CLASSES + CLASSES
    return stem + depth * block + head


def rnn_cell_count(cell, n_in, h):
    if cell == 'lstm':  # 4 gates; input kernels without bias, hidden kernels with bias
        return 4 * (n_in * h + h * h + h)
    if cell == 'gru':  # ir, iz, in with bias; hr, hz without; hn with bias
        return 3 * (n_in * h + h) + 2 * (h * h) + (h * h + h)
    if cell == 'rnn':  # SimpleCell: input kernel with bias, hidden kernel without
        return n_in * h + h + h * h
    raise AssertionError(cell)


def lstm_count(depth, width=WIDTH, cell='lstm', bidirectional=False, layer_norm=False, **_):
    dirs = 2 if bidirectional else 1
    norm = 2 * dirs * width if layer_norm else 0
    first = dirs * rnn_cell_count(cell, CHANNELS, width) + norm
    rest = dirs * rnn_cell_count(cell, dirs * width, width) + norm
    head = dirs * width * CLASSES + CLASSES
    return first + (depth - 1) * rest + head


def mlp_count(
    depth, width=WIDTH, multiplicative=True, rank=8, z_source='input', pool=1, layer_norm=False, **_
):
    d = (TIME // pool) * CHANNELS

    def layer(dx, dz, out):
        n = dz * out + dx * out + out  # U, V, b
        if multiplicative:
            n += dz * rank + dx * rank + rank * out  # A, B, C
        return n + (2 * out if layer_norm else 0)

    first = layer(d, d, width)  # at layer 1, z is the input for either z_source
    rest = layer(width, d if z_source == 'input' else width, width)
    return first + (depth - 1) * rest + width * CLASSES + CLASSES


COUNTS = {'dilated_cnn': cnn_count, 'lstm': lstm_count, 'mi_mlp': mlp_count}

# ---------------------------------------------------------------------------------------------
# Cases: every family at depth 1 and 3, plus the variants.

CASES = {
    'cnn-d1': ('dilated_cnn', dict(depth=1)),
    'cnn-d3': ('dilated_cnn', dict(depth=3)),
    'cnn-d5-cycle2': ('dilated_cnn', dict(depth=5, dilation_cycle=2)),
    'cnn-d4-cycle2': ('dilated_cnn', dict(depth=4, dilation_cycle=2, readout='last')),
    'cnn-glu': ('dilated_cnn', dict(depth=3, gate='glu', dilation_cycle=2)),
    'cnn-wavenet': ('dilated_cnn', dict(depth=5, gate='wavenet', dilation_cycle=2)),
    'cnn-same': ('dilated_cnn', dict(depth=5, padding='same', dilation_cycle=2, kernel_size=4)),
    'cnn-plain': ('dilated_cnn', dict(depth=3, dilation='none', dilation_cycle=2)),
    'cnn-ln-res': ('dilated_cnn', dict(depth=5, dilation_cycle=2, layer_norm=True, residual=True)),
    'cnn-block': ('dilated_cnn', dict(depth=5, dilation_cycle=2, scan_unit='block')),
    'cnn-block-same-glu': (
        'dilated_cnn',
        dict(depth=7, scan_unit='block', padding='same', kernel_size=4, gate='glu', residual=True),
    ),
    'lstm-d1': ('lstm', dict(depth=1)),
    'lstm-d3': ('lstm', dict(depth=3)),
    'lstm-bi': ('lstm', dict(depth=3, bidirectional=True)),
    'lstm-bi-mean-ln-res': (
        'lstm',
        dict(depth=3, bidirectional=True, readout='mean', layer_norm=True, residual=True),
    ),
    'gru-d3': ('lstm', dict(depth=3, cell='gru')),
    'rnn-d3': ('lstm', dict(depth=3, cell='rnn', residual=True)),
    'mlp-d1': ('mi_mlp', dict(depth=1)),
    'mlp-d3': ('mi_mlp', dict(depth=3)),
    'mlp-additive': ('mi_mlp', dict(depth=3, multiplicative=False)),
    'mlp-zlayer': ('mi_mlp', dict(depth=3, z_source='layer', rank=3)),
    'mlp-pool-ln-res': ('mi_mlp', dict(depth=3, pool=4, layer_norm=True, residual=True)),
}


def make(family, **fields):
    fields.setdefault('width', WIDTH)
    return build_model(ml_collections.ConfigDict({'name': family, **fields}), CLASSES)


def inputs(seed=1):
    return jax.random.normal(jax.random.key(seed), (BATCH, TIME, CHANNELS), jnp.float32)


@functools.cache
def setup(case):
    """(model, variables, logits) for a case with scan=True; cached across the tests below."""
    family, fields = CASES[case]
    model = make(family, **fields)
    variables = model.init(jax.random.key(0), inputs())
    return model, variables, model.apply(variables, inputs())


@pytest.mark.parametrize('case', CASES)
def test_output_shape_and_finite(case):
    _, _, logits = setup(case)
    assert logits.shape == (BATCH, CLASSES)
    assert logits.dtype == jnp.float32
    assert np.isfinite(np.asarray(logits)).all()


@pytest.mark.parametrize('case', CASES)
def test_param_count_matches_hand_formula(case):
    family, fields = CASES[case]
    model, variables, _ = setup(case)
    expected = COUNTS[family](**fields)
    assert count_params(variables['params']) == expected
    # Same count without scan, and from shapes alone.
    unrolled = make(family, **fields, scan=False)
    shapes = jax.eval_shape(unrolled.init, jax.random.key(0), inputs())
    assert count_params(shapes) == expected


@pytest.mark.parametrize('case', CASES)
def test_scan_matches_unrolled(case):
    family, fields = CASES[case]
    model, variables, logits = setup(case)
    unrolled = make(family, **fields, scan=False)
    converted = unscan_params(model, variables)
    reference = jax.eval_shape(unrolled.init, jax.random.key(0), inputs())
    # The converted tree has exactly the unrolled model's structure and shapes...
    assert jax.tree.map(lambda a: a.shape, converted) == jax.tree.map(lambda a: a.shape, reference)
    # ...and gives the same function.
    np.testing.assert_allclose(unrolled.apply(converted, inputs()), logits, atol=1e-5, rtol=1e-5)


def test_scanned_params_stack_on_axis_0():
    model, variables, _ = setup('lstm-d3')
    kernel = variables['params']['layers']['fwd']['hi']['kernel']
    assert kernel.shape == (2, WIDTH, WIDTH)  # depth - 1 scanned layers
    converted = unscan_params(model, variables)['params']
    np.testing.assert_array_equal(converted['layer_2']['fwd']['hi']['kernel'], kernel[1])
    model, variables, _ = setup('cnn-d5-cycle2')
    params = variables['params']
    assert params['cycles']['block_1']['conv']['kernel'].shape == (2, 3, WIDTH, WIDTH)
    assert set(params['partial']) == {'block_0'}
    converted = unscan_params(model, params)  # a bare param tree works too
    np.testing.assert_array_equal(
        converted['block_3']['conv']['kernel'], params['cycles']['block_1']['conv']['kernel'][1]
    )
    np.testing.assert_array_equal(
        converted['block_4']['conv']['kernel'], params['partial']['block_0']['conv']['kernel']
    )
    model, variables, _ = setup('cnn-block')
    params = variables['params']
    assert set(params) == {'stem', 'blocks', 'head'}
    assert params['blocks']['conv']['kernel'].shape == (5, 3, WIDTH, WIDTH)  # one per block
    converted = unscan_params(model, params)
    np.testing.assert_array_equal(
        converted['block_3']['conv']['kernel'], params['blocks']['conv']['kernel'][3]
    )


@pytest.mark.parametrize('case', ['cnn-d5-cycle2', 'lstm-d3', 'mlp-d1'])
def test_per_layer_params(case):
    family, fields = CASES[case]
    model, variables, _ = setup(case)
    layers = per_layer_params(model, variables)
    assert len(layers) == fields['depth']
    unrolled = make(family, **fields, scan=False)
    assert [
        count_params(p) for p in per_layer_params(unrolled, unscan_params(model, variables))
    ] == [count_params(p) for p in layers]
    assert 'layer_prefix' not in model_fields(type(model))


# ---------------------------------------------------------------------------------------------
# Program size: the compiled program must not grow with depth.


def program_size(model):
    """Length of the lowered StableHLO text with every integer replaced by 0.

    Stacked parameter shapes (e.g. tensor<3x8x8xf32> vs tensor<63x8x8xf32>) and the loop bound
    legitimately spell depth; masking digits leaves only the program's structure.
    """
    x = jax.ShapeDtypeStruct((BATCH, TIME, CHANNELS), jnp.float32)
    params = jax.eval_shape(model.init, jax.random.key(0), x)
    text = jax.jit(lambda p, x: model.apply(p, x)).lower(params, x).as_text()
    return len(re.sub(r'\d+', '0', text))


@pytest.mark.parametrize(
    'family, fields',
    [
        ('dilated_cnn', dict(dilation_cycle=4)),
        ('dilated_cnn', dict(dilation_cycle=4, gate='wavenet', layer_norm=True, residual=True)),
        ('lstm', dict(bidirectional=True, layer_norm=True, residual=True)),
        ('mi_mlp', dict(layer_norm=True, residual=True, pool=4)),
        ('mi_mlp', dict(z_source='layer', remat=True, pool=4)),
    ],
    ids=['cnn', 'cnn-gated', 'lstm', 'mlp', 'mlp-zlayer-remat'],
)
def test_program_size_independent_of_depth(family, fields):
    assert program_size(make(family, depth=4, **fields)) == program_size(
        make(family, depth=64, **fields)
    )


def test_cnn_program_size_depends_only_on_cycle_remainder():
    # depth % 4 == 1 in both: one partial block after 1 vs 15 scanned cycles.
    assert program_size(make('dilated_cnn', depth=5, dilation_cycle=4)) == program_size(
        make('dilated_cnn', depth=61, dilation_cycle=4)
    )


@pytest.mark.parametrize('depth', [1, 3, 5, 8, 15, 17])
def test_cnn_block_scan_program_size_is_the_same_at_every_depth(depth):
    """scan_unit='block': one scanned block with a traced dilation, whole cycles or not."""
    fields = dict(scan_unit='block', remat=True, layer_norm=True, residual=True)
    assert program_size(make('dilated_cnn', depth=depth, **fields)) == program_size(
        make('dilated_cnn', depth=64, **fields)
    )


def test_program_size_check_detects_unrolled_growth():
    """Sanity check of the measure itself: without scan the program does grow with depth."""
    assert program_size(make('lstm', depth=2, scan=False)) < program_size(
        make('lstm', depth=4, scan=False)
    )


# ---------------------------------------------------------------------------------------------
# Receptive field.


def test_receptive_field_values():
    assert receptive_field(3, 4) == 1 + 2 * (1 + 2 + 4 + 8)  # 31
    assert receptive_field(3, 4, 'exponential', 8) == 31
    assert receptive_field(3, 10, 'none') == 1 + 2 * 10
    assert receptive_field(2, 6, 'exponential', 3) == 1 + (1 + 2 + 4) * 2  # 15
    assert receptive_field(5, 9, 'exponential', 8) == 1 + 4 * (255 + 1)
    assert receptive_field(3, 0) == 1
    cnn = make('dilated_cnn', depth=6, kernel_size=2, dilation_cycle=3)
    assert cnn.receptive_field_samples == 15
    with pytest.raises(ValueError, match='dilation'):
        receptive_field(3, 4, 'linear')


@pytest.mark.parametrize(
    'fields',
    [
        dict(depth=4, kernel_size=3),  # 31: one partial unit of the default cycle 8
        dict(depth=6, kernel_size=2, dilation_cycle=3),  # 15: two scanned cycles
        dict(depth=5, kernel_size=3, dilation_cycle=2, gate='wavenet', residual=True),  # 13
        dict(depth=5, kernel_size=3, dilation='none', scan=False),  # 11
    ],
    ids=['k3-d4', 'k2-d6-cycle3', 'wavenet-residual', 'plain-unrolled'],
)
def test_causal_gradient_support_equals_receptive_field(fields):
    model = make('dilated_cnn', readout='last', padding='causal', **fields)
    rf = model.receptive_field_samples
    assert rf == receptive_field(
        fields['kernel_size'],
        fields['depth'],
        fields.get('dilation', 'exponential'),
        fields.get('dilation_cycle', 8),
    )
    x = inputs()
    variables = model.init(jax.random.key(3), x)
    grad = jax.grad(lambda x: model.apply(variables, x)[0].sum())(x)
    support = np.abs(np.asarray(grad[0])).sum(axis=-1)  # (time,) for batch element 0
    assert (support[: TIME - rf] == 0).all()
    assert np.flatnonzero(support).min() == TIME - rf
    assert (np.asarray(grad[1]) == 0).all()  # batch elements do not mix


# ---------------------------------------------------------------------------------------------
# Remat, dropout, registry.

REMAT_CASES = ['cnn-d5-cycle2', 'lstm-d3', 'mlp-d3']


@pytest.mark.parametrize('case', REMAT_CASES)
def test_remat_same_outputs(case):
    family, fields = CASES[case]
    _, variables, logits = setup(case)
    for scan in (True, False):
        model = make(family, **fields, scan=scan, remat=True)
        params = variables if scan else unscan_params(setup(case)[0], variables)
        np.testing.assert_allclose(model.apply(params, inputs()), logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('case', REMAT_CASES)
def test_dropout(case):
    family, fields = CASES[case]
    model = make(family, **{**fields, 'dropout': 0.5})
    x = inputs()
    variables = model.init(jax.random.key(0), x)

    apply = jax.jit(model.apply, static_argnames='train')

    def run(seed):
        return np.asarray(apply(variables, x, train=True, rngs={'dropout': jax.random.key(seed)}))

    assert not np.allclose(run(1), run(2))
    np.testing.assert_array_equal(run(1), run(1))
    # Evaluation needs no dropout rng, is deterministic and ignores the rate.
    eval_a = apply(variables, x)
    np.testing.assert_array_equal(eval_a, apply(variables, x, train=False))
    no_dropout = make(family, **fields)
    np.testing.assert_allclose(eval_a, no_dropout.apply(variables, x), atol=1e-6)


def test_build_model_unknown_name():
    with pytest.raises(ValueError, match='transformer') as info:
        make('transformer', depth=2)
    for name in FAMILIES:
        assert name in str(info.value)


def test_build_model_passes_fields_through():
    model = make('dilated_cnn', depth=7, kernel_size=5, gate='glu', dilation_cycle=3)
    assert (model.depth, model.kernel_size, model.gate, model.dilation_cycle) == (7, 5, 'glu', 3)
    assert model.num_classes == CLASSES
    with pytest.raises(ValueError, match='bogus'):
        make('lstm', depth=2, bogus=1)


def test_every_family_spec_names_its_module_fields():
    """Defaults, validation rules and the flax module's fields agree for every family."""
    for name, family in FAMILIES.items():
        assert family.name == name
        assert register(family) is family  # The same spec again: a no-op that re-runs the checks.
        assert issubclass(family.module, base.Model)
        assert set(family.config_rules()) == {'name', *model_fields(family.module)}
        assert set(family.defaults().keys()) == set(family.config_rules())
    assert FAMILIES['lstm'].rules['cell'][2] == "one of 'lstm', 'gru', 'rnn'"  # From lstm.CELLS.


def test_get_and_register_errors():
    with pytest.raises(ValueError, match=r"'transformer' is not a model family; choose one of"):
        get('transformer')
    with pytest.raises(ValueError, match="'lstm' is already registered"):
        register(dataclasses.replace(FAMILIES['lstm']))  # An equal spec, but another one.

    def defaults():
        config = lstm.default_config()
        config.name = 'lstm_copy'
        return config

    rules = {k: v for k, v in FAMILIES['lstm'].rules.items() if k != 'cell'}
    copy = dataclasses.replace(FAMILIES['lstm'], name='lstm_copy', defaults=defaults, rules=rules)
    with pytest.raises(ValueError, match=r"rules name .* but StackedLSTM has fields .*'cell'"):
        register(copy)
    assert 'lstm_copy' not in FAMILIES
    with pytest.raises(TypeError, match='models.Family'):
        register(FAMILIES['lstm'].module)


def test_display_names_come_from_the_specs():
    assert [display_name(n) for n in FAMILIES] == ['Dilated CNN', 'LSTM', 'MI-MLP']
    assert display_name('not_registered') == 'not_registered'


# (family, config.model overrides, its variant label): every registered family's variants.
VARIANT_LABELS = [
    ('dilated_cnn', {}, 'dilated CNN'),
    ('dilated_cnn', {'dilation': 'none'}, 'plain CNN'),
    ('dilated_cnn', {'gate': 'glu'}, 'gated CNN'),
    ('dilated_cnn', {'gate': 'wavenet', 'dilation': 'none'}, 'gated CNN'),
    ('lstm', {}, 'LSTM'),
    ('lstm', {'cell': 'gru'}, 'GRU'),
    ('lstm', {'cell': 'rnn'}, 'tanh RNN'),
    ('mi_mlp', {}, 'MI-MLP'),
    ('mi_mlp', {'multiplicative': False}, 'additive MLP'),
]


def findings_variant(model_fields: dict, summary: dict | None = None) -> str:
    """findings.variant of a trial whose config.model is `model_fields`."""
    trial = results.TrialResult(0, 'trial0', {}, 'done', summary=summary)
    config = {f'model.{k}': v for k, v in model_fields.items()}
    return findings.variant(findings.Obs(trial, config, workdir=''))


def test_every_family_labels_its_variants_and_findings_agree_without_a_summary():
    assert {name for name, _, _ in VARIANT_LABELS} == set(FAMILIES)
    for name, overrides, expected in VARIANT_LABELS:
        fields = {**FAMILIES[name].defaults().to_dict(), **overrides}
        assert FAMILIES[name].label(fields) == expected, (name, overrides)
        assert FAMILIES[name].variant is variants.LABELS[name]  # Declared once, flax-free.
        # The fallback for summaries that record none: full configs and sparse overrides.
        assert findings_variant(fields) == expected, (name, overrides)
        assert findings_variant({'name': name, **overrides}) == expected, (name, overrides)
    assert findings_variant({'name': 'not_registered'}) == 'not_registered'
    # A family declaring no label is labelled by its display name.
    other = dataclasses.replace(FAMILIES['lstm'], name='lstm_other', variant=None)
    assert other.label({'name': 'lstm_other', 'cell': 'gru'}) == 'LSTM'


def test_findings_prefer_the_variant_summary_json_records():
    fields = {'name': 'lstm', 'cell': 'gru'}
    assert findings_variant(fields, summary={'status': 'done', 'variant': 'my GRU'}) == 'my GRU'
    assert findings_variant(fields, summary={'status': 'done'}) == 'GRU'


def test_families_answer_receptive_field_flops_and_capabilities():
    cnn = make('dilated_cnn', depth=6, kernel_size=2, dilation_cycle=3)
    assert cnn.receptive_field(125.0, 500) == {'receptive_field': 15, 'receptive_field_s': 0.12}
    for family in ('lstm', 'mi_mlp'):  # One layer already reads the whole window.
        whole = make(family, depth=3).receptive_field(250.0, 500)
        assert whole == {'receptive_field': 500, 'receptive_field_s': 2.0}
    assert cnn.flops(TIME, CHANNELS) is None  # No analytic count: XLA's cost analysis counts.
    assert make('mi_mlp', depth=2).flops(TIME, CHANNELS) is None
    assert make('lstm', depth=2).flops(TIME, CHANNELS) > 0
    capable = {name for name, f in FAMILIES.items() if f.module.perturbs_layer_inputs}
    assert capable == {'lstm'}


@pytest.mark.parametrize(
    'family, field, value',
    [
        ('dilated_cnn', 'gate', 'relu'),
        ('dilated_cnn', 'padding', 'valid'),
        ('dilated_cnn', 'dilation', 'linear'),
        ('dilated_cnn', 'readout', 'max'),
        ('lstm', 'cell', 'mgu'),
        ('lstm', 'readout', 'first'),
        ('mi_mlp', 'z_source', 'hidden'),
    ],
)
def test_unknown_choice_names_field(family, field, value):
    with pytest.raises(ValueError, match=rf'{field}.*{value}'):
        make(family, depth=2, **{field: value})


# ---------------------------------------------------------------------------------------------
# Padding masks and side features.

MASK_CASES = {
    'cnn-causal-mean': ('dilated_cnn', dict(depth=3, dilation_cycle=2, residual=True)),
    'cnn-same-last-ln': (
        'dilated_cnn',
        dict(depth=3, padding='same', readout='last', layer_norm=True),
    ),
    'lstm-last': ('lstm', dict(depth=2)),
    'lstm-bi-mean': ('lstm', dict(depth=3, bidirectional=True, readout='mean', residual=True)),
    'lstm-bi-last': ('lstm', dict(depth=2, bidirectional=True, cell='gru')),
    'mlp': ('mi_mlp', dict(depth=2, pool=4)),
}
LENGTHS = jnp.array([40, 64])  # Example 0 is padded after step 40; example 1 is full.


def padded_inputs(fill):
    x = inputs()
    mask = jnp.arange(TIME)[None, :] < LENGTHS[:, None]
    return jnp.where(mask[..., None], x, fill), mask


@pytest.mark.parametrize('case', list(MASK_CASES))
def test_padding_is_never_seen_as_signal(case):
    """With a mask, whatever fills the padding leaves the logits unchanged."""
    family, fields = MASK_CASES[case]
    model = make(family, **fields)
    x_zero, mask = padded_inputs(0.0)
    x_junk, _ = padded_inputs(7.0)
    variables = model.init(jax.random.key(0), x_zero, mask=mask)
    apply = jax.jit(lambda x, m: model.apply(variables, x, mask=m))
    np.testing.assert_allclose(apply(x_zero, mask), apply(x_junk, mask), atol=1e-5, rtol=1e-5)
    # Without the mask the junk does change the output: the test can fail.
    unmasked = jax.jit(lambda x: model.apply(variables, x, mask=jnp.ones_like(mask)))
    assert not np.allclose(unmasked(x_zero), unmasked(x_junk), atol=1e-4)


@pytest.mark.parametrize('case', [c for c in MASK_CASES if not c.startswith('mlp')])
def test_an_all_true_mask_equals_no_mask(case):
    family, fields = MASK_CASES[case]
    model = make(family, **fields)
    variables = model.init(jax.random.key(0), inputs())
    full = jnp.ones((BATCH, TIME), bool)
    np.testing.assert_allclose(
        model.apply(variables, inputs(), mask=full),
        model.apply(variables, inputs()),
        atol=1e-5,
        rtol=1e-5,
    )


@pytest.mark.parametrize('family', ['dilated_cnn', 'lstm', 'mi_mlp'])
def test_side_features_reach_the_output(family):
    model = make(family, depth=2, pool=4) if family == 'mi_mlp' else make(family, depth=2)
    features = jnp.ones((BATCH, 3))
    variables = model.init(jax.random.key(0), inputs(), features=features)
    plain = model.init(jax.random.key(0), inputs())
    # CNN/LSTM: 3 more head inputs. MI-MLP (rank 8): features widen the flattened input x and
    # z, so layer 1's U, V, A, B and layer 2's U, A (z broadcast) each grow by 3 rows.
    extra = 3 * (3 * WIDTH + 3 * 8) if family == 'mi_mlp' else 3 * CLASSES
    assert count_params(variables) - count_params(plain) == extra
    out_a = model.apply(variables, inputs(), features=features)
    out_b = model.apply(variables, inputs(), features=2 * features)
    assert out_a.shape == (BATCH, CLASSES)
    assert not np.allclose(out_a, out_b)


def test_lstm_forget_gates_start_at_forget_bias_and_other_biases_at_zero():
    """Only the forget gates' biases move (every layer, scanned or not); other cells keep flax's."""
    x = jnp.zeros((1, 5, 1))
    for scan in (True, False):
        model = FAMILIES['lstm'].module(num_classes=2, depth=3, width=4, scan=scan, forget_bias=1.5)
        params = model.init(jax.random.key(0), x)['params']
        unrolled = model.unscan_params(params)
        for i in range(3):
            cell = unrolled[f'layer_{i}']['fwd']
            assert np.all(cell['hf']['bias'] == 1.5)
            assert all(np.all(cell[g]['bias'] == 0) for g in ('hi', 'hg', 'ho'))
    gru = FAMILIES['lstm'].module(num_classes=2, depth=1, width=4, cell='gru', forget_bias=1.5)
    plain = FAMILIES['lstm'].module(num_classes=2, depth=1, width=4, cell='gru', forget_bias=0.0)
    same = jax.tree_util.tree_map(
        lambda a, b: bool(np.all(a == b)),
        gru.init(jax.random.key(0), x),
        plain.init(jax.random.key(0), x),
    )
    assert all(jax.tree_util.tree_leaves(same))


@pytest.mark.parametrize('family', ['dilated_cnn', 'lstm'])
def test_a_hidden_feature_layer_lets_the_head_combine_side_features(family):
    """XOR of two side features (one signal for all): a linear head cannot fit it, the head
    behind `feature_hidden` units can. Its parameters are 'features' (F, H)."""
    import optax

    rng = np.random.default_rng(0)
    z = rng.choice([-1.0, 1.0], size=(64, 2)).astype(np.float32)
    y = jnp.asarray((z[:, 0] * z[:, 1] > 0).astype(np.int32))
    x = jnp.ones((64, 8, 1))

    def fitted_accuracy(hidden):
        model = make(family, depth=1, width=4, feature_hidden=hidden)
        params = model.init(jax.random.key(0), x, features=z)['params']
        if hidden:
            assert params['features']['kernel'].shape == (2, hidden)
        else:
            assert 'features' not in params
        tx = optax.adam(3e-2)

        def loss(p):
            logits = model.apply({'params': p}, x, features=z)
            return optax.softmax_cross_entropy_with_integer_labels(logits[:, :2], y).mean()

        @jax.jit
        def step(p, s):
            g = jax.grad(loss)(p)
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s

        state = tx.init(params)
        for _ in range(300):
            params, state = step(params, state)
        logits = model.apply({'params': params}, x, features=z)
        return float((jnp.argmax(logits[:, :2], -1) == y).mean())

    assert fitted_accuracy(16) == 1.0
    assert fitted_accuracy(0) < 0.9


def test_lstm_flops_count_the_hidden_feature_layer():
    model = make('lstm', depth=1, width=4, feature_hidden=6, scan=False)
    one = jax.ShapeDtypeStruct((1, 1, 2), jnp.float32)
    features = jax.ShapeDtypeStruct((1, 3), jnp.float32)
    params = jax.eval_shape(model.init, jax.random.key(0), one, features=features)['params']
    xla = jax.jit(
        lambda p: model.apply({'params': p}, jnp.ones((1, 1, 2)), features=jnp.ones((1, 3)))
    )
    cost = xla.lower(params).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert model.flops(1, 2, features=3) == pytest.approx(cost['flops'], rel=0.01)
    assert model.flops(1, 2, features=3) > make('lstm', depth=1, width=4).flops(1, 2, features=3)
