"""Command-line entry point: flags in, `train_and_evaluate(config, workdir)` out.

python launch.py --config=configs/lstm.py:depth=4,width=64,runlocal --workdir=/tmp/lstm
python launch.py --config=configs/dilated_cnn.py --workdir=/tmp/cnn --config.model.depth=16

With --sweep, --config is a sweep file (get_config + get_sweep; ecgdepth/sweep.py) and every
trial runs into WORKDIR/<trial-id>/ (ecgdepth/trial.py):
python launch.py --config=configs/sweeps/depth.py:runlocal --workdir=/tmp/depth --sweep
"""

from absl import app, flags, logging
from ml_collections import config_flags

from ecgdepth import sweep, trial, validation
from ecgdepth.train import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    None,
    'A config file, optionally with a spec: configs/lstm.py:depth=4,runlocal.',
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string('workdir', None, "Directory for this run's outputs.")
flags.mark_flags_as_required(['config', 'workdir'])
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
_SWEEP_ONLY = (_WORKERS, _TASK_INDEX, _DRY_RUN, _RETRY_FAILED, _CLAIM_TIMEOUT)


def run_sweep() -> int:
    """--sweep: expand and validate every trial, then run them (trial.launch_sweep)."""
    config_flag = flags.FLAGS['config']
    try:
        return trial.launch_sweep(
            config_flag.config_filename,
            _WORKDIR.value,
            base=_CONFIG.value,
            base_overrides=config_flags.get_override_values(config_flag),
            task_index=_TASK_INDEX.value,
            workers=_WORKERS.value,
            dry_run=_DRY_RUN.value,
            retry_failed=_RETRY_FAILED.value,
            stale_after=_CLAIM_TIMEOUT.value,
        )
    except (validation.ConfigError, sweep.SweepError) as error:
        raise app.UsageError(str(error)) from None


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if _SWEEP.value:
        return run_sweep()
    used = [f'--{f.name}' for f in _SWEEP_ONLY if flags.FLAGS[f.name].present]
    if used:
        raise app.UsageError(f'{", ".join(used)} only apply with --sweep.')
    config_file = sweep.split_source(flags.FLAGS['config'].config_filename)[0]
    if sweep.is_sweep_file(config_file):
        raise app.UsageError(f'{config_file} is a sweep file: add --sweep to run its trials.')
    config = _CONFIG.value
    try:
        validation.validate_config(config)
    except validation.ConfigError as error:
        raise app.UsageError(str(error)) from None
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
