"""The Trainer: one run of train_and_evaluate in named parts (after init2winit's base_trainer).

setup_and_maybe_restore() loads the data, builds the model, state and members, places the data
on the device, compiles, sets up diagnostics and restores the latest checkpoint. train() steps,
and at their cadences logs progress, evaluates and keeps the best step, and checkpoints; then
summarise() evaluates the test split once, with the best step's params, and builds the
workdir.Summary of every seed. The jitted update and evaluation are in programs.py and step.py.
"""

from __future__ import annotations

import math
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from ecgdepth import data as data_lib
from ecgdepth import diagnostics, distributed, files, models, validation
from ecgdepth import workdir as workdir_lib
from ecgdepth.checkpoint import Checkpointer
from ecgdepth.data import subsample
from ecgdepth.train import members as members_lib
from ecgdepth.train import optim, programs
from ecgdepth.train import state as state_lib
from ecgdepth.train import step as step_lib
from ecgdepth.train import summary as summary_lib
from ecgdepth.train.members import Member, Progress
from ecgdepth.workdir import Summary


class Trainer:
    """Trains the seeds config.seed, config.seed + 1, ... (train.vmap_seeds of them) as one
    program: stacked along a leading axis when there are several, each keyed exactly as its
    own run would be (same init, data order, dropout). `preemption.requested` stops it with a
    checkpoint."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str, start: float, preemption):
        self.config = config
        self.workdir = workdir
        self.start = start  # Epoch seconds: wall times count from here.
        self.preemption = preemption
        self.mesh = distributed.data_mesh()
        self.replicated = distributed.replicated(self.mesh)
        self.regression = config.task == 'regression'
        self.num_steps = config.train.num_steps
        self.num_seeds = config.train.vmap_seeds
        self.stacked = self.num_seeds > 1
        self.seeds = [config.seed + k for k in range(self.num_seeds)]
        self.members: list[Member] = []
        self.pending: list = []  # Step metrics not yet logged (device arrays; a seed axis).
        self.best_params = None  # Of each seed's best step so far.
        self.checkpointer: Checkpointer | None = None
        self.start_step = 0
        self.stopped_step: int | None = None  # Where a preemption checkpointed.
        self.interval_start: float | None = None  # Of the steps being timed (after compiling).
        self.interval_first_step = 0

    def member_view(self, tree, k: int):
        """Seed k's part of a (stacked) tree."""
        return jax.tree.map(lambda a: a[k], tree) if self.stacked else tree

    # ----------------------------------------------------------------------------------------
    # Set-up.
    # ----------------------------------------------------------------------------------------

    def setup_and_maybe_restore(self) -> None:
        self.load_data()
        self.init_state()
        self.members = self.make_members()
        self.place_data()
        self.compile()
        self.setup_diagnostics()
        self.maybe_restore()
        for member in self.members:
            member.open(self.start_step)
        if self.probe is not None and self.start_step == 0:
            for member in self.members:
                params = self.member_view(self.state.params, member.index)
                member.record({'type': 'diagnostics', 'step': 0, **self.probe(params)})

    def load_data(self) -> None:
        """The dataset (the chief loads first, caching it), its checks and the loss."""
        config = self.config
        dataset = distributed.chief_first(lambda: data_lib.load(config.data))
        self.dataset = dataset = data_lib.for_task(dataset, config.task)
        self.train_split = train = dataset.splits['train']
        self.num_train = num_train = len(train['y'])
        self.num_classes = dataset.num_classes
        if config.train.batch_size > num_train:
            raise validation.ConfigError(
                f'config.train.batch_size ({config.train.batch_size}) exceeds the {num_train} '
                f'training examples of {dataset.name}.'
            )
        check_input = models.get(config.model.name).input_check
        time_steps = dataset.input_shape[0]
        where = f'the {time_steps} samples per example of {dataset.name}'
        problem = check_input(config.model, time_steps, where) if check_input else None
        if problem:  # The family's rule against the data as loaded (e.g. the MI-MLP's pool).
            raise validation.ConfigError(problem)
        # Regression: one output, the prediction.
        self.num_outputs = 1 if self.regression else self.num_classes
        self.loss_spec = step_lib.LossSpec(
            num_classes=self.num_outputs,
            label_smoothing=float(config.loss.label_smoothing),
            class_weights=None
            if self.regression
            else programs.resolve_class_weights(
                config.loss.class_weights, train['y'], self.num_classes
            ),
            task=config.task,
        )

    def init_state(self) -> None:
        """The model, optimiser and (stacked) train state, from each seed's own key."""
        config, stacked = self.config, self.stacked
        keys = jnp.stack([jax.random.split(jax.random.PRNGKey(seed)) for seed in self.seeds])
        init_rng, self.data_rng = (keys[:, 0], keys[:, 1]) if stacked else (keys[0, 0], keys[0, 1])
        self.model = models.build_model(config.model, self.num_outputs)
        tx, self.lr_multiplier = optim.create_optimizer(config.optim, self.num_steps)
        self.state = state_lib.create_train_state(
            self.model, tx, self.train_split, init_rng, sharding=self.replicated, stacked=stacked
        )
        self.num_params = models.count_params(self.member_view(self.state.params, 0))
        logging.info(
            '%s on %s: %d parameters, %d classes, input %s, %d train examples, %d device(s)%s.',
            config.model.name,
            self.dataset.name,
            self.num_params,
            self.num_classes,
            self.dataset.input_shape,
            self.num_train,
            self.mesh.size,
            f', seeds {self.seeds} as one vmapped program' if stacked else '',
        )

    def make_members(self) -> list[Member]:
        """One member per seed; vmapped seeds each get a config.json and a running summary."""
        members = members_lib.make_members(self.workdir, self.seeds, self.stacked)
        if self.stacked:
            for member in members:
                os.makedirs(member.workdir, exist_ok=True)
                members_lib.write_text(
                    os.path.join(member.workdir, workdir_lib.CONFIG_FILE),
                    members_lib.config_json(members_lib.member_config(self.config, member.seed)),
                )
                members_lib.write_summary(
                    member.workdir, Summary(status=workdir_lib.RUNNING, start_time=self.start)
                )
        return members

    def place_data(self) -> None:
        """The train split and the evaluated splits, on the device once."""
        train_config, mesh, train = self.config.train, self.mesh, self.train_split
        self.steps_per_epoch = self.num_train // train_config.batch_size
        # Every process loaded the same data; device_put to a replicated sharding then only
        # copies each process's host arrays to its own devices.
        train = {key: value for key, value in train.items() if key != 'group'}  # Not scored.
        self.train_device = jax.device_put(train, self.replicated)
        eval_batch_size = train_config.eval_batch_size
        val_split = self.dataset.splits['validation']
        self.eval_splits = {
            'validation': programs.place_eval_split(val_split, eval_batch_size, mesh)
        }
        self.eval_host = {'validation': val_split}  # Labels, recordings, regression baselines.
        if train_config.eval_train_examples:
            n = min(train_config.eval_train_examples, self.num_train)
            self.eval_host['train'] = programs.subset(train, n)
            self.eval_splits['train'] = programs.place_eval_split(
                self.eval_host['train'], eval_batch_size, mesh
            )

    def compile(self) -> None:
        """The jitted update, evaluation and per-epoch permutation (compiled on first use)."""
        config, mesh, stacked = self.config, self.mesh, self.stacked
        self.train_fn = programs.make_train_fn(
            self.loss_spec, config.train.batch_size, self.steps_per_epoch, mesh, stacked
        )
        self.eval_fn = programs.make_eval_fn(
            self.model.apply, self.num_outputs, mesh, stacked, config.task
        )
        self.permute = programs.make_permute(self.num_train, stacked, self.replicated)

    def setup_diagnostics(self) -> None:
        """Static diagnostics (FLOPs, receptive field) and the per-evaluation probe."""
        self.static_diagnostics, self.probe = {}, None
        config = self.config
        if not config.train.diagnostics:
            return
        dataset, val_split = self.dataset, self.dataset.splits['validation']
        params = self.member_view(self.state.params, 0)
        self.static_diagnostics = {
            'flops_per_example': diagnostics.flops_per_example(
                self.model, params, programs.subset(val_split, 1)
            ),
            **diagnostics.receptive_field(
                config.model, dataset.sample_rate, dataset.input_shape[0]
            ),
        }
        if jax.process_count() > 1:
            logging.warning('Per-evaluation diagnostics run in single-process jobs only.')
            return
        chosen = subsample.random_indices(len(val_split['y']), config.train.diagnostic_examples)
        self.probe = diagnostics.Probe(
            self.model, subsample.take(val_split, chosen), dataset.sample_rate, params
        )

    def maybe_restore(self) -> None:
        """With checkpointing, the latest checkpoint's state, best params and bookkeeping."""
        if not self.config.train.checkpoint_every:
            return
        self.checkpointer = Checkpointer(os.path.join(self.workdir, workdir_lib.CHECKPOINT_DIR))
        restored = self.checkpointer.restore(
            {'state': self.state, 'best_params': self.state.params}
        )
        if restored is None:
            return
        self.start_step, arrays, meta = restored
        self.state = arrays['state']
        metas = meta['members'] if self.stacked else [meta]
        for member, member_meta in zip(self.members, metas, strict=True):
            member.progress = Progress.from_meta(member_meta)
        if any(m.progress.best_step is not None for m in self.members):
            self.best_params = arrays['best_params']
        self.pending = members_lib.stack_pending(
            [m.progress.pending for m in self.members], self.stacked
        )
        logging.info(
            'Resuming from the checkpoint at step %d of %d.', self.start_step, self.num_steps
        )
        for member in self.members:
            member.progress.pending = []

    # ----------------------------------------------------------------------------------------
    # Training.
    # ----------------------------------------------------------------------------------------

    def train(self) -> Summary:
        """Sets up, trains to num_steps (or a preemption, or every seed diverged), summarises."""
        try:
            self.setup_and_maybe_restore()
            self.run_steps()
        finally:
            if self.checkpointer is not None:
                self.checkpointer.close()
            for member in self.members:
                member.close()
        return self.summarise()

    def run_steps(self) -> None:
        self.interval_start, self.interval_first_step = None, self.start_step
        permutation = None
        for step in range(self.start_step, self.num_steps):
            if not any(m.live for m in self.members):
                break
            if self.should_preempt(step):
                self.save(step)
                self.stopped_step = step
                logging.warning('SIGTERM: checkpointed at step %d; relaunch to resume.', step)
                break
            if step % self.steps_per_epoch == 0 or permutation is None:
                permutation = self.permute(self.data_rng, step // self.steps_per_epoch)
            self.state, step_metrics = self.train_fn(self.state, self.train_device, permutation)
            self.pending.append(step_metrics)
            self.after_step(step + 1, step_metrics)

    def after_step(self, done: int, step_metrics) -> None:
        """What is due after `done` steps: log, evaluate, checkpoint (each restarts timing)."""
        train_config, last = self.config.train, done == self.num_steps
        if self.interval_start is None:  # Exclude compilation from the speed.
            jax.block_until_ready(step_metrics)
            self.restart_interval(done)
            self.preemption.arm()  # A SIGTERM from here on checkpoints.
        if done % train_config.log_every == 0 or last:
            self.log_progress(done)
            self.restart_interval(done)
        if done % train_config.eval_every == 0 or last:
            self.evaluate_and_keep_best(done)
            self.restart_interval(done)
        if self.checkpointer is not None and (done % train_config.checkpoint_every == 0 or last):
            self.save(done)
            self.restart_interval(done)

    def restart_interval(self, done: int) -> None:
        self.interval_start, self.interval_first_step = time.time(), done

    def should_preempt(self, step: int) -> bool:
        """Whether to checkpoint and stop before `step`. SIGTERM reaches each process at its own
        step, so several processes agree (one small all-gather) where they sync anyway."""
        if jax.process_count() == 1:
            return self.preemption.requested and self.checkpointer is not None
        if self.checkpointer is None or step % self.config.train.log_every:
            return False
        return distributed.any_process(self.preemption.requested)

    def save(self, step: int) -> None:
        """Checkpoints the state, the best params and every member's bookkeeping at `step`."""
        fetched = jax.device_get(self.pending)
        for member in self.members:
            member.progress.pending = [
                members_lib.member_floats(m, member.index, self.stacked) for m in fetched
            ]
        arrays = {
            'state': self.state,
            'best_params': self.state.params if self.best_params is None else self.best_params,
        }
        metas = [files.json_safe(m.progress.to_meta()) for m in self.members]
        self.checkpointer.save(step, arrays, {'members': metas} if self.stacked else metas[0])
        for member in self.members:
            member.progress.pending = []

    def diverge(self, member: Member, step: int, where: str) -> None:
        logging.warning(
            'Seed %d diverged: non-finite %s loss at step %d.', member.seed, where, step
        )
        member.progress.diverged_step = step
        member.record({'type': 'diverged', 'step': step})

    # ----------------------------------------------------------------------------------------
    # Logging.
    # ----------------------------------------------------------------------------------------

    def log_progress(self, done: int) -> None:
        """Fetches the pending step metrics: one train record and log line per live seed."""
        fetched = jax.device_get(self.pending)
        elapsed = time.time() - self.interval_start
        lr = float(
            optim.current_learning_rate(
                self.member_view(self.state.opt_state, 0), self.lr_multiplier, done - 1
            )
        )
        for member in self.members:
            if member.live:
                values = [members_lib.member_floats(m, member.index, self.stacked) for m in fetched]
                self.log_member(member, values, elapsed, lr, done)
        self.pending = []

    def log_member(
        self, member: Member, values: list[dict], elapsed: float, lr: float, done: int
    ) -> None:
        progress = member.progress
        progress.train_seconds += elapsed
        progress.timed_steps += done - self.interval_first_step
        bad = [i for i, v in enumerate(values) if not math.isfinite(v['loss'])]
        if bad:
            self.diverge(member, done - len(values) + bad[0] + 1, 'training')
            return
        progress.last_train = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
        steps_per_s = progress.steps_per_s() or float('nan')
        member.record(
            {
                'type': 'train',
                'step': done,
                **progress.last_train,
                'learning_rate': lr,
                'steps_per_s': steps_per_s,
            }
        )
        eta = (self.num_steps - done) / steps_per_s if steps_per_s > 0 else float('nan')
        logging.info(
            '%sstep %d/%d  loss %.4f  %s %.3f  |g| %.3g  lr %.2e  %.1f steps/s  ETA %s',
            f'seed {member.seed}: ' if self.stacked else '',
            done,
            self.num_steps,
            progress.last_train['loss'],
            'mae' if self.regression else 'acc',
            progress.last_train[self.loss_spec.score_name],
            progress.last_train['grad_norm'],
            lr,
            steps_per_s,
            summary_lib.format_seconds(eta),
        )

    # ----------------------------------------------------------------------------------------
    # Evaluation and the best step.
    # ----------------------------------------------------------------------------------------

    def evaluate(self, params, split: dict, host: dict[str, np.ndarray]) -> list[dict]:
        """Metrics of each member's params on a placed split (`host`: its host arrays)."""
        totals = jax.device_get(self.eval_fn(params, split))
        return [
            programs.score(self.member_view(totals, m.index), host, self.dataset)
            for m in self.members
        ]

    def evaluate_and_keep_best(self, done: int) -> None:
        """Evaluates every split of eval_splits; keeps the params of the seeds that improved."""
        results = {
            name: self.evaluate(self.state.params, split, self.eval_host[name])
            for name, split in self.eval_splits.items()
        }
        improved = []
        for member in self.members:
            if not member.live:
                continue
            result = {name: r[member.index] for name, r in results.items()}
            if self.record_eval(member, result, done):
                improved.append(member.index)
        if improved:
            self.keep_best(improved)

    def record_eval(self, member: Member, result: dict, done: int) -> bool:
        """One seed's eval record and log line; whether its validation metric improved."""
        progress, train_config = member.progress, self.config.train
        if not math.isfinite(result['validation']['loss']):
            self.diverge(member, done, 'validation')
            return False
        if self.probe is not None:
            result['diagnostics'] = self.probe(self.member_view(self.state.params, member.index))
        member.record({'type': 'eval', 'step': done, **result})
        value = programs.select_value(
            result['validation'], train_config.select_metric, self.config.task, self.dataset.scores
        )
        improved = progress.best_step is None or value > progress.best_value
        if improved:
            progress.best_value, progress.best_step = value, done
            progress.best_val = result['validation']
            progress.best_train = result.get('train')
            progress.best_diagnostics = result.get('diagnostics')
        logging.info(
            '%seval step %d  val %s  (best step %d)',
            f'seed {member.seed}: ' if self.stacked else '',
            done,
            summary_lib.brief(result['validation'], self.dataset.scores),
            progress.best_step,
        )
        return improved

    def keep_best(self, improved: list[int]) -> None:
        """A copy of the current params of the seeds (indices) that improved."""
        self.best_params = members_lib.keep_best(
            self.best_params, self.state.params, improved, self.stacked
        )

    # ----------------------------------------------------------------------------------------
    # Summaries.
    # ----------------------------------------------------------------------------------------

    def summarise(self) -> Summary:
        """The run's summary: the one seed's, or a vmapped group's (each seed's is written)."""
        test_results = self.evaluate_test()
        if test_results is not None:  # Finished: the selected params, for --evaluate.
            for member in self.members:
                if member.progress.best_step is not None:
                    params = self.member_view(self.best_params, member.index)
                    members_lib.write_params(member.workdir, params)
        summaries = [self.member_summary(m, test_results) for m in self.members]
        if not self.stacked:
            return summaries[0]
        for member, summary in zip(self.members, summaries, strict=True):
            members_lib.write_summary(member.workdir, summary)
        return summary_lib.group_summary(
            self.config.train.select_metric,
            self.workdir,
            self.members,
            summaries,
            time.time() - self.start,
        )

    def evaluate_test(self) -> list[dict] | None:
        """The test split, evaluated once with the best params, when the run finished."""
        if self.stopped_step is not None or self.best_params is None:
            return None
        test = self.dataset.splits['test']
        split = programs.place_eval_split(test, self.config.train.eval_batch_size, self.mesh)
        return self.evaluate(self.best_params, split, test)

    def member_summary(self, member: Member, test_results: list[dict] | None) -> Summary:
        config, progress = self.config, member.progress
        summary = Summary(
            status=summary_lib.member_status(member, self.stopped_step is not None),
            params=self.num_params,
            model=config.model.name,
            variant=models.get(config.model.name).label(config.model.to_dict()),
            dataset=self.dataset.name,
            task=config.task,
            num_classes=self.num_classes,
            class_names=list(self.dataset.class_names),
            num_steps=self.num_steps,
            best_step=progress.best_step,
            select_metric=config.train.select_metric,
            select_direction=validation.select_direction(
                config.task, config.train.select_metric, self.dataset.scores
            ),
            val=progress.best_val,
            train=progress.best_train,
            final_train=progress.last_train,
            wall_time_s=time.time() - self.start,
            steps_per_s=progress.steps_per_s(),
            extra={
                **summary_lib.dataset_info(self.dataset.info),
                **self.static_diagnostics,
                **(progress.best_diagnostics or {}),  # At the best step.
            },
            **summary_lib.initial_diagnostics(progress.initial_diagnostics),
        )
        if self.stacked:
            summary.seed, summary.vmap_seeds = member.seed, self.num_seeds
        if summary.status == workdir_lib.DIVERGED:
            summary.diverged_step = progress.diverged_step
        if summary.status == workdir_lib.PREEMPTED:
            summary.preempted_step = self.stopped_step
        else:  # The test split waits for the finished run.
            self.add_test(summary, member, test_results)
        return summary

    def add_test(self, summary: Summary, member: Member, test_results: list[dict] | None):
        """The test metrics (and the gap) of a finished seed's summary, and its log line."""
        summary.test = None
        if summary.best_step is not None:
            summary.test = test_results[member.index]
            if summary.train is not None:
                summary.gap = summary_lib.gap(summary.val, summary.train, self.regression)
        logging.info(
            '%sBest step %s on validation %s: val %s, test %s.',
            f'Seed {member.seed}: ' if self.stacked else '',
            summary.best_step,
            self.config.train.select_metric,
            summary_lib.brief(summary.val, self.dataset.scores),
            summary_lib.brief(summary.test, self.dataset.scores),
        )
