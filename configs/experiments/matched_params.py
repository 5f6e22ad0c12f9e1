r"""(d) Is it parameters? An LSTM layer is fully connected in time's stead: ~8/k times the
parameters of a width-matched conv layer of kernel k.

python launch.py --config=configs/experiments/matched_params.py:runlocal --workdir=runs/d \
    --sweep --vmap_seeds
python -m ecgdepth.findings runs/d

The dilated CNN and the LSTM over depth, once at matched width (the parameters per layer then
differ by the analytic ratio, checked exactly) and once at matched total parameters (each
trial's width solved for the budget within 5%): the metric against depth and against
parameters. Synthetic rhythm data by default; any dataset with `data=NAME`.
"""

from ecgdepth import experiment as ex
from ecgdepth import spec, sweep

EXPERIMENT = 'matched_params'
SWEEP_KEYS = ex.SWEEP_KEYS
FAMILIES = ['dilated_cnn', 'lstm']
DEPTHS = [1, 2, 4, 8, 16, 32]
BUDGET = 200_000
# Per family: runlocal keeps the LSTM shallow to fit its 15 minutes (the cost per trial is in
# docs/findings.md); the full variant runs every depth for both.
RUNLOCAL_DEPTHS = {'dilated_cnn': [1, 2, 4], 'lstm': [1, 2]}
RUNLOCAL_BUDGET = 10_000


def family_arg(arg: str | None = None) -> str:
    return ex.family_arg(
        arg, EXPERIMENT, {}, {**ex.RUNLOCAL_TRAIN, **ex.synthetic_only(arg, ex.RUNLOCAL_RHYTHM)}
    )


def get_config(arg: str | None = None):
    return spec.family_config('dilated_cnn', family_arg(arg))


def get_sweep(arg: str | None = None):
    _, runlocal, smoke = ex.options(arg)
    if smoke:
        depths = {family: [1, 2] for family in FAMILIES}
    else:
        depths = RUNLOCAL_DEPTHS if runlocal else {family: DEPTHS for family in FAMILIES}
    trials = sweep.product(ex.family_depths(depths), {'seed': ex.seeds(arg)})
    budget = RUNLOCAL_BUDGET if runlocal else BUDGET
    return sweep.chain(trials, sweep.iso_params(trials, budget))
