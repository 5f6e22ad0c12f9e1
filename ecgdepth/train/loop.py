"""The training loop: `train_and_evaluate(config, workdir)`, the library's entry point.

Data are placed on the device once; each step gathers its batch from a per-epoch permutation
on the device, so the host only dispatches. Metrics stay on the device and are fetched every
`log_every` steps in one transfer. The best step is chosen on validation only; the test split is
evaluated once, with the parameters of that step.

Data parallel over every device of every process (ecgdepth/distributed.py): the state and the
train split are replicated on each device, and each step's batch indices are split along the
mesh's 'data' axis, so every device gathers its own block of the global batch and differentiates
it; the gradients are summed once per step (step.py). Each process loads the same dataset
(loading is deterministic), so nothing crosses processes but those sums. Only process 0 writes
files; every process takes part in every step, evaluation and checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.experimental.compilation_cache import compilation_cache
from jax.sharding import Mesh

from ecgdepth import data as data_lib
from ecgdepth import diagnostics, distributed, files, metrics, models, validation
from ecgdepth.checkpoint import Checkpointer
from ecgdepth.data import subsample
from ecgdepth.train import optim
from ecgdepth.train import state as state_lib
from ecgdepth.train import step as step_lib

STATUS_RUNNING = 'running'
STATUS_DONE = 'done'
STATUS_DIVERGED = 'diverged'
STATUS_FAILED = 'failed'
STATUS_PREEMPTED = 'preempted'  # SIGTERM: checkpointed, resumes when relaunched.


class Diverged(Exception):
    """A non-finite loss: the run stops and is recorded as diverged, not crashed."""

    def __init__(self, step: int, where: str):
        super().__init__(f'non-finite {where} loss at step {step}')
        self.step = step


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
    loss_spec: step_lib.LossSpec, batch_size: int, steps_per_epoch: int, mesh: Mesh | None = None
):
    """The jitted update: gather this step's batch from the device-resident data, then step.

    With a mesh, the batch's indices are split along 'data' before the gather: each device
    gathers only its block from its replica of the data, and the step is data parallel.
    """
    jit_kwargs, shard_batch = _mesh_jit_kwargs(mesh)

    @functools.partial(jax.jit, donate_argnums=0, **jit_kwargs)
    def train_fn(state, arrays, permutation):
        offset = (state.step % steps_per_epoch) * batch_size
        index = shard_batch(jax.lax.dynamic_slice_in_dim(permutation, offset, batch_size))
        batch = shard_batch(jax.tree.map(lambda a: jnp.take(a, index, axis=0), arrays))
        return step_lib.train_step(state, batch, loss_spec=loss_spec, mesh=mesh)

    return train_fn


def make_eval_fn(apply_fn, num_classes: int, mesh: Mesh | None = None):
    """Evaluates a whole padded split in one dispatch (a scan over its batches).

    With a mesh, each batch is split along 'data' and the sums come back replicated.
    """
    jit_kwargs, shard_batch = _mesh_jit_kwargs(mesh)

    @functools.partial(jax.jit, **jit_kwargs)
    def eval_fn(params, split: dict):
        def body(totals, batch):
            out = step_lib.eval_step(params, apply_fn, shard_batch(batch), num_classes)
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


class Preemption:
    """Turns SIGTERM (a cluster's preemption notice) into a flag the loop checks every step."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        del signum, frame
        logging.warning('SIGTERM received: checkpointing at the next step.')
        self.requested = True

    def __enter__(self) -> Preemption:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _config_json(config: ml_collections.ConfigDict) -> str:
    return config.to_json_best_effort(indent=2, sort_keys=True)


def _claim_workdir(config: ml_collections.ConfigDict, workdir: str) -> None:
    """Writes config.json, or checks that a resumed workdir was run with the same config.

    Every process checks (so all of them stop together); only process 0 writes.
    """
    path = os.path.join(workdir, 'config.json')
    text = _config_json(config)
    if os.path.exists(path) and os.path.isdir(os.path.join(workdir, 'checkpoints')):
        with open(path) as f:
            previous = json.load(f)
        if previous != json.loads(text):
            changed = sorted(_diff_keys(previous, json.loads(text)))
            raise validation.ConfigError(
                f'{workdir} holds checkpoints of a run with a different config (differs in '
                f'{", ".join(changed)}); use a new --workdir or delete that one to start over.'
            )
    if distributed.is_chief():
        files.write_text(path, text)


def _diff_keys(a, b, prefix: str = 'config') -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = set(a) | set(b)
        return [d for k in keys for d in _diff_keys(a.get(k), b.get(k), f'{prefix}.{k}')]
    return [] if a == b else [prefix]


def enable_compilation_cache(directory: str) -> None:
    """The persistent XLA cache: restarts and repeated shapes in a sweep skip recompiling."""
    os.makedirs(directory, exist_ok=True)
    if jax.config.jax_compilation_cache_dir != directory:
        compilation_cache.reset_cache()  # A process may train runs with different caches.
    jax.config.update('jax_compilation_cache_dir', directory)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
    jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains one model as `config` says and writes config.json, metrics.jsonl and summary.json.

    Returns the summary. A non-finite loss ends the run with status 'diverged'; SIGTERM ends it
    with a checkpoint and status 'preempted'; any other error is recorded with status 'failed'
    and re-raised. A relaunch on the same workdir resumes from the latest checkpoint and ends
    with the same metrics as an uninterrupted run.
    """
    validation.validate_config(config)
    check_batch_size(config.train.batch_size, distributed.data_mesh())
    os.makedirs(workdir, exist_ok=True)
    _claim_workdir(config, workdir)
    enable_compilation_cache(
        config.train.compilation_cache_dir or os.path.join(workdir, 'compilation_cache')
    )
    summary_path = os.path.join(workdir, 'summary.json')
    start = time.time()
    _write_json(summary_path, {'status': STATUS_RUNNING, 'start_time': start})
    try:
        with Preemption() as preemption:
            summary = _train(config, workdir, start, preemption)
    except Exception as error:
        _write_json(
            summary_path,
            {
                'status': STATUS_FAILED,
                'error': f'{type(error).__name__}: {error}',
                'traceback': traceback.format_exc(),
                'wall_time_s': time.time() - start,
            },
        )
        raise
    _write_json(summary_path, summary)
    logging.info('Run %s: %s', summary['status'], summary_path)
    return summary


def _write_json(path: str, obj) -> None:
    if distributed.is_chief():
        files.write_json(path, obj)


def _write_jsonl(path: str, records: list[dict]) -> None:
    if distributed.is_chief():
        files.write_jsonl(path, records)


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """The global batch is split evenly over the data-parallel devices, so it must divide."""
    if batch_size % mesh.size:
        raise validation.ConfigError(
            f'config.train.batch_size ({batch_size}) must be divisible by the number of '
            f'data-parallel devices, {mesh.size} (over {jax.process_count()} process(es)): it is '
            f'the global batch, split evenly over them; e.g. use '
            f'{math.ceil(batch_size / mesh.size) * mesh.size}.'
        )


def _train(
    config: ml_collections.ConfigDict, workdir: str, start: float, preemption: Preemption
) -> dict:
    mesh = distributed.data_mesh()
    replicated = distributed.replicated(mesh)
    dataset = distributed.chief_first(lambda: data_lib.load(config.data))
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
    state = state_lib.create_train_state(model, tx, train, init_rng, sharding=replicated)
    num_params = models.count_params(state.params)
    logging.info(
        '%s on %s: %d parameters, %d classes, input %s, %d train examples, %d device(s).',
        config.model.name,
        dataset.name,
        num_params,
        num_classes,
        dataset.input_shape,
        num_train,
        mesh.size,
    )

    batch_size = config.train.batch_size
    steps_per_epoch = num_train // batch_size
    # Every process loaded the same data; device_put to a replicated sharding then only copies
    # each process's host arrays to its own devices.
    train_device = jax.device_put(dict(train), replicated)
    eval_batch_size = config.train.eval_batch_size
    eval_splits = {
        'validation': place_eval_split(dataset.splits['validation'], eval_batch_size, mesh)
    }
    if config.train.eval_train_examples:
        n = min(config.train.eval_train_examples, num_train)
        eval_splits['train'] = place_eval_split(subset(train, n), eval_batch_size, mesh)

    train_fn = make_train_fn(loss_spec, batch_size, steps_per_epoch, mesh)
    eval_fn = make_eval_fn(model.apply, num_classes, mesh)
    permute = jax.jit(
        lambda key, epoch: jax.random.permutation(jax.random.fold_in(key, epoch), num_train).astype(
            jnp.int32
        ),
        out_shardings=replicated,  # The same order on every device of every process.
    )

    def evaluate(params, split: dict) -> dict:
        totals = jax.device_get(eval_fn(params, split))
        result = metrics.classification_metrics(totals['confusion'], dataset.class_names)
        result['loss'] = float(totals['loss_sum'] / max(totals['count'], 1.0))
        return result

    static_diagnostics, probe = {}, None
    if config.train.diagnostics:
        validation_split = dataset.splits['validation']
        static_diagnostics = {
            'flops_per_example': diagnostics.flops_per_example(
                model, state.params, subset(validation_split, 1)
            ),
            **diagnostics.receptive_field(
                config.model, dataset.sample_rate, dataset.input_shape[0]
            ),
        }
        if jax.process_count() == 1:
            chosen = subsample.random_indices(
                len(validation_split['y']), config.train.diagnostic_examples
            )
            probe = diagnostics.Probe(
                model, subsample.take(validation_split, chosen), dataset.sample_rate, state.params
            )
        else:
            logging.warning('Per-evaluation diagnostics run in single-process jobs only.')

    metrics_path = os.path.join(workdir, 'metrics.jsonl')
    progress = Progress()
    best_params = None
    checkpointer = None
    start_step = 0
    if config.train.checkpoint_every:
        checkpointer = Checkpointer(os.path.join(workdir, 'checkpoints'))
        restored = checkpointer.restore({'state': state, 'best_params': state.params})
        if restored is not None:
            start_step, arrays, meta = restored
            state, progress = arrays['state'], Progress.from_meta(meta)
            best_params = arrays['best_params'] if progress.best_step is not None else None
            logging.info('Resuming from the checkpoint at step %d of %d.', start_step, num_steps)
            _write_jsonl(metrics_path, progress.records)  # Drop what came after it.

    if probe is not None and start_step == 0:
        progress.records.append({'type': 'diagnostics', 'step': 0, **probe(state.params)})

    def save_checkpoint(step: int) -> None:
        progress.pending = [_to_floats(m) for m in jax.device_get(progress.pending)]
        arrays = {
            'state': state,
            'best_params': state.params if best_params is None else best_params,
        }
        checkpointer.save(step, arrays, files.json_safe(progress.to_meta()))

    def preempt(step: int) -> bool:
        """Whether to checkpoint and stop before `step`. SIGTERM reaches each process at its own
        step, so several processes agree (one small all-gather) where they sync anyway."""
        if jax.process_count() == 1:
            return preemption.requested and checkpointer is not None
        if checkpointer is None or step % config.train.log_every:
            return False
        return distributed.any_process(preemption.requested)

    interval_start, interval_first_step = None, start_step
    status, stopped_step = STATUS_DONE, None
    permutation = None
    try:
        for step in range(start_step, num_steps):
            if preempt(step):
                save_checkpoint(step)
                status, stopped_step = STATUS_PREEMPTED, step
                logging.warning('SIGTERM: checkpointed at step %d; relaunch to resume.', step)
                break
            if step % steps_per_epoch == 0 or permutation is None:
                permutation = permute(data_rng, step // steps_per_epoch)
            state, step_metrics = train_fn(state, train_device, permutation)
            progress.pending.append(step_metrics)
            done = step + 1
            if interval_start is None:  # Exclude compilation from the speed.
                jax.block_until_ready(step_metrics)
                interval_start, interval_first_step = time.time(), done
            if done % config.train.log_every == 0 or done == num_steps:
                fetched = [_to_floats(m) for m in jax.device_get(progress.pending)]
                progress.train_seconds += time.time() - interval_start
                progress.timed_steps += done - interval_first_step
                for offset, values in enumerate(fetched):
                    if not math.isfinite(values['loss']):
                        raise Diverged(done - len(fetched) + offset + 1, 'training')
                progress.last_train = {
                    k: float(np.mean([v[k] for v in fetched])) for k in fetched[0]
                }
                steps_per_s = progress.steps_per_s() or float('nan')
                lr = float(optim.current_learning_rate(state.opt_state, lr_multiplier, done - 1))
                progress.records.append(
                    {
                        'type': 'train',
                        'step': done,
                        **progress.last_train,
                        'learning_rate': lr,
                        'steps_per_s': steps_per_s,
                    }
                )
                eta = (num_steps - done) / steps_per_s if steps_per_s > 0 else float('nan')
                logging.info(
                    'step %d/%d  loss %.4f  acc %.3f  |g| %.3g  lr %.2e  %.1f steps/s  ETA %s',
                    done,
                    num_steps,
                    progress.last_train['loss'],
                    progress.last_train['accuracy'],
                    progress.last_train['grad_norm'],
                    lr,
                    steps_per_s,
                    _format_seconds(eta),
                )
                progress.pending = []
                _write_jsonl(metrics_path, progress.records)
                interval_start, interval_first_step = time.time(), done
            if done % config.train.eval_every == 0 or done == num_steps:
                results = {
                    name: evaluate(state.params, split) for name, split in eval_splits.items()
                }
                if not math.isfinite(results['validation']['loss']):
                    raise Diverged(done, 'validation')
                if probe is not None:
                    results['diagnostics'] = probe(state.params)
                progress.records.append({'type': 'eval', 'step': done, **results})
                value = _select_value(results['validation'], config.train.select_metric)
                if progress.best_step is None or value > progress.best_value:
                    progress.best_value, progress.best_step = value, done
                    progress.best_val = results['validation']
                    progress.best_train = results.get('train')
                    progress.best_diagnostics = results.get('diagnostics')
                    best_params = jax.tree.map(jnp.copy, state.params)
                logging.info(
                    'eval step %d  val loss %.4f  acc %.3f  macro-F1 %.3f  (best step %d)',
                    done,
                    results['validation']['loss'],
                    results['validation']['accuracy'],
                    results['validation']['macro_f1'],
                    progress.best_step,
                )
                _write_jsonl(metrics_path, progress.records)
                interval_start, interval_first_step = time.time(), done
            if checkpointer is not None and (
                done % config.train.checkpoint_every == 0 or done == num_steps
            ):
                save_checkpoint(done)
                interval_start, interval_first_step = time.time(), done
    except Diverged as error:
        logging.warning('Diverged: %s. Stopping.', error)
        status, stopped_step = STATUS_DIVERGED, error.step
        progress.records.append({'type': 'diverged', 'step': error.step})
        _write_jsonl(metrics_path, progress.records)
    finally:
        if checkpointer is not None:
            checkpointer.close()

    summary = {
        'status': status,
        'params': num_params,
        'model': config.model.name,
        'dataset': dataset.name,
        'num_classes': num_classes,
        'class_names': list(dataset.class_names),
        'num_steps': num_steps,
        'best_step': progress.best_step,
        'select_metric': config.train.select_metric,
        'val': progress.best_val,
        'train': progress.best_train,
        'final_train': progress.last_train,
        'wall_time_s': time.time() - start,
        'steps_per_s': progress.steps_per_s(),
        **static_diagnostics,
        **(progress.best_diagnostics or {}),  # At the best step.
    }
    initial = [r for r in progress.records if r['type'] == 'diagnostics' and r['step'] == 0]
    if initial:
        summary['grad_norm_per_layer_init'] = initial[0]['grad_norm_per_layer']
        for key in ('hidden_grad_time_slope', 'hidden_grad_layer_slope'):
            if key in initial[0]:
                summary[f'{key}_init'] = initial[0][key]
    if status == STATUS_DIVERGED:
        summary['diverged_step'] = stopped_step
    if status == STATUS_PREEMPTED:
        summary['preempted_step'] = stopped_step
        return summary  # The test split waits for the finished run.
    summary['test'] = None
    if best_params is not None:
        test_split = place_eval_split(dataset.splits['test'], eval_batch_size, mesh)
        summary['test'] = evaluate(best_params, test_split)
        if summary['train'] is not None:
            summary['gap'] = {
                'loss': progress.best_val['loss'] - progress.best_train['loss'],
                'accuracy': progress.best_train['accuracy'] - progress.best_val['accuracy'],
            }
    logging.info(
        'Best step %s on validation %s: val %s, test %s.',
        progress.best_step,
        config.train.select_metric,
        _brief(summary['val']),
        _brief(summary['test']),
    )
    return summary


def _to_floats(metrics: dict) -> dict[str, float]:
    return {key: float(value) for key, value in metrics.items()}


@dataclasses.dataclass
class Progress:
    """The loop's bookkeeping, saved with each checkpoint so a resumed run continues exactly."""

    records: list[dict] = dataclasses.field(default_factory=list)  # metrics.jsonl so far.
    pending: list = dataclasses.field(default_factory=list)  # Step metrics not yet logged.
    last_train: dict = dataclasses.field(default_factory=dict)
    best_step: int | None = None
    best_value: float = -math.inf
    best_val: dict | None = None
    best_train: dict | None = None
    best_diagnostics: dict | None = None
    train_seconds: float = 0.0
    timed_steps: int = 0

    def steps_per_s(self) -> float | None:
        return self.timed_steps / self.train_seconds if self.train_seconds > 0 else None

    def to_meta(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_meta(cls, meta: dict) -> Progress:
        progress = cls(**meta)
        if progress.best_value is None:  # -inf is stored as null.
            progress.best_value = -math.inf
        return progress


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
