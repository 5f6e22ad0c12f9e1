"""The training loop: `train_and_evaluate(config, workdir)`, the library's entry point.

Data are placed on the device once; each step gathers its batch from a per-epoch permutation
on the device, so the host only dispatches. Metrics stay on the device and are fetched every
`log_every` steps in one transfer. The best step is chosen on validation only; the test split is
evaluated once, with the parameters of that step.
"""

from __future__ import annotations

import functools
import math
import os
import time
import traceback

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from ecgdepth import data as data_lib
from ecgdepth import files, metrics, models, validation
from ecgdepth.train import optim
from ecgdepth.train import state as state_lib
from ecgdepth.train import step as step_lib

STATUS_RUNNING = 'running'
STATUS_DONE = 'done'
STATUS_DIVERGED = 'diverged'
STATUS_FAILED = 'failed'


class Diverged(Exception):
    """A non-finite loss: the run stops and is recorded as diverged, not crashed."""

    def __init__(self, step: int, where: str):
        super().__init__(f'non-finite {where} loss at step {step}')
        self.step = step


def place_eval_split(arrays: dict[str, np.ndarray], batch_size: int) -> dict[str, jax.Array]:
    """A split padded to whole batches, reshaped to (num_batches, batch, ...) and put on the
    device; 'valid' marks the real rows (the padding rows count for nothing)."""
    n = len(arrays['y'])
    batch_size = max(1, min(batch_size, n))
    num_batches = math.ceil(n / batch_size)
    pad = num_batches * batch_size - n
    placed = {}
    for key, value in {**arrays, 'valid': np.ones(n, bool)}.items():
        value = np.concatenate([value, np.zeros((pad, *value.shape[1:]), value.dtype)])
        placed[key] = jax.device_put(value.reshape(num_batches, batch_size, *value.shape[1:]))
    return placed


