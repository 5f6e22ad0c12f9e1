r"""(b) Do stacked recurrent layers stop training (gradients vanishing across layers), or does the
gradient vanish across time inside one layer?

python launch.py --config=configs/experiments/trainability.py:runlocal --workdir=runs/b \
    --sweep --vmap_seeds
python -m ecgdepth.findings runs/b

Stacked LSTM, GRU and tanh-RNN cells over depth, each plain and with residual connections and
layer norm, on the adding problem (regression; predicting the mean scores an MSE of 1/6). Every
run records the final training loss (can it fit?), per-layer gradient norms at initialisation
and at its best step, and the decay of the gradient across time steps and across layers. With
`data=mitbih,data.variant=beats` (a full run) the same grid runs on MIT-BIH beats instead.
"""

from ecgdepth import experiment as ex
from ecgdepth import spec, sweep

EXPERIMENT = 'trainability'
SWEEP_KEYS = ex.SWEEP_KEYS
CELLS = ['lstm', 'gru', 'rnn']
DEPTHS = [1, 2, 4, 8, 16]
RUNLOCAL_DEPTHS = [1, 2, 4, 8]
# (residual, layer_norm): plain, each alone, both (runlocal: plain and both).
VARIANTS = [(False, False), (True, False), (False, True), (True, True)]
RUNLOCAL_VARIANTS = [(False, False), (True, True)]
DEFAULTS = {'data.variant': 'adding', 'data.window': 200}
# The adding problem at 64 steps, where a 1-layer LSTM learns within runlocal's budget and a
# plain deep stack does not (docs/findings.md, "why these budgets").
RUNLOCAL = {
    'data.window': 64,
    'train.num_steps': 1000,
    'train.eval_every': 250,
    'train.log_every': 100,
    'train.checkpoint_every': 250,
}


def family_arg(arg: str | None = None) -> str:
    return ex.family_arg(
        arg, EXPERIMENT, ex.synthetic_only(arg, DEFAULTS), ex.synthetic_only(arg, RUNLOCAL)
    )


def get_config(arg: str | None = None):
    return spec.family_config('lstm', family_arg(arg))


def get_sweep(arg: str | None = None):
    _, runlocal, smoke = ex.options(arg)
    depths = [1, 2] if smoke else RUNLOCAL_DEPTHS if runlocal else DEPTHS
    variants = RUNLOCAL_VARIANTS if runlocal else VARIANTS
    cells = ['lstm'] if smoke else CELLS
    structure = [{'model.residual': r, 'model.layer_norm': n} for r, n in variants]
    return sweep.product(
        {'model.cell': cells}, structure, {'model.depth': depths}, {'seed': ex.seeds(arg)}
    )
