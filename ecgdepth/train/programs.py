"""What runs on the device: the splits placed there and the jitted update and evaluation.

Data are placed on the device once; each step gathers its batch from a per-epoch permutation
on the device, so the host only dispatches. With a mesh, every batch is split along its 'data'
axis (ecgdepth/distributed.py), so each device gathers and differentiates its own block.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from ecgdepth import distributed, metrics, validation
from ecgdepth.train import step as step_lib


def place_eval_split(
    arrays: dict[str, np.ndarray], batch_size: int, mesh: Mesh | None = None
) -> dict[str, jax.Array]:
    """A split padded to whole batches, reshaped to (num_batches, batch, ...) and put on the
    device; 'valid' marks the real rows (the padding rows count for nothing).

    With a mesh, each batch is split along 'data': its size is rounded up to a multiple of the
    mesh size (more padding rows), so every device evaluates an equal block.
    """
    n = len(arrays['y'])
    batch_size = max(1, min(batch_size, n))
    sharding = None
    if mesh is not None:
        batch_size = math.ceil(batch_size / mesh.size) * mesh.size
        sharding = distributed.batch_sharded(mesh, leading=1)
    num_batches = math.ceil(n / batch_size)
    pad = num_batches * batch_size - n
    placed = {}
    for key, value in {**arrays, 'valid': np.ones(n, bool)}.items():
        value = np.concatenate([value, np.zeros((pad, *value.shape[1:]), value.dtype)])
        value = value.reshape(num_batches, batch_size, *value.shape[1:])
        placed[key] = jax.device_put(value, sharding)
    return placed


def subset(arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The first n examples of every array of a split, scored as examples (not recordings:
    the first n may cut one)."""
    return {key: value[:n] for key, value in arrays.items() if key != 'group'}


def resolve_class_weights(
    spec: str, train_labels: np.ndarray, num_classes: int
) -> tuple[float, ...] | None:
    """none -> None; balanced -> N / (K * n_k) from the train labels; else the given weights."""
    parsed = validation.parse_class_weights(spec, num_classes)
    if parsed == 'none':
        return None
    if parsed == 'balanced':
        counts = np.bincount(train_labels, minlength=num_classes).astype(np.float64)
        weights = np.where(
            counts > 0, len(train_labels) / (num_classes * np.maximum(counts, 1)), 0.0
        )
        return tuple(float(w) for w in weights)
    return parsed


def _mesh_jit_kwargs(mesh: Mesh | None) -> tuple[dict, Callable]:
    """jit's out_shardings (replicated: state and metrics) and the batch constraint for a mesh."""
    if mesh is None:
        return {}, lambda tree: tree
    sharding = distributed.batch_sharded(mesh)
    return (
        {'out_shardings': distributed.replicated(mesh)},
        lambda tree: jax.lax.with_sharding_constraint(tree, sharding),
    )


def make_train_fn(
    loss_spec: step_lib.LossSpec,
    batch_size: int,
    steps_per_epoch: int,
    mesh: Mesh | None = None,
    stacked: bool = False,
):
    """The jitted update: gather this step's batch from the device-resident data, then step.

    With a mesh, the batch's indices are split along 'data' before the gather: each device
    gathers only its block from its replica of the data, and the step is data parallel.
    `stacked`: the state and permutation carry a leading seed axis and the update is vmapped
    over it (one program and one dispatch for every seed; the data are shared).
    """
    jit_kwargs, shard_batch = _mesh_jit_kwargs(mesh)

    def update(state, arrays, permutation):
        offset = (state.step % steps_per_epoch) * batch_size
        index = shard_batch(jax.lax.dynamic_slice_in_dim(permutation, offset, batch_size))
        batch = shard_batch(jax.tree.map(lambda a: jnp.take(a, index, axis=0), arrays))
        return step_lib.train_step(state, batch, loss_spec=loss_spec, mesh=mesh)

    if stacked:
        update = jax.vmap(update, in_axes=(0, None, 0))
    return jax.jit(update, donate_argnums=0, **jit_kwargs)


def make_eval_fn(
    apply_fn,
    num_classes: int,
    mesh: Mesh | None = None,
    stacked: bool = False,
    task: str = 'classification',
):
    """Evaluates a whole padded split in one dispatch (a scan over its batches).

    With a mesh, each batch is split along 'data' and the sums come back replicated.
    `stacked`: the parameters carry a leading seed axis, and so do the sums. A split whose
    examples are windows of recordings ('group') also returns every example's logits
    (num_batches, batch, classes), which `score` averages per recording.
    """
    jit_kwargs, shard_batch = _mesh_jit_kwargs(mesh)

    def evaluate(params, split: dict):
        with_logits = 'group' in split

        def sums(batch):
            return step_lib.eval_step(params, apply_fn, batch, num_classes, task, with_logits)

        def body(totals, batch):
            out = sums(shard_batch(batch))
            logits = out.pop('logits', None)
            return jax.tree.map(jnp.add, totals, out), logits

        shapes = jax.eval_shape(sums, jax.tree.map(lambda a: a[0], split))
        shapes.pop('logits', None)
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        totals, logits = jax.lax.scan(body, zeros, split)
        return {**totals, 'logits': logits} if with_logits else totals

    if stacked:
        evaluate = jax.vmap(evaluate, in_axes=(0, None))
    return jax.jit(evaluate, **jit_kwargs)


def score(totals: dict, host: dict[str, np.ndarray], dataset) -> dict:
    """One seed's metrics from its eval sums (`make_eval_fn`) on a split whose host arrays
    are `host`: regression errors, or the classification metrics of `dataset` (its benchmark
    scores included), per recording where examples are windows ('group')."""
    if dataset.task == 'regression':
        return metrics.regression_metrics(
            totals['loss_sum'], totals['abs_sum'], totals['count'], host['y']
        )
    names, n = dataset.class_names, len(host['y'])
    confusion = totals['confusion']
    extra = {}
    if 'group' in host:
        logits = np.asarray(totals['logits']).reshape(-1, len(names))[:n]
        confusion = metrics.group_confusion(logits, host['y'], host['group'], len(names))
        window = metrics.classification_metrics(totals['confusion'], names)
        extra = {
            'recordings': int(confusion.sum()),
            'windows': n,
            'window_accuracy': window['accuracy'],
            'window_macro_f1': window['macro_f1'],
        }
    result = metrics.classification_metrics(confusion, names, dataset.scores)
    result['loss'] = float(totals['loss_sum'] / max(totals['count'], 1.0))
    return {**result, **extra}


def select_value(result: dict, metric: str, task: str = 'classification', scores=()) -> float:
    """Higher is better for the selection (lower-is-better metrics are negated)."""
    value = result[metric]
    return value if validation.select_direction(task, metric, scores) == 'max' else -value


def make_permute(num_train: int, stacked: bool, sharding) -> Callable:
    """The jitted per-epoch order of the train split: permute(key, epoch) (a key per seed if
    `stacked`), the same on every device of every process."""

    def permutation(key, epoch):
        return jax.random.permutation(jax.random.fold_in(key, epoch), num_train).astype(jnp.int32)

    return jax.jit(
        jax.vmap(permutation, in_axes=(0, None)) if stacked else permutation,
        out_shardings=sharding,
    )
