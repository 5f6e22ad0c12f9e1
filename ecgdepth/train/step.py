"""The one train step and the matching eval step, shared unchanged by every model family.

Data parallel over several devices, the step computes each device's gradient on its block of the
batch inside `jax.shard_map` and sums the gradients once (ecgdepth/distributed.py has the mesh).
Left to XLA's partitioner alone, the weight gradient of a recurrent layer is all-reduced at every
time step of the backward scan: a 2-layer LSTM over 250 samples, split over two processes, ran
at 1 step/s instead of 18.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from ecgdepth.train.state import MODEL_INPUTS, TrainState


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """Static loss settings (hashable, so they can be closed over by jit).

    `task` 'regression' makes the loss the squared error of the model's one output (its
    `num_classes` is 1) against real-valued targets: the same step, branching at trace time.
    """

    num_classes: int
    label_smoothing: float = 0.0
    class_weights: tuple[float, ...] | None = None
    task: str = 'classification'

    @property
    def score_name(self) -> str:
        """The per-step metric logged beside the loss: accuracy, or MAE for regression."""
        return 'mae' if self.task == 'regression' else 'accuracy'


def example_losses(logits, labels, spec: LossSpec):
    """Per-example (optionally label-smoothed) softmax cross-entropy; squared error for
    regression."""
    if spec.task == 'regression':
        return (logits[:, 0] - labels.astype(logits.dtype)) ** 2
    targets = jax.nn.one_hot(labels, spec.num_classes, dtype=logits.dtype)
    if spec.label_smoothing:
        targets = optax.smooth_labels(targets, spec.label_smoothing)
    return optax.softmax_cross_entropy(logits, targets)


def example_scores(logits, labels, spec: LossSpec):
    """Per example: 1 if the argmax is right, else 0; the absolute error for regression."""
    if spec.task == 'regression':
        return jnp.abs(logits[:, 0] - labels.astype(logits.dtype))
    return (logits.argmax(-1) == labels).astype(logits.dtype)


def example_weights(labels, spec: LossSpec, dtype=jnp.float32):
    """Each example's class weight (ones when unweighted)."""
    if spec.class_weights is None or spec.task == 'regression':
        return jnp.ones(labels.shape, dtype)
    return jnp.asarray(spec.class_weights, dtype)[labels]


def cross_entropy(logits, labels, spec: LossSpec):
    """Mean (optionally class-weighted, label-smoothed) softmax cross-entropy; the mean squared
    error for regression."""
    losses = example_losses(logits, labels, spec)
    if spec.class_weights is None:
        return losses.mean()
    weights = example_weights(labels, spec, logits.dtype)
    return (weights * losses).sum() / jnp.maximum(weights.sum(), 1e-12)


def model_inputs(batch: dict) -> dict:
    """The optional model inputs a batch carries: the padding mask and side features."""
    return {key: batch[key] for key in MODEL_INPUTS if key in batch}


def _loss_scores_and_grads(
    apply_fn, params, batch: dict, dropout_rng, loss_spec: LossSpec, loss_of
):
    """(loss, per-example scores, grads) of one training-mode forward pass over `batch`.

    `loss_of(logits)` reduces the logits to the scalar that is differentiated: the batch mean on
    one device, a device's share of the global mean under `data_parallel_grads`.
    """

    def loss_fn(params):
        logits = apply_fn(
            {'params': params},
            batch['x'],
            train=True,
            rngs={'dropout': dropout_rng},
            **model_inputs(batch),
        )
        return loss_of(logits), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return loss, example_scores(logits, batch['y'], loss_spec), grads


def train_step(state: TrainState, batch: dict, *, loss_spec: LossSpec, mesh: Mesh | None = None):
    """One optimiser update. Pure: (state, batch) -> (state, metrics); metrics stay on device.

    With a mesh of several devices, `batch` is split along the mesh's one axis and the state is
    replicated (see `data_parallel_grads`); one device runs exactly the single-device code.
    """
    dropout_rng = jax.random.fold_in(state.rng, state.step)
    if mesh is not None and mesh.size > 1:
        loss, score, grads = data_parallel_grads(state, batch, dropout_rng, loss_spec, mesh)
    else:
        loss, scores, grads = _loss_scores_and_grads(
            state.apply_fn,
            state.params,
            batch,
            dropout_rng,
            loss_spec,
            lambda logits: cross_entropy(logits, batch['y'], loss_spec),
        )
        score = scores.mean()
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {
        'loss': loss,
        loss_spec.score_name: score,  # accuracy, or mae for regression.
        'grad_norm': optax.tree.norm(grads),
        'param_norm': optax.tree.norm(params),
    }
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics


def data_parallel_grads(state: TrainState, batch: dict, dropout_rng, loss_spec: LossSpec, mesh):
    """(loss, score, grads) of the whole batch, each device differentiating only its block.

    Each device's loss is its share of the global mean, sum(w * loss) / (global sum of w), so
    the gradients' sum over devices (one psum, after the backward pass) is the gradient of the
    global loss. Each device draws its own dropout masks (the step's key folded with the device
    index): statistically what one device does, though not the same masks.
    """
    (axis,) = mesh.axis_names

    def local(params, batch, rng):
        rng = jax.random.fold_in(rng, jax.lax.axis_index(axis))
        weights = example_weights(batch['y'], loss_spec)
        total = jnp.maximum(jax.lax.psum(weights.sum(), axis), 1e-12)

        def share_of_loss(logits):
            losses = example_losses(logits, batch['y'], loss_spec)
            return (weights.astype(losses.dtype) * losses).sum() / total

        loss, scores, grads = _loss_scores_and_grads(
            state.apply_fn, params, batch, rng, loss_spec, share_of_loss
        )
        return jax.lax.psum((loss, scores.sum(), grads), axis)

    # check_vma=False: each device's gradients stay its own until the one psum above (and with
    # the check on, flax's scans over time fail its carry type check in jax 0.10).
    loss, correct, grads = jax.shard_map(
        local, mesh=mesh, in_specs=(P(), P(axis), P()), out_specs=P(), check_vma=False
    )(state.params, batch, dropout_rng)
    return loss, correct / batch['y'].shape[0], grads


def eval_step(
    params,
    apply_fn,
    batch: dict,
    num_classes: int,
    task: str = 'classification',
    with_logits: bool = False,
):
    """Sums over one batch: cross-entropy (unweighted, unsmoothed) and the confusion matrix;
    for regression the squared and absolute errors of the one output. `with_logits`: the
    batch's logits too (for scoring recordings from their windows).

    `batch['valid']` marks real examples; rows that only pad the split to whole batches
    contribute nothing.
    """
    logits = apply_fn({'params': params}, batch['x'], train=False, **model_inputs(batch))
    valid = batch['valid'].astype(jnp.float32)
    if task == 'regression':
        error = logits[:, 0] - batch['y'].astype(logits.dtype)
        return {
            'loss_sum': (error**2 * valid).sum(),
            'abs_sum': (jnp.abs(error) * valid).sum(),
            'count': valid.sum(),
        }
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch['y'])
    predictions = logits.argmax(-1)
    # confusion[true, predicted]
    confusion = (
        jnp.zeros((num_classes, num_classes), jnp.float32).at[batch['y'], predictions].add(valid)
    )
    sums = {'loss_sum': (losses * valid).sum(), 'count': valid.sum(), 'confusion': confusion}
    return {**sums, 'logits': logits} if with_logits else sums
