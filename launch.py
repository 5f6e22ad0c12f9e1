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
    return commands.main(flags.FLAGS, argv[1:])


if __name__ == '__main__':
    configs = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs')
    argv = commands.evaluate_argv(sys.argv, configs)
    app.run(main, argv=argv, flags_parser=commands.flags_parser(flags.FLAGS))