def subset(arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The first n examples of every array of a split."""
    return {key: value[:n] for key, value in arrays.items()}


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


def make_train_fn(loss_spec: step_lib.LossSpec, batch_size: int, steps_per_epoch: int):
    """The jitted update: gather this step's batch from the device-resident data, then step."""

    @functools.partial(jax.jit, donate_argnums=0)
    def train_fn(state, arrays, permutation):
        offset = (state.step % steps_per_epoch) * batch_size
        index = jax.lax.dynamic_slice_in_dim(permutation, offset, batch_size)
        batch = jax.tree.map(lambda a: jnp.take(a, index, axis=0), arrays)
        return step_lib.train_step(state, batch, loss_spec=loss_spec)

    return train_fn


def make_eval_fn(apply_fn, num_classes: int):
    """Evaluates a whole padded split in one dispatch (a scan over its batches)."""

    @jax.jit
    def eval_fn(params, split: dict):
        def body(totals, batch):
            out = step_lib.eval_step(params, apply_fn, batch, num_classes)
            return jax.tree.map(jnp.add, totals, out), None

        zeros = {
            'loss_sum': jnp.zeros(()),
            'count': jnp.zeros(()),
            'confusion': jnp.zeros((num_classes, num_classes)),
        }
        totals, _ = jax.lax.scan(body, zeros, split)
        return totals

    return eval_fn


def _select_value(result: dict, metric: str) -> float:
    """Higher is better for the selection (loss is negated)."""
    value = result[metric]
    return -value if metric == 'loss' else value


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains one model as `config` says and writes config.json, metrics.jsonl and summary.json.

    Returns the summary. A non-finite loss ends the run with status 'diverged'; any other error
    is recorded with status 'failed' and re-raised.
    """
    validation.validate_config(config)
    os.makedirs(workdir, exist_ok=True)
    files.write_text(os.path.join(workdir, 'config.json'), config.to_json_best_effort(indent=2))
    summary_path = os.path.join(workdir, 'summary.json')
    start = time.time()
    files.write_json(summary_path, {'status': STATUS_RUNNING, 'start_time': start})
    try:
        summary = _train(config, workdir, start)
    except Exception as error:
        files.write_json(
            summary_path,
            {
                'status': STATUS_FAILED,
                'error': f'{type(error).__name__}: {error}',
                'traceback': traceback.format_exc(),
                'wall_time_s': time.time() - start,
            },
        )
        raise
    files.write_json(summary_path, summary)
    logging.info('Run %s: %s', summary['status'], summary_path)
    return summary


def _train(config: ml_collections.ConfigDict, workdir: str, start: float) -> dict:
    dataset = data_lib.load(config.data)
    train = dataset.splits['train']
    num_train, y_train = len(train['y']), train['y']
    num_classes = dataset.num_classes
    if config.train.batch_size > num_train:
        raise validation.ConfigError(
            f'config.train.batch_size ({config.train.batch_size}) exceeds the {num_train} '
            f'training examples of {dataset.name}.'
        )
    if config.model.name == 'mi_mlp' and config.model.pool > dataset.input_shape[0]:
        raise validation.ConfigError(
            f'config.model.pool ({config.model.pool}) exceeds the {dataset.input_shape[0]} '
            f'samples per example of {dataset.name}.'
        )
    loss_spec = step_lib.LossSpec(
        num_classes=num_classes,
        label_smoothing=float(config.loss.label_smoothing),
        class_weights=resolve_class_weights(config.loss.class_weights, y_train, num_classes),
    )

    model = models.build_model(config.model, num_classes)
    num_steps = config.train.num_steps
    tx, lr_multiplier = optim.create_optimizer(config.optim, num_steps)
    init_rng, data_rng = jax.random.split(jax.random.PRNGKey(config.seed))
    state = state_lib.create_train_state(model, tx, train, init_rng)
    num_params = models.count_params(state.params)
    logging.info(
        '%s on %s: %d parameters, %d classes, input %s, %d train examples.',
        config.model.name,
        dataset.name,
        num_params,
        num_classes,
        dataset.input_shape,
        num_train,
    )

    batch_size = config.train.batch_size
    steps_per_epoch = num_train // batch_size
    train_device = jax.device_put(dict(train))
    eval_splits = {
        'validation': place_eval_split(dataset.splits['validation'], config.train.eval_batch_size)
    }
    if config.train.eval_train_examples:
        n = min(config.train.eval_train_examples, num_train)
        eval_splits['train'] = place_eval_split(subset(train, n), config.train.eval_batch_size)

    train_fn = make_train_fn(loss_spec, batch_size, steps_per_epoch)
    eval_fn = make_eval_fn(model.apply, num_classes)
    permute = jax.jit(
        lambda key, epoch: jax.random.permutation(jax.random.fold_in(key, epoch), num_train).astype(
            jnp.int32
        )
    )

    def evaluate(params, split: dict) -> dict:
        totals = jax.device_get(eval_fn(params, split))
        result = metrics.classification_metrics(totals['confusion'], dataset.class_names)
        result['loss'] = float(totals['loss_sum'] / max(totals['count'], 1.0))
        return result

    records: list[dict] = []
    metrics_path = os.path.join(workdir, 'metrics.jsonl')
    pending: list[dict] = []
    best = {'value': -math.inf, 'step': None, 'params': None, 'val': None, 'train': None}
    last_train: dict = {}
    train_seconds, timed_steps = 0.0, 0
    interval_start, interval_first_step = None, 0
    status, diverged_step = STATUS_DONE, None
    permutation = None

    try:
        for step in range(num_steps):
            if step % steps_per_epoch == 0 or permutation is None:
                permutation = permute(data_rng, step // steps_per_epoch)
            state, step_metrics = train_fn(state, train_device, permutation)
            pending.append(step_metrics)
            done = step + 1
            if interval_start is None:  # Exclude compilation from the speed.
                jax.block_until_ready(step_metrics)
                interval_start, interval_first_step = time.time(), done
            if pending and (done % config.train.log_every == 0 or done == num_steps):
                fetched = jax.device_get(pending)
                elapsed = time.time() - interval_start
                train_seconds += elapsed
                timed_steps += done - interval_first_step
                for offset, values in enumerate(fetched):
                    if not np.isfinite(values['loss']):
                        raise Diverged(done - len(fetched) + offset + 1, 'training')
                last_train = {k: float(np.mean([v[k] for v in fetched])) for k in fetched[0]}
                steps_per_s = timed_steps / train_seconds if train_seconds > 0 else float('nan')
                lr = float(optim.current_learning_rate(state.opt_state, lr_multiplier, done - 1))
                records.append(
                    {
                        'type': 'train',
                        'step': done,
                        **last_train,
                        'learning_rate': lr,
                        'steps_per_s': steps_per_s,
                    }
                )
                eta = (num_steps - done) / steps_per_s if steps_per_s > 0 else float('nan')
                logging.info(
                    'step %d/%d  loss %.4f  acc %.3f  |g| %.3g  lr %.2e  %.1f steps/s  ETA %s',
                    done,
                    num_steps,
                    last_train['loss'],
                    last_train['accuracy'],
                    last_train['grad_norm'],
                    lr,
                    steps_per_s,
                    _format_seconds(eta),
                )
                pending = []
                files.write_jsonl(metrics_path, records)
                interval_start, interval_first_step = time.time(), done
            if done % config.train.eval_every == 0 or done == num_steps:
                results = {
                    name: evaluate(state.params, split) for name, split in eval_splits.items()
                }
                if not math.isfinite(results['validation']['loss']):
                    raise Diverged(done, 'validation')
                records.append({'type': 'eval', 'step': done, **results})
                value = _select_value(results['validation'], config.train.select_metric)
                if best['step'] is None or value > best['value']:
                    best.update(
                        value=value,
                        step=done,
                        val=results['validation'],
                        train=results.get('train'),
                        params=jax.tree.map(jnp.copy, state.params),
                    )
                logging.info(
                    'eval step %d  val loss %.4f  acc %.3f  macro-F1 %.3f  (best step %d)',
                    done,
                    results['validation']['loss'],
                    results['validation']['accuracy'],
                    results['validation']['macro_f1'],
                    best['step'],
                )
                files.write_jsonl(metrics_path, records)
                interval_start, interval_first_step = time.time(), done
    except Diverged as error:
        logging.warning('Diverged: %s. Stopping.', error)
        status, diverged_step = STATUS_DIVERGED, error.step
        records.append({'type': 'diverged', 'step': error.step})
        files.write_jsonl(metrics_path, records)

    summary = {
        'status': status,
        'params': num_params,
        'model': config.model.name,
        'dataset': dataset.name,
        'num_classes': num_classes,
        'class_names': list(dataset.class_names),
        'num_steps': num_steps,
        'best_step': best['step'],
        'select_metric': config.train.select_metric,
        'val': best['val'],
        'train': best['train'],
        'final_train': last_train,
        'wall_time_s': time.time() - start,
        'steps_per_s': timed_steps / train_seconds if train_seconds > 0 else None,
    }
    if diverged_step is not None:
        summary['diverged_step'] = diverged_step
    if best['params'] is not None:
        test_split = place_eval_split(dataset.splits['test'], config.train.eval_batch_size)
        summary['test'] = evaluate(best['params'], test_split)
        if summary['train'] is not None:
            summary['gap'] = {
                'loss': best['val']['loss'] - best['train']['loss'],
                'accuracy': best['train']['accuracy'] - best['val']['accuracy'],
            }
    else:
        summary['test'] = None
    logging.info(
        'Best step %s on validation %s: val %s, test %s.',
        best['step'],
        config.train.select_metric,
        _brief(summary['val']),
        _brief(summary['test']),
    )
    return summary


def _brief(result: dict | None) -> str:
    if not result:
        return 'n/a'
    return (
        f'acc {result["accuracy"]:.3f} macro-F1 {result["macro_f1"]:.3f} loss {result["loss"]:.4f}'
    )


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return '?'
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'
