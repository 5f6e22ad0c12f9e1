"""Data parallelism on one host: a run sharded over 8 CPU devices matches a run on one.

The device count is fixed when JAX starts, so each run is a subprocess: this file run as a script
(`python tests/test_sharding.py WORKDIR OVERRIDES_JSON`) trains the small config once and dumps
its final parameters from the last checkpoint.
"""

import functools
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO
from jax.sharding import Mesh
from test_train import get_config, small_config

from ecgdepth import data as data_lib
from ecgdepth import models
from ecgdepth import workdir as workdir_lib
from ecgdepth.train import optim
from ecgdepth.train import state as state_lib
from ecgdepth.train import step as step_lib

TIMING = {'steps_per_s', 'wall_time_s'}
NUM_STEPS = 10


def sharding_config(data_dir=''):
    """Tiny and quick; class weights and label smoothing, so the global normalisation counts."""
    config = small_config('lstm', 2, data_dir)
    config.loss.class_weights = 'balanced'
    config.loss.label_smoothing = 0.1
    config.data.num_train = 128
    config.train.batch_size = 32
    config.train.num_steps = NUM_STEPS
    config.train.eval_every = 5
    config.train.checkpoint_every = NUM_STEPS
    config.train.eval_batch_size = 20  # Rounded up to 24 on 8 devices: more padding rows.
    return config


def _script(workdir: str, overrides: str) -> None:
    """The subprocess: train, then dump the final parameters as workdir/params.npz."""
    import orbax.checkpoint as ocp

    from ecgdepth.train import loop

    print(f'DEVICES={jax.device_count()}', flush=True)
    config = sharding_config()
    config.update_from_flattened_dict(json.loads(overrides))
    loop.train_and_evaluate(config, workdir)
    path = os.path.join(workdir, 'checkpoints', str(NUM_STEPS), 'arrays')
    params = ocp.StandardCheckpointer().restore(path)['state']['params']
    flat = jax.tree_util.tree_leaves_with_path(params)
    np.savez(
        os.path.join(workdir, 'params.npz'),
        **{jax.tree_util.keystr(k): np.asarray(v) for k, v in flat},
    )


def start(workdir, data_dir, devices, **overrides) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS='cpu', ECGDEPTH_DATA_DIR=data_dir)
    flag = f'--xla_force_host_platform_device_count={devices}'
    env['XLA_FLAGS'] = f'{env.get("XLA_FLAGS", "")} {flag}'.strip()
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), str(workdir), json.dumps(overrides)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process) -> str:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return stdout


@pytest.fixture(scope='module')
def prepared(data_dir):
    """The data generated once here, so that concurrent subprocesses only read it."""
    data_lib.load(sharding_config(data_dir).data)
    return data_dir


def comparable(workdir):
    summary = workdir_lib.read_summary(workdir).to_dict()
    return {k: v for k, v in summary.items() if k not in TIMING}


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, where='summary'):
    """Equal structure and strings; numbers equal to float tolerance (reduction order)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual) == sorted(expected), where
        for key in expected:
            assert_close(actual[key], expected[key], rtol, atol, f'{where}.{key}')
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, rtol, atol, f'{where}[{i}]')
    elif isinstance(expected, float) or isinstance(actual, float):
        assert actual == pytest.approx(expected, rel=rtol, abs=atol), where
    else:
        assert actual == expected, where


def test_eight_devices_train_like_one(prepared, tmp_path):
    one, eight, dropout = tmp_path / 'one', tmp_path / 'eight', tmp_path / 'dropout'
    processes = [
        start(one, prepared, 1),
        start(eight, prepared, 8),
        start(dropout, prepared, 8, **{'model.dropout': 0.5}),
    ]
    assert 'DEVICES=1' in finish(processes[0])
    assert 'DEVICES=8' in finish(processes[1])
    assert 'DEVICES=8' in finish(processes[2])

    expected, actual = comparable(one), comparable(eight)
    assert actual['status'] == expected['status'] == 'done'
    assert actual['final_train']['loss'] > 0 and actual['val']['confusion']
    assert_close(actual, expected)

    expected_params, actual_params = np.load(one / 'params.npz'), np.load(eight / 'params.npz')
    assert sorted(actual_params) == sorted(expected_params) and len(expected_params) > 0
    for name in expected_params:
        np.testing.assert_allclose(
            actual_params[name], expected_params[name], rtol=1e-5, atol=1e-6, err_msg=name
        )

    # Dropout: each device draws its own masks, so not the same numbers, but a sound run.
    with_dropout = comparable(dropout)
    assert with_dropout['status'] == 'done'
    assert np.isfinite(with_dropout['final_train']['loss'])
    assert with_dropout['final_train']['loss'] != pytest.approx(expected['final_train']['loss'])


def test_data_parallel_gradients_are_the_gradients_of_the_global_loss():
    """The shard_map path's normalisation (class weights, smoothing), here on one device."""
    config = get_config('lstm', 'depth=2,width=8')
    model = models.build_model(config.model, num_classes=3)
    tx, _ = optim.create_optimizer(config.optim, num_steps=10)
    rng = np.random.default_rng(0)
    batch = {
        'x': jnp.asarray(rng.normal(size=(8, 16, 1)), jnp.float32),
        'y': jnp.asarray(rng.integers(0, 3, 8), jnp.int32),
    }
    state = state_lib.create_train_state(model, tx, batch, jax.random.PRNGKey(0))
    spec = step_lib.LossSpec(3, label_smoothing=0.1, class_weights=(1.0, 2.5, 0.5))
    mesh = Mesh(np.array(jax.devices()[:1]), ('data',))
    key = jax.random.PRNGKey(1)
    loss, accuracy, grads = jax.jit(
        lambda s, b: step_lib.data_parallel_grads(s, b, key, spec, mesh)
    )(state, batch)

    def loss_fn(params):
        logits = model.apply({'params': params}, batch['x'], train=True)
        return step_lib.cross_entropy(logits, batch['y'], spec), logits

    (expected_loss, logits), expected_grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params
    )
    assert float(loss) == pytest.approx(float(expected_loss), rel=1e-6)
    assert float(accuracy) == pytest.approx(float((logits.argmax(-1) == batch['y']).mean()))
    assert jax.tree.structure(grads) == jax.tree.structure(expected_grads)
    for path, actual in jax.tree_util.tree_leaves_with_path(grads):
        expected = functools.reduce(lambda tree, key: tree[key.key], path, expected_grads)
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-7, err_msg=str(path))


def test_a_batch_that_does_not_divide_over_the_devices_is_refused(prepared, tmp_path):
    process = start(tmp_path / 'run', prepared, 8, **{'train.batch_size': 20})
    _, stderr = process.communicate(timeout=300)
    assert process.returncode != 0
    assert (
        'config.train.batch_size (20) must be divisible by the number of data-parallel '
        'devices, 8' in stderr
    ), stderr[-3000:]
    assert not os.path.exists(tmp_path / 'run')  # Refused before anything is written.


if __name__ == '__main__':
    _script(*sys.argv[1:])
