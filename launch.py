"""Command-line entry point: the flags, then one ecgdepth/commands.py call per mode (see there
for examples of each: run, --sweep, --submit=slurm, --report, --status, --evaluate)."""

import os
import sys

from absl import app, flags
from ml_collections import config_flags

from ecgdepth import cluster, commands, logs, workdir

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    None,
    'A config file, optionally with a spec: configs/lstm.py:depth=4,runlocal.',
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string('workdir', None, "Directory for this run's outputs.", required=True)
_SWEEP = flags.DEFINE_bool('sweep', False, '--config is a sweep file: run each of its trials.')
flags.DEFINE_integer('workers', 1, 'Sweep: local worker processes.', lower_bound=1)
flags.DEFINE_integer(
    'task_index',
    None,
    f'Sweep: run only trial i (default: ${workdir.SLURM_TASK_ENV} if set, else all).',
    lower_bound=0,
)
flags.DEFINE_bool('dry_run', False, 'Sweep: list the trials (index, id, overrides).')
flags.DEFINE_bool('retry_failed', False, 'Sweep: re-run failed trials too.')
flags.DEFINE_float(
    'claim_timeout',
    workdir.DEFAULT_STALE_AFTER,
    'Sweep: seconds without a heartbeat after which a claimed trial is taken over.',
    lower_bound=0.1,
)
flags.DEFINE_bool('vmap_seeds', False, 'Sweep: trials differing only in seed run as one program.')
_SUBMIT = flags.DEFINE_enum(
    'submit',
    '',
    cluster.SUBMIT_CHOICES,
    "'' runs here; 'slurm' submits to SLURM with config.cluster's resources and returns.",
)
_WAIT = flags.DEFINE_bool('wait', False, '--submit: wait for the job(s) and report the results.')
_REPORT = flags.DEFINE_bool('report', False, "Write a sweep's report (after --sweep, or alone).")
_STATUS = flags.DEFINE_bool('status', False, "Print WORKDIR's sweep (or run) status, at any time.")
_EVALUATE = flags.DEFINE_string(
    'evaluate', '', "Score WORKDIR's finished run on its config's data (with --config.data.*)."
)
_EVAL_SPLIT = flags.DEFINE_enum(
    'eval_split', 'all', ['all', 'train', 'validation', 'test'], '--evaluate: what is scored.'
)


def main(argv):
    logs.quiet_console()  # Other libraries' INFO lines only with --verbosity=1 or more.
    f, config, workdir = flags.FLAGS, _CONFIG.value, _WORKDIR.value
    source = None if config is None else f['config'].config_filename
    options = commands.SweepOptions(**{name: f[name].value for name in commands.SWEEP_FLAGS})
    given = [name for name in commands.SWEEP_FLAGS if f[name].present]
    try:
        mode = commands.check_flags(argv[1:], source, sweep=_SWEEP.value, report=_REPORT.value,
            submit=_SUBMIT.value, wait=_WAIT.value, options=options, given=given,
            evaluate=_EVALUATE.value, status=_STATUS.value)  # fmt: skip
        if mode == commands.STATUS:
            return commands.status(workdir)
        if mode == commands.EVALUATE:
            return commands.evaluate(config, workdir, _EVALUATE.value, _EVAL_SPLIT.value)
        if mode == commands.REPORT:
            return commands.report(workdir)
        if mode == commands.RUN:
            return commands.run(config, workdir)
        overrides = config_flags.get_override_values(f['config'])
        if mode == commands.SWEEP:
            code = commands.sweep(config, workdir, source, overrides, options)
        else:  # --submit=slurm: one run, or with --sweep the sweep's trials.
            source = source if _SWEEP.value else None
            code = commands.submit(config, workdir, source, overrides, options, wait=_WAIT.value)
        return commands.report(workdir, code) if _REPORT.value else code
    except commands.UsageError as error:  # The one place a command's error is printed.
        usage_error(str(error))


def usage_error(line: str) -> None:
    """A mistake on the command line: one line on stderr, exit status 2 (no traceback, no
    flag listing: --help prints that)."""
    print(f'launch.py: error: {line}', file=sys.stderr, flush=True)
    sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parsing, its errors and the config file's as one line each (usage_error)."""
    try:
        rest = flags.FLAGS(argv)
        if _CONFIG.value is not None:
            _CONFIG.value.keys()  # A config file that failed to load raises here.
    except Exception as error:  # noqa: BLE001  (whatever parsing raised: named, not dumped)
        usage_error(commands.error_line(error, argv))
    return rest


if __name__ == '__main__':
    configs = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs')
    app.run(main, argv=commands.evaluate_argv(sys.argv, configs), flags_parser=parse_flags)
