"""Depth sweep: every model family at depths 1 to 64 (powers of two), several seeds.

python launch.py --config=configs/sweeps/depth.py:runlocal --workdir=/tmp/depth --sweep --report
python launch.py --config=configs/sweeps/depth.py:iso=100000 --workdir=/tmp/iso --sweep --dry_run

Spec keys besides the family spec (runlocal, data=NAME, dotted keys): `iso=N` solves each
trial's width for N parameters (within 5 %), so depth is compared at a fixed parameter budget;
`seeds=N` sets the number of seeds (default 3, runlocal 2). runlocal: depths 1, 2, 4, and on
the synthetic data the RUNLOCAL_SYNTHETIC settings (keys set in the spec win).
"""

from configs import common, dilated_cnn
from ecgdepth import sweep

SWEEP_KEYS = ('iso', 'seeds')  # Options of this sweep, not config fields.
FAMILIES = ['dilated_cnn', 'lstm', 'mi_mlp']
DEPTHS = [1, 2, 4, 8, 16, 32, 64]
RUNLOCAL_DEPTHS = [1, 2, 4]
# runlocal on the synthetic rhythm task: a sweep that learns (the generic 60-step shrink stays
# at chance) in minutes on a 2-core CPU. 5 s windows at 50 Hz, because the LSTM's time loop is
# the cost; more training windows, bigger batches and a higher peak learning rate.
RUNLOCAL_SYNTHETIC = {
    'data.sample_rate': 50.0,
    'data.window': 250,
    'data.num_train': 2000,
    'train.batch_size': 64,
    'train.num_steps': 300,
    'train.eval_every': 100,
    'train.checkpoint_every': 100,
    'optim.learning_rate': 1e-2,
}


def family_arg(arg: str | None = None) -> str:
    """The family spec of every trial: the sweep's spec less its own keys, plus the runlocal
    settings on synthetic data."""
    family, _ = sweep.split_arg(arg, SWEEP_KEYS)
    runlocal = sweep.spec_value(family, 'runlocal', False)
    if not runlocal or sweep.spec_value(family, 'data', 'synthetic') != 'synthetic':
        return family
    return common.with_defaults(family, RUNLOCAL_SYNTHETIC)


def get_config(arg: str | None = None):
    return dilated_cnn.get_config(family_arg(arg))


def get_sweep(arg: str | None = None):
    family, _ = sweep.split_arg(arg, SWEEP_KEYS)
    runlocal = sweep.spec_value(family, 'runlocal', False)
    seeds = sweep.spec_value(arg, 'seeds', 2 if runlocal else 3)
    trials = sweep.product(
        {
            'model.name': FAMILIES,
            'model.depth': RUNLOCAL_DEPTHS if runlocal else DEPTHS,
            'seed': list(range(seeds)),
        }
    )
    budget = sweep.spec_value(arg, 'iso', 0.0)
    if budget:
        if not float(budget).is_integer():
            raise ValueError(f'configs/sweeps/depth.py: iso={budget} must be a whole number.')
        trials = sweep.iso_params(trials, int(budget))
    return trials
