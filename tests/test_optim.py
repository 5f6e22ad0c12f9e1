"""The optimiser: masked weight decay, the schedule, and hyperparameters held as state."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ecgdepth import spec as spec_lib
from ecgdepth.train import optim


def optim_config(**overrides):
    config = spec_lib.get_base_config().optim
    for key, value in overrides.items():
        config[key] = value
    return config


PARAMS = {
    'dense': {'kernel': jnp.ones((3, 2)), 'bias': jnp.ones((2,))},
    'norm': {'scale': jnp.ones((2,)), 'bias': jnp.ones((2,))},
    # A scanned layer: biases are stacked to 2-D, and must still be excluded by name.
    'scan': {'kernel': jnp.ones((4, 2, 2)), 'bias': jnp.ones((4, 2))},
}


def test_decay_mask_excludes_biases_and_norm_scales_by_name():
    mask = optim.decay_mask(PARAMS)
    assert mask == {
        'dense': {'kernel': True, 'bias': False},
        'norm': {'scale': False, 'bias': False},
        'scan': {'kernel': True, 'bias': False},
    }


@pytest.mark.parametrize('name', ['adamw', 'sgd'])
def test_weight_decay_touches_only_kernels(name):
    config = optim_config(
        name=name, weight_decay=0.5, warmup_steps=0, schedule='constant', learning_rate=0.1
    )
    tx, _ = optim.create_optimizer(config, num_steps=10)
    zero_grads = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = tx.update(zero_grads, tx.init(PARAMS), PARAMS)
    new = optax.apply_updates(PARAMS, updates)
    np.testing.assert_allclose(new['dense']['kernel'], 1 - 0.1 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(new['scan']['kernel'], 1 - 0.1 * 0.5, rtol=1e-6)
    for leaf in (
        new['dense']['bias'],
        new['norm']['scale'],
        new['norm']['bias'],
        new['scan']['bias'],
    ):
        np.testing.assert_array_equal(leaf, 1.0)


def test_warmup_then_cosine():
    config = optim_config(warmup_steps=10, schedule='cosine', final_lr_ratio=0.1)
    multiplier = optim.schedule_multiplier(config, num_steps=110)
    assert float(multiplier(0)) == 0.0
    assert float(multiplier(5)) == pytest.approx(0.5)
    assert float(multiplier(10)) == pytest.approx(1.0)
    assert float(multiplier(60)) == pytest.approx(0.55, abs=1e-6)
    assert float(multiplier(110)) == pytest.approx(0.1)


def test_gradient_clipping_bounds_the_update():
    config = optim_config(
        name='sgd',
        momentum=0.0,
        weight_decay=0.0,
        warmup_steps=0,
        schedule='constant',
        learning_rate=1.0,
        grad_clip_norm=1.0,
    )
    tx, _ = optim.create_optimizer(config, num_steps=10)
    grads = jax.tree.map(lambda p: 100.0 * jnp.ones_like(p), PARAMS)
    updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
    assert float(optax.tree.norm(updates)) == pytest.approx(1.0, rel=1e-5)


def test_learning_rate_and_weight_decay_are_state_not_constants():
    """Changing them changes the state's values but not the compiled program."""

    def lowered_update(lr, wd):
        tx, _ = optim.create_optimizer(optim_config(learning_rate=lr, weight_decay=wd), 100)
        state = tx.init(PARAMS)
        text = jax.jit(tx.update).lower(PARAMS, state, PARAMS).as_text()
        return text, state

    text_a, state_a = lowered_update(1e-3, 1e-4)
    text_b, state_b = lowered_update(3e-2, 5e-3)
    assert text_a == text_b
    assert float(state_a.hyperparams['learning_rate']) == pytest.approx(1e-3)
    assert float(state_b.hyperparams['weight_decay']) == pytest.approx(5e-3)
