"""Command-line entry point: flags in, `train_and_evaluate(config, workdir)` out.

python launch.py --config=configs/lstm.py:depth=4,width=64,runlocal --workdir=/tmp/lstm
python launch.py --config=configs/dilated_cnn.py --workdir=/tmp/cnn --config.model.depth=16
"""

from absl import app, flags, logging
from ml_collections import config_flags

from ecgdepth import validation
from ecgdepth.train import train_and_evaluate

_CONFIG = config_flags.DEFINE_config_file(
    'config',
    None,
    'A config file, optionally with a spec: configs/lstm.py:depth=4,runlocal.',
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string('workdir', None, "Directory for this run's outputs.")
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
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
