r"""(c) Is the depth limit overfitting, which regularisation rather than architecture controls?

python launch.py --config=configs/experiments/overfitting.py:runlocal --workdir=runs/c \
    --sweep --vmap_seeds
python -m ecgdepth.findings runs/c

The dilated CNN and the LSTM over depth x regularisation (dropout with weight decay) x training
fraction, with and without label noise (20% of the training labels flipped): the train -
validation gap against parameters and against regularisation. Synthetic rhythm data by
default; any dataset with `data=NAME`.
"""

from ecgdepth import experiment as ex
from ecgdepth import spec, sweep

EXPERIMENT = 'overfitting'
SWEEP_KEYS = ex.SWEEP_KEYS
FAMILIES = ['dilated_cnn', 'lstm']
DEPTHS = [1, 2, 4, 8, 16]
REGULARISATION = [(0.0, 0.0), (0.1, 1e-3), (0.3, 1e-2)]  # (dropout, weight decay)
FRACTIONS = [0.25, 0.5, 1.0]
NOISE = [0.0, 0.2]
# Per family: runlocal keeps the LSTM shallow to fit its 15 minutes (the cost per trial is in
# docs/findings.md); the full variant runs every depth for both.
RUNLOCAL_DEPTHS = {'dilated_cnn': [1, 4], 'lstm': [1, 2]}
RUNLOCAL_REGULARISATION = [(0.0, 0.0), (0.3, 1e-2)]
RUNLOCAL_FRACTIONS = [1.0]
# Few training windows, so that a model that can fit them overfits within runlocal's steps.
RUNLOCAL = {**ex.RUNLOCAL_RHYTHM, 'data.num_train': 256}


def family_arg(arg: str | None = None) -> str:
    return ex.family_arg(
        arg, EXPERIMENT, {}, {**ex.RUNLOCAL_TRAIN, **ex.synthetic_only(arg, RUNLOCAL)}
    )


def get_config(arg: str | None = None):
    return spec.family_config('dilated_cnn', family_arg(arg))


def get_sweep(arg: str | None = None):
    _, runlocal, smoke = ex.options(arg)
    if smoke:
        depths = {'dilated_cnn': [1]}
    else:
        depths = RUNLOCAL_DEPTHS if runlocal else {family: DEPTHS for family in FAMILIES}
    regularisation = RUNLOCAL_REGULARISATION if runlocal else REGULARISATION
    fractions = RUNLOCAL_FRACTIONS if runlocal else FRACTIONS
    return sweep.product(
        ex.family_depths(depths),
        [{'model.dropout': d, 'optim.weight_decay': w} for d, w in regularisation],
        {'data.train_fraction': fractions, 'data.label_noise': [0.0] if smoke else NOISE},
        {'seed': ex.seeds(arg)},
    )
