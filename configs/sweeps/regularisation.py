"""Regularisation sweep: dropout x weight decay x label smoothing (or training-data fraction),
for the dilated CNN and the LSTM at their default depths.

python launch.py --config=configs/sweeps/regularisation.py:runlocal --workdir=/tmp/reg --sweep
python launch.py --config=configs/sweeps/regularisation.py:third=fraction --workdir=/tmp/f --sweep

`third=smoothing` (default) crosses label smoothing, `third=fraction` the fraction of the
training split (data.train_fraction: does regularisation matter less with more data?).
`seeds=N` sets the number of seeds (default 3, runlocal 2). runlocal: two values per axis.
"""

from ecgdepth import spec, sweep

SWEEP_KEYS = ('seeds', 'third')
FAMILIES = ['dilated_cnn', 'lstm']
AXES = {
    'model.dropout': [0.0, 0.1, 0.3],
    'optim.weight_decay': [0.0, 1e-4, 1e-3, 1e-2],
}
THIRD = {
    'smoothing': {'loss.label_smoothing': [0.0, 0.1]},
    'fraction': {'data.train_fraction': [0.25, 0.5, 1.0]},
}
RUNLOCAL_AXES = {'model.dropout': [0.0, 0.2], 'optim.weight_decay': [0.0, 1e-2]}
RUNLOCAL_THIRD = {
    'smoothing': {'loss.label_smoothing': [0.0, 0.1]},
    'fraction': {'data.train_fraction': [0.5, 1.0]},
}


def get_config(arg: str | None = None):
    family_arg, _ = sweep.split_arg(arg, SWEEP_KEYS)
    return spec.family_config('dilated_cnn', family_arg)


def get_sweep(arg: str | None = None):
    family_arg, _ = sweep.split_arg(arg, SWEEP_KEYS)
    runlocal = sweep.spec_value(family_arg, 'runlocal', False)
    seeds = sweep.spec_value(arg, 'seeds', 2 if runlocal else 3)
    third = sweep.spec_value(arg, 'third', 'smoothing')
    if third not in THIRD:
        raise ValueError(
            f'configs/sweeps/regularisation.py: third={third!r}; choose one of {sorted(THIRD)}.'
        )
    axes = RUNLOCAL_AXES if runlocal else AXES
    third_axis = (RUNLOCAL_THIRD if runlocal else THIRD)[third]
    return sweep.product({'model.name': FAMILIES}, axes, third_axis, {'seed': list(range(seeds))})
