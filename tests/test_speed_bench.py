"""benchmarks/speed.py: its smoke path runs and reports, on tiny sizes (no timing asserted)."""

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import load_script

from ecgdepth import models
from ecgdepth import spec as spec_lib

speed = load_script('benchmarks/speed.py')  # A script: it puts the repo root on its own path.
levers = speed.levers


def test_quick_run_writes_the_expected_tables(tmp_path):
    out = tmp_path / 'speed.md'
    text = speed.main(
        [
            '--quick',
            '--no_torch',
            '--families=mi_mlp',
            '--sections=step,compile',
            '--rounds=1',
            '--warmup=0',
            '--depths=1,2',
            f'--out={out}',
        ]
    )
    assert out.read_text() == text
    for heading in ('## Train step', '## Compile time against depth', '## Memory', '## Targets'):
        assert heading in text
    assert 'matmul peak' in text
    rows = [line for line in text.splitlines() if line.startswith('| mi_mlp |')]
    assert len(rows) == 4  # step, compile, memory without and with remat
    assert '| mi_mlp: compile time, deepest / shallowest |' in text


def test_a_missing_torch_names_the_requirements_file(monkeypatch):
    monkeypatch.setitem(sys.modules, 'torch', None)  # import torch -> ImportError
    with pytest.raises(SystemExit, match='benchmarks/requirements.txt'):
        speed.main(['--quick', '--families=mi_mlp'])


def test_analytic_lstm_flops_match_xla_on_a_time_unrolled_step():
    """XLA counts a loop body once, so it sees every time step only when the loop is unrolled."""
    steps, batch = 8, 4
    with levers.lstm_time_unroll(steps):
        mine = speed.JaxStep('lstm', 'depth=2,width=16', steps, batch)
        xla = mine.cost_flops()
    analytic = speed.lstm_flops(mine.config, steps, batch)
    # The analytic count leaves out gate maths, the head and the optimiser.
    assert 0.7 * xla < analytic <= xla


LEVERS = [
    (family, name)
    for family, name, _, _ in levers.LEVERS
    if not name.startswith(('ecgdepth', 'nn.RNN')) and 'precision' not in name
]
X = jax.random.normal(jax.random.PRNGKey(0), (2, 6, 1))
MASK = jnp.arange(6)[None] < jnp.array([[6], [4]])


def tiny_model(family: str, overrides: str = ''):
    spec = 'depth=2,width=4,bidirectional=true' if family == 'lstm' else 'depth=3,width=4'
    spec += ',padding=same,dilation_cycle=2,layer_norm=true' if family != 'lstm' else ''
    config = spec_lib.family_config(family, ','.join(filter(None, [spec, overrides])))
    return models.build_model(config.model, 3)


def loss_and_grad_norm(model, params):
    def both(p):  # A new function each call: traced afresh, under the lever's context.
        loss = lambda p: (model.apply({'params': p}, X, mask=MASK) ** 2).sum()  # noqa: E731
        value, grads = jax.value_and_grad(loss)(p)
        return value, optax.tree.norm(grads)

    options = dict(levers.compiler_options) or None  # A lever's XLA options, if any.
    return tuple(
        float(v) for v in jax.jit(both).lower(params).compile(compiler_options=options)(params)
    )


@functools.cache
def reference(family: str):
    """ecgdepth's own code: (params, (loss, gradient norm))."""
    model = tiny_model(family)
    params = jax.jit(lambda: model.init(jax.random.PRNGKey(1), X, mask=MASK))()['params']
    return params, loss_and_grad_norm(model, params)


@pytest.mark.parametrize(('family', 'variant'), LEVERS)
def test_a_lever_computes_what_the_model_computes(family, variant):
    """Same loss and gradient norm as ecgdepth's own code, from the same (renamed) parameters."""
    context, overrides = next(
        (c, o) for f, name, c, o in levers.LEVERS if (f, name) == (family, variant)
    )
    reference_params, expected = reference(family)
    unrolled_reference = dict(models.unscan_params(tiny_model(family), reference_params))
    with context():
        model = tiny_model(family, overrides)  # Built inside: a lever may swap the class.
        shapes = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(1), X, mask=MASK))['params']
        if family == 'lstm':
            params = renamed_lstm_params(reference_params, shapes)
        elif not model.scan:  # Same names, unrolled.
            params = unrolled_reference
        elif model.scan_unit == 'block':  # Same names, stacked over all blocks.
            blocks = [unrolled_reference.pop(f'block_{i}') for i in range(model.depth)]
            params = unrolled_reference | {'blocks': jax.tree.map(lambda *a: jnp.stack(a), *blocks)}
        else:  # Same names, same form.
            params = reference_params
        if family != 'lstm':
            assert jax.tree.map(jnp.shape, params) == jax.tree.map(lambda a: a.shape, shapes)
        got = loss_and_grad_norm(model, params)
    np.testing.assert_allclose(got, expected, rtol=2e-4)


def renamed_lstm_params(reference, variant):
    """Maps each layer's 'fwd'/'bwd' cell params onto a variant that names them otherwise."""

    def move(ref_layer, var_layer):
        out = {}
        ref_cells = [ref_layer[k] for k in ('fwd', 'bwd') if k in ref_layer]
        var_cells = sorted((k for k in var_layer if k != 'norm'), key=lambda k: (k == 'bwd', k))
        for name, cell in zip(var_cells, ref_cells, strict=True):
            assert set(cell) == set(var_layer[name]), (set(cell), set(var_layer[name]))
            out[name] = cell
        return out | {k: v for k, v in ref_layer.items() if k not in ('fwd', 'bwd')}

    return {k: (move(v, variant[k]) if k != 'head' else v) for k, v in reference.items()}


def test_paired_ratio_is_the_median_of_per_round_ratios():
    assert speed.paired_ratio([2.0, 9.0, 4.0], [1.0, 3.0, 1.0]) == 3.0
