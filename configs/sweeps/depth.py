"""Depth sweep: every model family at depths 1 to 64 (powers of two), several seeds.

python launch.py --config=configs/sweeps/depth.py:runlocal --workdir=/tmp/depth --sweep --report
python launch.py --config=configs/sweeps/depth.py:iso=100000 --workdir=/tmp/iso --sweep --dry_run

Spec keys besides the family spec (runlocal, data=NAME, dotted keys): `iso=N` solves each
trial's width for N parameters (within 5 %), so depth is compared at a fixed parameter budget;
`seeds=N` sets the number of seeds (default 3, runlocal 2). runlocal: depths 1, 2, 4, and on
the synthetic data the ecgdepth.experiment.RUNLOCAL_SYNTHETIC settings (keys set in the spec win).
"""

from ecgdepth import experiment as ex
from ecgdepth import spec, sweep

SWEEP_KEYS = ('iso', 'seeds')  # Options of this sweep, not config fields.
FAMILIES = ['dilated_cnn', 'lstm', 'mi_mlp']
DEPTHS = [1, 2, 4, 8, 16, 32, 64]
RUNLOCAL_DEPTHS = [1, 2, 4]


def family_arg(arg: str | None = None) -> str:
    """The family spec of every trial: the sweep's spec less its own keys, plus the runlocal
    settings on synthetic data."""
    family, _ = sweep.split_arg(arg, SWEEP_KEYS)
    runlocal = sweep.spec_value(family, 'runlocal', False)
    if not runlocal or sweep.spec_value(family, 'data', 'synthetic') != 'synthetic':
        return family
    return spec.with_defaults(family, ex.RUNLOCAL_SYNTHETIC)


def get_config(arg: str | None = None):
    return spec.family_config('dilated_cnn', family_arg(arg))


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
