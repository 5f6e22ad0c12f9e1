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
from ecgdepth import workdir as workdir_lib
from ecgdepth.checkpoint import Checkpointer
from ecgdepth.data import subsample
from ecgdepth.train import optim
from ecgdepth.train import state as state_lib
from ecgdepth.train import step as step_lib

# Dataset.info keys (prefixes) copied into summary.json: what findings need of the data.
SUMMARY_INFO = ('label_noise', 'motif_span_samples')


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
    `stacked`: the parameters carry a leading seed axis, and so do the sums.
    """
    jit_kwargs, shard_batch = _mesh_jit_kwargs(mesh)

    def evaluate(params, split: dict):
        def sums(batch):
            return step_lib.eval_step(params, apply_fn, batch, num_classes, task)

        def body(totals, batch):
            return jax.tree.map(jnp.add, totals, sums(shard_batch(batch))), None

        shapes = jax.eval_shape(sums, jax.tree.map(lambda a: a[0], split))
        zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        totals, _ = jax.lax.scan(body, zeros, split)
        return totals

    if stacked:
        evaluate = jax.vmap(evaluate, in_axes=(0, None))
    return jax.jit(evaluate, **jit_kwargs)


def _select_value(result: dict, metric: str, task: str = 'classification') -> float:
    """Higher is better for the selection (lower-is-better metrics are negated)."""
    value = result[metric]
    return value if validation.select_direction(task, metric) == 'max' else -value


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
    path = os.path.join(workdir, workdir_lib.CONFIG_FILE)
    text = _config_json(config)
    if os.path.exists(path) and os.path.isdir(os.path.join(workdir, workdir_lib.CHECKPOINT_DIR)):
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
    check_vmap_seeds(config.train.vmap_seeds, distributed.data_mesh())
    os.makedirs(workdir, exist_ok=True)
    _claim_workdir(config, workdir)
    enable_compilation_cache(
        config.train.compilation_cache_dir
        or os.path.join(workdir, workdir_lib.COMPILATION_CACHE_DIR)
    )
    summary_path = os.path.join(workdir, workdir_lib.SUMMARY_FILE)
    start = time.time()
    _write_summary(workdir, workdir_lib.Summary(status=workdir_lib.RUNNING, start_time=start))
    try:
        with Preemption() as preemption:
            summary = workdir_lib.Summary.from_dict(_train(config, workdir, start, preemption))
    except Exception as error:
        failed = workdir_lib.Summary(
            status=workdir_lib.FAILED,
            error=f'{type(error).__name__}: {error}',
            traceback=traceback.format_exc(),
            wall_time_s=time.time() - start,
        )
        _write_summary(workdir, failed)
        if config.train.vmap_seeds > 1:
            for k in range(config.train.vmap_seeds):
                directory = workdir_lib.member_dir(workdir, config.seed + k)
                if os.path.isdir(directory):
                    _write_summary(directory, failed)
        raise
    _write_summary(workdir, summary)
    logging.info('Run %s: %s', summary.status, summary_path)
    return summary.to_dict()


def _write_summary(directory: str, summary: workdir_lib.Summary) -> None:
    if distributed.is_chief():
        workdir_lib.write_summary(directory, summary)


def _write_text(path: str, text: str) -> None:
    if distributed.is_chief():
        files.write_text(path, text)


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


def _member_config(config: ml_collections.ConfigDict, seed: int) -> ml_collections.ConfigDict:
    """The config a separate run of one vmapped seed would have: its seed, vmap_seeds=1."""
    member = config.copy_and_resolve_references()
    member.seed = seed
    member.train.vmap_seeds = 1
    return member


@dataclasses.dataclass
class Member:
    """One seed of a run: its own outputs and bookkeeping. A plain run has one member writing
    to the workdir itself; `train.vmap_seeds=N` has N, each under workdir/seed_<s>/."""

    index: int  # Position along the stacked state's leading axis.
    seed: int
    workdir: str
    progress: Progress

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.workdir, workdir_lib.METRICS_FILE)

    @property
    def live(self) -> bool:
        return self.progress.diverged_step is None


def check_vmap_seeds(vmap_seeds: int, mesh: Mesh) -> None:
    """Vmapped seeds share one device: with several, train seeds as separate trials."""
    if vmap_seeds > 1 and mesh.size > 1:
        raise validation.ConfigError(
            f'config.train.vmap_seeds ({vmap_seeds}) > 1 runs every seed on one device, but '
            f'this job has {mesh.size} data-parallel devices: run the seeds as separate '
            'trials (launch.py --sweep without --vmap_seeds), or use one device.'
        )


def _train(
    config: ml_collections.ConfigDict, workdir: str, start: float, preemption: Preemption
) -> dict:
    mesh = distributed.data_mesh()
    replicated = distributed.replicated(mesh)
    dataset = distributed.chief_first(lambda: data_lib.load(config.data))
    dataset = data_lib.for_task(dataset, config.task)
    regression = config.task == 'regression'
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
    num_outputs = 1 if regression else num_classes  # Regression: one output, the prediction.
    loss_spec = step_lib.LossSpec(
        num_classes=num_outputs,
        label_smoothing=float(config.loss.label_smoothing),
        class_weights=None
        if regression
        else resolve_class_weights(config.loss.class_weights, y_train, num_classes),
        task=config.task,
    )

    # Seeds config.seed, config.seed + 1, ...: stacked along a leading axis when there are
    # several, each keyed exactly as its own run would be (same init, data order, dropout).
    num_seeds = config.train.vmap_seeds
    stacked = num_seeds > 1
    seeds = [config.seed + k for k in range(num_seeds)]
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(seed)) for seed in seeds])
    init_rng, data_rng = (keys[:, 0], keys[:, 1]) if stacked else (keys[0, 0], keys[0, 1])

    def member_view(tree, k: int):
        return jax.tree.map(lambda a: a[k], tree) if stacked else tree

    model = models.build_model(config.model, num_outputs)
    num_steps = config.train.num_steps
    tx, lr_multiplier = optim.create_optimizer(config.optim, num_steps)
    state = state_lib.create_train_state(
        model, tx, train, init_rng, sharding=replicated, stacked=stacked
    )
    num_params = models.count_params(member_view(state.params, 0))
    logging.info(
        '%s on %s: %d parameters, %d classes, input %s, %d train examples, %d device(s)%s.',
        config.model.name,
        dataset.name,
        num_params,
        num_classes,
        dataset.input_shape,
        num_train,
        mesh.size,
        f', seeds {seeds} as one vmapped program' if stacked else '',
    )

    members = [
        Member(k, seed, workdir_lib.member_dir(workdir, seed) if stacked else workdir, Progress())
        for k, seed in enumerate(seeds)
    ]
    if stacked:
        for member in members:
            os.makedirs(member.workdir, exist_ok=True)
            _write_text(
                os.path.join(member.workdir, workdir_lib.CONFIG_FILE),
                _config_json(_member_config(config, member.seed)),
            )
            _write_summary(
                member.workdir, workdir_lib.Summary(status=workdir_lib.RUNNING, start_time=start)
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
    eval_targets = {'validation': dataset.splits['validation']['y']}  # Regression baselines.
    if config.train.eval_train_examples:
        n = min(config.train.eval_train_examples, num_train)
        eval_splits['train'] = place_eval_split(subset(train, n), eval_batch_size, mesh)
        eval_targets['train'] = train['y'][:n]

    train_fn = make_train_fn(loss_spec, batch_size, steps_per_epoch, mesh, stacked)
    eval_fn = make_eval_fn(model.apply, num_outputs, mesh, stacked, config.task)

    def permutation(key, epoch):
        return jax.random.permutation(jax.random.fold_in(key, epoch), num_train).astype(jnp.int32)

    permute = jax.jit(
        jax.vmap(permutation, in_axes=(0, None)) if stacked else permutation,
        out_shardings=replicated,  # The same order on every device of every process.
    )

    def evaluate(params, split: dict, targets: np.ndarray) -> list[dict]:
        """Metrics of each member's params on a placed split (`targets`: its labels)."""
        totals = jax.device_get(eval_fn(params, split))
        results = []
        for member in members:
            t = member_view(totals, member.index)
            if regression:
                result = metrics.regression_metrics(
                    t['loss_sum'], t['abs_sum'], t['count'], targets
                )
            else:
                result = metrics.classification_metrics(t['confusion'], dataset.class_names)
                result['loss'] = float(t['loss_sum'] / max(t['count'], 1.0))
            results.append(result)
        return results

    static_diagnostics, probe = {}, None
    if config.train.diagnostics:
        validation_split = dataset.splits['validation']
        static_diagnostics = {
            'flops_per_example': diagnostics.flops_per_example(
                model, member_view(state.params, 0), subset(validation_split, 1)
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
                model,
                subsample.take(validation_split, chosen),
                dataset.sample_rate,
                member_view(state.params, 0),
            )
        else:
            logging.warning('Per-evaluation diagnostics run in single-process jobs only.')

    pending: list = []  # Step metrics not yet logged (device arrays; a seed axis if stacked).
    best_params = None
    checkpointer = None
    start_step = 0
    if config.train.checkpoint_every:
        checkpointer = Checkpointer(os.path.join(workdir, workdir_lib.CHECKPOINT_DIR))
        restored = checkpointer.restore({'state': state, 'best_params': state.params})
        if restored is not None:
            start_step, arrays, meta = restored
            state = arrays['state']
            metas = meta['members'] if stacked else [meta]
            for member, member_meta in zip(members, metas, strict=True):
                member.progress = Progress.from_meta(member_meta)
            if any(m.progress.best_step is not None for m in members):
                best_params = arrays['best_params']
            pending = _stack_pending([m.progress.pending for m in members], stacked)
            logging.info('Resuming from the checkpoint at step %d of %d.', start_step, num_steps)
            for member in members:  # Drop what came after it.
                member.progress.pending = []
                _write_jsonl(member.metrics_path, member.progress.records)

    if probe is not None and start_step == 0:
        for member in members:
            member.progress.records.append(
                {'type': 'diagnostics', 'step': 0, **probe(member_view(state.params, member.index))}
            )

    def save_checkpoint(step: int) -> None:
        fetched = jax.device_get(pending)
        for member in members:
            member.progress.pending = [_member_floats(m, member.index, stacked) for m in fetched]
        arrays = {
            'state': state,
            'best_params': state.params if best_params is None else best_params,
        }
        metas = [files.json_safe(m.progress.to_meta()) for m in members]
        checkpointer.save(step, arrays, {'members': metas} if stacked else metas[0])
        for member in members:
            member.progress.pending = []

    def preempt(step: int) -> bool:
        """Whether to checkpoint and stop before `step`. SIGTERM reaches each process at its own
        step, so several processes agree (one small all-gather) where they sync anyway."""
        if jax.process_count() == 1:
            return preemption.requested and checkpointer is not None
        if checkpointer is None or step % config.train.log_every:
            return False
        return distributed.any_process(preemption.requested)

    def diverge(member: Member, step: int, where: str) -> None:
        logging.warning(
            'Seed %d diverged: non-finite %s loss at step %d.', member.seed, where, step
        )
        member.progress.diverged_step = step
        member.progress.records.append({'type': 'diverged', 'step': step})
        _write_jsonl(member.metrics_path, member.progress.records)

    interval_start, interval_first_step = None, start_step
    stopped_step = None
    permutation_now = None
    try:
        for step in range(start_step, num_steps):
            if not any(m.live for m in members):
                break
            if preempt(step):
                save_checkpoint(step)
                stopped_step = step
                logging.warning('SIGTERM: checkpointed at step %d; relaunch to resume.', step)
                break
            if step % steps_per_epoch == 0 or permutation_now is None:
                permutation_now = permute(data_rng, step // steps_per_epoch)
            state, step_metrics = train_fn(state, train_device, permutation_now)
            pending.append(step_metrics)
            done = step + 1
            if interval_start is None:  # Exclude compilation from the speed.
                jax.block_until_ready(step_metrics)
                interval_start, interval_first_step = time.time(), done
            if done % config.train.log_every == 0 or done == num_steps:
                fetched = jax.device_get(pending)
                elapsed = time.time() - interval_start
                lr = float(
                    optim.current_learning_rate(
                        member_view(state.opt_state, 0), lr_multiplier, done - 1
                    )
                )
                for member in members:
                    if not member.live:
                        continue
                    progress = member.progress
                    values = [_member_floats(m, member.index, stacked) for m in fetched]
                    progress.train_seconds += elapsed
                    progress.timed_steps += done - interval_first_step
                    bad = [i for i, v in enumerate(values) if not math.isfinite(v['loss'])]
                    if bad:
                        diverge(member, done - len(values) + bad[0] + 1, 'training')
                        continue
                    progress.last_train = {
                        k: float(np.mean([v[k] for v in values])) for k in values[0]
                    }
                    steps_per_s = progress.steps_per_s() or float('nan')
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
                        '%sstep %d/%d  loss %.4f  %s %.3f  |g| %.3g  lr %.2e  %.1f steps/s  ETA %s',
                        f'seed {member.seed}: ' if stacked else '',
                        done,
                        num_steps,
                        progress.last_train['loss'],
                        'mae' if regression else 'acc',
                        progress.last_train[loss_spec.score_name],
                        progress.last_train['grad_norm'],
                        lr,
                        steps_per_s,
                        _format_seconds(eta),
                    )
                    _write_jsonl(member.metrics_path, progress.records)
                pending = []
                interval_start, interval_first_step = time.time(), done
            if done % config.train.eval_every == 0 or done == num_steps:
                results = {
                    name: evaluate(state.params, split, eval_targets[name])
                    for name, split in eval_splits.items()
                }
                improved = []
                for member in members:
                    if not member.live:
                        continue
                    progress = member.progress
                    result = {name: r[member.index] for name, r in results.items()}
                    if not math.isfinite(result['validation']['loss']):
                        diverge(member, done, 'validation')
                        continue
                    if probe is not None:
                        result['diagnostics'] = probe(member_view(state.params, member.index))
                    progress.records.append({'type': 'eval', 'step': done, **result})
                    value = _select_value(
                        result['validation'], config.train.select_metric, config.task
                    )
                    if progress.best_step is None or value > progress.best_value:
                        progress.best_value, progress.best_step = value, done
                        progress.best_val = result['validation']
                        progress.best_train = result.get('train')
                        progress.best_diagnostics = result.get('diagnostics')
                        improved.append(member.index)
                    logging.info(
                        '%seval step %d  val %s  (best step %d)',
                        f'seed {member.seed}: ' if stacked else '',
                        done,
                        _brief(result['validation']),
                        progress.best_step,
                    )
                    _write_jsonl(member.metrics_path, progress.records)
                if improved:
                    best_params = _keep_best(best_params, state.params, improved, stacked)
                interval_start, interval_first_step = time.time(), done
            if checkpointer is not None and (
                done % config.train.checkpoint_every == 0 or done == num_steps
            ):
                save_checkpoint(done)
                interval_start, interval_first_step = time.time(), done
    finally:
        if checkpointer is not None:
            checkpointer.close()

    test_results = None
    if stopped_step is None and best_params is not None:
        test_split = place_eval_split(dataset.splits['test'], eval_batch_size, mesh)
        test_results = evaluate(best_params, test_split, dataset.splits['test']['y'])
    summaries = []
    for member in members:
        progress = member.progress
        status = workdir_lib.DONE
        if stopped_step is not None:
            status = workdir_lib.PREEMPTED
        elif not member.live:
            status = workdir_lib.DIVERGED
        summary = {
            'status': status,
            'params': num_params,
            'model': config.model.name,
            'dataset': dataset.name,
            'task': config.task,
            'num_classes': num_classes,
            'class_names': list(dataset.class_names),
            'num_steps': num_steps,
            'best_step': progress.best_step,
            'select_metric': config.train.select_metric,
            'select_direction': validation.select_direction(
                config.task, config.train.select_metric
            ),
            **{k: v for k, v in dataset.info.items() if k.startswith(SUMMARY_INFO)},
            'val': progress.best_val,
            'train': progress.best_train,
            'final_train': progress.last_train,
            'wall_time_s': time.time() - start,
            'steps_per_s': progress.steps_per_s(),
            **static_diagnostics,
            **(progress.best_diagnostics or {}),  # At the best step.
        }
        if stacked:
            summary.update(seed=member.seed, vmap_seeds=num_seeds)
        initial = [r for r in progress.records if r['type'] == 'diagnostics' and r['step'] == 0]
        if initial:
            summary['grad_norm_per_layer_init'] = initial[0]['grad_norm_per_layer']
            for key in ('hidden_grad_time_slope', 'hidden_grad_layer_slope'):
                if key in initial[0]:
                    summary[f'{key}_init'] = initial[0][key]
        if status == workdir_lib.DIVERGED:
            summary['diverged_step'] = progress.diverged_step
        if status == workdir_lib.PREEMPTED:
            summary['preempted_step'] = stopped_step
        else:  # The test split waits for the finished run.
            summary['test'] = None
            if progress.best_step is not None:
                summary['test'] = test_results[member.index]
                if summary['train'] is not None:
                    summary['gap'] = {
                        'loss': progress.best_val['loss'] - progress.best_train['loss']
                    }
                    if not regression:
                        summary['gap']['accuracy'] = (
                            progress.best_train['accuracy'] - progress.best_val['accuracy']
                        )
            logging.info(
                '%sBest step %s on validation %s: val %s, test %s.',
                f'Seed {member.seed}: ' if stacked else '',
                progress.best_step,
                config.train.select_metric,
                _brief(summary['val']),
                _brief(summary['test']),
            )
        summaries.append(summary)
    if not stacked:
        return summaries[0]
    for member, summary in zip(members, summaries, strict=True):
        _write_summary(member.workdir, workdir_lib.Summary.from_dict(summary))
    return _group_summary(config, workdir, members, summaries, start)


def _group_summary(config, workdir, members, summaries, start) -> dict:
    """The summary of a vmapped-seeds run: its status and where each seed's summary is.

    'preempted' if it stopped early, 'diverged' if every seed did, else 'done' (each seed's own
    summary.json says whether it diverged).
    """
    statuses = [s['status'] for s in summaries]
    if workdir_lib.PREEMPTED in statuses:
        status = workdir_lib.PREEMPTED
    elif all(s == workdir_lib.DIVERGED for s in statuses):
        status = workdir_lib.DIVERGED
    else:
        status = workdir_lib.DONE
    group = {
        'status': status,
        'select_metric': config.train.select_metric,
        'params': summaries[0]['params'],
        'best_step': None,
        'wall_time_s': time.time() - start,
        'vmap_seeds': len(members),
        'members': [
            {
                'seed': m.seed,
                'dir': os.path.relpath(m.workdir, workdir),
                'status': s['status'],
                'best_step': s['best_step'],
            }
            for m, s in zip(members, summaries, strict=True)
        ],
    }
    if status == workdir_lib.PREEMPTED:
        group['preempted_step'] = summaries[0]['preempted_step']
    if status == workdir_lib.DIVERGED:
        group['diverged_step'] = min(s['diverged_step'] for s in summaries)
    return group


def _member_floats(step_metrics: dict, index: int, stacked: bool) -> dict[str, float]:
    """One seed's values of one step's (fetched) metrics."""
    return {
        key: float(np.asarray(value)[index] if stacked else value)
        for key, value in step_metrics.items()
    }


def _stack_pending(per_member: list[list[dict]], stacked: bool) -> list:
    """Checkpointed per-seed pending step metrics back into the loop's (stacked) form."""
    if not stacked:
        return list(per_member[0])
    return [
        {key: np.asarray([m[i][key] for m in per_member]) for key in per_member[0][i]}
        for i in range(len(per_member[0]))
    ]


def _keep_best(best_params, params, improved: list[int], stacked: bool):
    """A copy of the params of the seeds that improved, the others' best kept."""
    if not stacked or best_params is None:
        return jax.tree.map(jnp.copy, params)
    index = jnp.asarray(improved)
    return jax.tree.map(lambda b, p: b.at[index].set(p[index]), best_params, params)


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
    diverged_step: int | None = None

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
    if 'mse' in result:
        return f'mse {result["mse"]:.4f} mae {result["mae"]:.4f} r2 {result["r2"]:.3f}'
    return (
        f'acc {result["accuracy"]:.3f} macro-F1 {result["macro_f1"]:.3f} loss {result["loss"]:.4f}'
    )


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return '?'
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f'{hours}:{minutes:02d}:{secs:02d}' if hours else f'{minutes}:{secs:02d}'
