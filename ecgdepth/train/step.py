"""The one train step and the matching eval step, shared unchanged by every model family."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

from ecgdepth.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Static loss settings (hashable, so they can be closed over by jit)."""

    num_classes: int
    label_smoothing: float = 0.0
    class_weights: tuple[float, ...] | None = None


def cross_entropy(logits, labels, spec: LossSpec):
    """Mean (optionally class-weighted, label-smoothed) softmax cross-entropy."""
    targets = jax.nn.one_hot(labels, spec.num_classes, dtype=logits.dtype)
    if spec.label_smoothing:
        targets = optax.smooth_labels(targets, spec.label_smoothing)
    losses = optax.softmax_cross_entropy(logits, targets)
    if spec.class_weights is None:
        return losses.mean()
    weights = jnp.asarray(spec.class_weights, logits.dtype)[labels]
    return (weights * losses).sum() / jnp.maximum(weights.sum(), 1e-12)


def model_inputs(batch: dict) -> dict:
    """The optional model inputs a batch carries: the padding mask and side features."""
    return {key: batch[key] for key in ('mask', 'features') if key in batch}


def train_step(state: TrainState, batch: dict, *, loss_spec: LossSpec):
    """One optimiser update. Pure: (state, batch) -> (state, metrics); metrics stay on device."""
    dropout_rng = jax.random.fold_in(state.rng, state.step)

    def loss_fn(params):
        logits = state.apply_fn(
            {'params': params},
            batch['x'],
            train=True,
            rngs={'dropout': dropout_rng},
            **model_inputs(batch),
        )
        return cross_entropy(logits, batch['y'], loss_spec), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        'loss': loss,
        'accuracy': (logits.argmax(-1) == batch['y']).mean(),
        'grad_norm': optax.tree.norm(grads),
        'param_norm': optax.tree.norm(params),
    }
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics


def eval_step(params, apply_fn, batch: dict, num_classes: int):
    """Sums over one batch: cross-entropy (unweighted, unsmoothed) and the confusion matrix.

    `batch['valid']` marks real examples; rows that only pad the split to whole batches
    contribute nothing.
    """
    logits = apply_fn({'params': params}, batch['x'], train=False, **model_inputs(batch))
    valid = batch['valid'].astype(jnp.float32)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch['y'])
    predictions = logits.argmax(-1)
    # confusion[true, predicted]
    confusion = (
        jnp.zeros((num_classes, num_classes), jnp.float32).at[batch['y'], predictions].add(valid)
    )
    return {'loss_sum': (losses * valid).sum(), 'count': valid.sum(), 'confusion': confusion}
