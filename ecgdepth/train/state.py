"""The training state: step, parameters, optimiser state and the RNG, in one donated pytree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

# What a model reads besides 'x', where a batch has them: the padding mask and side features
# (not the labels, nor the recording a window belongs to).
MODEL_INPUTS = ('mask', 'features')


class TrainState(struct.PyTreeNode):
    """Everything a step reads and writes. `apply_fn` and `tx` are static (not traced)."""

    step: jax.Array
    params: Any
    opt_state: optax.OptState
    rng: jax.Array  # Folded with the step inside the step: dropout differs per step, reproducibly.
    apply_fn: Callable = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)


def create_train_state(
    model: nn.Module,
    tx: optax.GradientTransformation,
    example: dict,
    rng: jax.Array,
    sharding: jax.sharding.Sharding | None = None,
    stacked: bool = False,
) -> TrainState:
    """Initialises parameters and optimiser state inside one jit, shapes first via eval_shape.

    `example` is a batch (any batch size) of the arrays the model reads: 'x' and, where the data
    has them, 'mask' and 'features' (side features change the head's parameter shapes).
    `sharding` (e.g. replicated over the data mesh) places every leaf of the state as it is
    created, so no device ever holds an unplaced copy; None keeps jit's default device.
    `stacked`: `rng` holds one key per seed (a leading axis), and so does every leaf of the
    state: member k is exactly the state `rng[k]` alone would give (vmapped seeds).
    """
    # Host constants, not device arrays: a jit over devices of several processes can embed them.
    example = {key: np.asarray(example[key][:1]) for key in ('x', *MODEL_INPUTS) if key in example}

    def init(rng):
        params_rng, state_rng = jax.random.split(rng)
        inputs = {key: value for key, value in example.items() if key != 'x'}
        params = model.init({'params': params_rng}, example['x'], train=False, **inputs)['params']
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=tx.init(params),
            rng=state_rng,
            apply_fn=model.apply,
            tx=tx,
        )

    if stacked:
        init = jax.vmap(init)
    # eval_shape costs no FLOPs: a bad model config fails here before anything is allocated.
    shapes = jax.eval_shape(init, rng)
    if sharding is None:
        return jax.jit(init)(rng)
    return jax.jit(init, out_shardings=jax.tree.map(lambda _: sharding, shapes))(rng)
