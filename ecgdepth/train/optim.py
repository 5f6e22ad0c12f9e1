"""The optimiser from config: adamw or sgd+momentum, warmup + cosine, masked decay, clipping.

Learning rate and weight decay are injected hyperparameters: they live in the optimiser state as
arrays, so a sweep over them reuses one compiled step (and could vmap over them).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

# Leaves with these names are never decayed: biases and LayerNorm scales.
NO_DECAY_NAMES = frozenset({'bias', 'scale'})


def decay_mask(params):
    """True for the leaves weight decay applies to (kernels), False for biases and norm scales."""

    def keep(path, _):
        last = path[-1]
        name = getattr(last, 'key', getattr(last, 'name', None))
        return name not in NO_DECAY_NAMES

    return jax.tree_util.tree_map_with_path(keep, params)


def schedule_multiplier(optim: ml_collections.ConfigDict, num_steps: int) -> optax.Schedule:
    """A schedule peaking at 1.0; the peak learning rate multiplies it (and is injectable)."""
    warmup = optim.warmup_steps
    if optim.schedule == 'constant':
        if warmup == 0:
            return optax.constant_schedule(1.0)
        return optax.linear_schedule(0.0, 1.0, warmup)
    if optim.schedule == 'cosine':
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=1.0,
            warmup_steps=warmup,
            decay_steps=max(num_steps, warmup + 1),
            end_value=optim.final_lr_ratio,
        )
    raise ValueError(f'config.optim.schedule {optim.schedule!r} is not one of cosine, constant.')


def create_optimizer(
    optim: ml_collections.ConfigDict, num_steps: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """Returns the optimiser and its (peak-normalised) schedule, for logging the current lr."""
    multiplier = schedule_multiplier(optim, num_steps)
    clip = float(optim.grad_clip_norm)

    def make(learning_rate, weight_decay):
        parts = [optax.clip_by_global_norm(clip)] if clip > 0 else []
        if optim.name == 'adamw':
            parts += [
                optax.scale_by_adam(b1=optim.b1, b2=optim.b2),
                optax.add_decayed_weights(weight_decay, mask=decay_mask),
            ]
        elif optim.name == 'sgd':
            parts += [
                optax.add_decayed_weights(weight_decay, mask=decay_mask),
                optax.trace(decay=optim.momentum),
            ]
        else:
            raise ValueError(f'config.optim.name {optim.name!r} is not one of adamw, sgd.')
        parts += [optax.scale_by_schedule(multiplier), optax.scale(-1.0 * learning_rate)]
        return optax.chain(*parts)

    tx = optax.inject_hyperparams(make)(
        learning_rate=jnp.float32(optim.learning_rate), weight_decay=jnp.float32(optim.weight_decay)
    )
    return tx, multiplier


def current_learning_rate(opt_state, multiplier: optax.Schedule, step):
    """The learning rate the step at `step` uses: injected peak times the schedule."""
    return opt_state.hyperparams['learning_rate'] * multiplier(step)
