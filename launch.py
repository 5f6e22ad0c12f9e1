"""Command-line entry point: flags in, `train_and_evaluate(config, workdir)` out.

python launch.py --config=configs/lstm.py:depth=4,width=64,runlocal --workdir=/tmp/lstm
python launch.py --config=configs/dilated_cnn.py --workdir=/tmp/cnn --config.model.depth=16

With --sweep, --config is a sweep file (get_config + get_sweep; ecgdepth/sweep.py) and every
trial runs into WORKDIR/<trial-id>/ (ecgdepth/trial.py):
python launch.py --config=configs/sweeps/depth.py:runlocal --workdir=/tmp/depth --sweep

--submit=slurm submits instead, with config.cluster's resources (ecgdepth/cluster.py): a run as
one job, a sweep as one array job of its unfinished trials; --wait blocks until they end.

--report writes a sweep's report (ecgdepth/report.py) and prints its table and path: after
--sweep, or alone on an existing sweep workdir (no --config needed):
python launch.py --workdir=/tmp/depth --report
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from ecgdepth import cluster, distributed, results, sweep, trial, validation
from ecgdepth import report as report_lib
from ecgdepth.train import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    None,
    'A config file, optionally with a spec: configs/lstm.py:depth=4,runlocal.',
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string('workdir', None, "Directory for this run's outputs.")
flags.mark_flags_as_required(['workdir'])  # --config too, except for --report alone.
_SWEEP = flags.DEFINE_bool('sweep', False, '--config is a sweep file: run each of its trials.')
_WORKERS = flags.DEFINE_integer('workers', 1, 'Sweep: local worker processes.', lower_bound=1)
_TASK_INDEX = flags.DEFINE_integer(
    'task_index',
    None,
    f'Sweep: run only trial i (default: ${trial.SLURM_TASK_ENV} if set, else all).',
    lower_bound=0,
)
_DRY_RUN = flags.DEFINE_bool('dry_run', False, 'Sweep: list the trials (index, id, overrides).')
_RETRY_FAILED = flags.DEFINE_bool('retry_failed', False, 'Sweep: re-run failed trials too.')
_CLAIM_TIMEOUT = flags.DEFINE_float(
    'claim_timeout',
    trial.DEFAULT_STALE_AFTER,
    'Sweep: seconds without a heartbeat after which a claimed trial is taken over.',
    lower_bound=0.1,
)
_VMAP_SEEDS = flags.DEFINE_bool(
    'vmap_seeds',
    False,
    'Sweep: trials that differ only in their seed run as one vmapped program each '
    '(config.train.vmap_seeds); each seed still gets its own results.',
)
_SWEEP_ONLY = (_WORKERS, _TASK_INDEX, _DRY_RUN, _RETRY_FAILED, _CLAIM_TIMEOUT, _VMAP_SEEDS)
_SUBMIT = flags.DEFINE_enum(
    'submit',
    '',
    cluster.SUBMIT_CHOICES,
    "'' runs here; 'slurm' submits to SLURM with config.cluster's resources and returns.",
)
_WAIT = flags.DEFINE_bool('wait', False, '--submit: wait for the job(s) and report the results.')
_REPORT = flags.DEFINE_bool(
    'report',
    False,
    "Write the sweep's report into WORKDIR/report and print its table and path: after --sweep, "
    'or alone on an existing sweep workdir.',
)


def run_sweep() -> int:
    """--sweep: expand and validate every trial, then run them (trial.launch_sweep)."""
    config_flag = flags.FLAGS['config']
    # Resources (config.cluster) are not part of any trial's config: see ecgdepth/cluster.py.
    base = cluster.without_cluster(_CONFIG.value)
    overrides = cluster.run_overrides(config_flags.get_override_values(config_flag))
    try:
        validation.validate_cluster(_CONFIG.value)
        if _SUBMIT.value:
            return submit_sweep(config_flag.config_filename, base, overrides)
        return trial.launch_sweep(
            config_flag.config_filename,
            _WORKDIR.value,
            base=base,
            base_overrides=overrides,
            task_index=_TASK_INDEX.value,
            workers=_WORKERS.value,
            dry_run=_DRY_RUN.value,
            retry_failed=_RETRY_FAILED.value,
            stale_after=_CLAIM_TIMEOUT.value,
            vmap=_VMAP_SEEDS.value,
        )
    except (validation.ConfigError, sweep.SweepError, cluster.ClusterError) as error:
        raise app.UsageError(str(error)) from None


def submit_sweep(source: str, base, overrides) -> int:
    """--sweep --submit=slurm: validate every trial here, submit the unfinished ones."""
    for flag in (_WORKERS, _DRY_RUN):
        if flag.present:
            raise app.UsageError(
                f'--{flag.name} runs locally; with --submit=slurm each trial is an array task '
                '(config.cluster.array_parallelism caps how many run at once).'
            )
    loaded = sweep.load_sweep(source, base=base, base_overrides=overrides, vmap=_VMAP_SEEDS.value)
    return cluster.submit_sweep(
        _CONFIG.value,
        loaded.trials,
        _WORKDIR.value,
        sys.argv[1:],
        source=source,
        task_index=_TASK_INDEX.value,
        retry_failed=_RETRY_FAILED.value,
        wait=_WAIT.value,
    )


def write_report(code: int = 0) -> int:
    """--report: the sweep workdir's tables, figures and report.md; prints the table and path."""
    try:
        report = report_lib.run(_WORKDIR.value)
    except results.ResultsError as error:
        raise app.UsageError(str(error)) from None
    print(report.markdown)
    print(f'Report: {report.path}')
    return code


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if _REPORT.value and not _SWEEP.value:
        return write_report()  # Reads files only: no config, no JAX.
    if _CONFIG.value is None:
        raise app.UsageError('--config is required (except for --report alone).')
    distributed.initialize()  # Joins a multi-process job, if any: before any JAX computation.
    if _WAIT.value and not _SUBMIT.value:
        raise app.UsageError('--wait only applies with --submit=slurm.')
    if _SWEEP.value:
        if _REPORT.value and (_DRY_RUN.value or (_SUBMIT.value and not _WAIT.value)):
            raise app.UsageError(
                '--report needs the trials to have run: not with --dry_run, and with '
                '--submit=slurm only with --wait (or run launch.py --workdir=W --report later).'
            )
        code = run_sweep()
        return write_report(code) if _REPORT.value else code
    used = [f'--{f.name}' for f in _SWEEP_ONLY if flags.FLAGS[f.name].present]
    if used:
        raise app.UsageError(f'{", ".join(used)} only apply with --sweep.')
    config_file = sweep.split_source(flags.FLAGS['config'].config_filename)[0]
    if sweep.is_sweep_file(config_file):
        raise app.UsageError(f'{config_file} is a sweep file: add --sweep to run its trials.')
    config = _CONFIG.value
    try:
        validation.validate_config(config)
        if _SUBMIT.value:
            return cluster.submit_run(config, _WORKDIR.value, sys.argv[1:], wait=_WAIT.value)
    except (validation.ConfigError, cluster.ClusterError) as error:
        raise app.UsageError(str(error)) from None
    config = cluster.without_cluster(config)
    logging.info('Config:\n%s', config)
    summary = train_and_evaluate(config, _WORKDIR.value)
    logging.info(
        'Status %s, best step %s. Outputs in %s.',
        summary['status'],
        summary['best_step'],
        _WORKDIR.value,
    )


if __name__ == '__main__':
    app.run(main)
