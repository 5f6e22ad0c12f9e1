"""Width sweep: every model family at widths 16 to 256 at one fixed depth, several seeds.

python launch.py --config=configs/sweeps/width.py:runlocal --workdir=/tmp/width --sweep
python launch.py --config=configs/sweeps/width.py:depth=8 --workdir=/tmp/width8 --sweep

The depth is the spec's `depth=N` (default 4) for every family, so widths are compared at equal
depth. `seeds=N` sets the number of seeds (default 3, runlocal 2). runlocal: widths 4, 8, 16 at
depth 2.
"""

from ecgdepth import spec, sweep

SWEEP_KEYS = ('seeds',)
FAMILIES = ['dilated_cnn', 'lstm', 'mi_mlp']
WIDTHS = [16, 32, 64, 128, 256]
RUNLOCAL_WIDTHS = [4, 8, 16]


def get_config(arg: str | None = None):
    family_arg, _ = sweep.split_arg(arg, SWEEP_KEYS)
    return spec.family_config('dilated_cnn', family_arg)


def get_sweep(arg: str | None = None):
    family_arg, _ = sweep.split_arg(arg, SWEEP_KEYS)
    runlocal = sweep.spec_value(family_arg, 'runlocal', False)
    depth = sweep.spec_value(family_arg, 'depth', 2 if runlocal else 4)
    seeds = sweep.spec_value(arg, 'seeds', 2 if runlocal else 3)
    return sweep.product(
        {
            'model.name': FAMILIES,
            'model.depth': [depth],
            'model.width': RUNLOCAL_WIDTHS if runlocal else WIDTHS,
            'seed': list(range(seeds)),
        }
    )
