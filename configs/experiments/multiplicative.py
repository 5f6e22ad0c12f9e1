r"""(e) Gates multiply inputs; convolutions only add. Do additive models need depth (or width) to
imitate multiplication?

python launch.py --config=configs/experiments/multiplicative.py:runlocal --workdir=runs/e \
    --sweep --vmap_seeds
python -m ecgdepth.findings runs/e

A ReLU dilated CNN against a gated (GLU) one, an additive MLP against the multiplicative-
interaction MLP, and the LSTM, over depth, on the product task (label: the sign of
sum_t a_t * b_{t-tau}), with the adding problem as an additive control. The full run adds
MIT-BIH beats (`data.name=mitbih`, its default beats variant).
"""

from ecgdepth import experiment as ex
from ecgdepth import spec, sweep

EXPERIMENT = 'multiplicative'
SWEEP_KEYS = ex.SWEEP_KEYS
MODELS = [
    {'model.name': 'dilated_cnn', 'model.gate': 'none'},
    {'model.name': 'dilated_cnn', 'model.gate': 'glu'},
    {'model.name': 'mi_mlp', 'model.multiplicative': False},
    {'model.name': 'mi_mlp', 'model.multiplicative': True},
    {'model.name': 'lstm'},
]
DEPTHS = [1, 2, 4, 8]
RUNLOCAL_DEPTHS = [1, 2, 4]
WINDOW, RUNLOCAL_WINDOW = 200, 64


def tasks(runlocal: bool, smoke: bool) -> list[dict]:
    """The product task, the adding problem (additive control) and, in full, MIT-BIH beats,
    each with the validation error that counts as solving it."""
    window = RUNLOCAL_WINDOW if runlocal else WINDOW
    product = {
        'data.variant': 'product',
        'data.window': window,
        # runlocal: 4096 windows (512 let the MLPs memorise; they are cheap) and 80 % accuracy.
        'data.num_train': 4096 if runlocal else 20_000,
        'target_error': 0.2 if runlocal else 0.1,
    }
    adding = {
        'data.variant': 'adding',
        'data.window': window,
        'task': 'regression',
        'train.select_metric': 'mse',
        'target_metric': 'r2',  # Error 1 - R^2: the MSE over the targets' variance.
        'target_error': 0.1,
    }
    if smoke:
        return [product]
    # MIT-BIH beats are ~90 % normal: judged by macro-F1.
    mitbih = {'data.name': 'mitbih', 'target_metric': 'macro_f1', 'target_error': 0.2}
    return [product, adding] if runlocal else [product, adding, mitbih]


# Settings any dataset takes (the sequence tasks' runlocal shrink, which a spec naming the
# variant would apply, is spelled out because the trials switch variants).
RUNLOCAL = {
    **ex.RUNLOCAL_TRAIN,
    'train.num_steps': 600,
    'train.eval_every': 150,
    'train.checkpoint_every': 150,
    'optim.learning_rate': 3e-3,
}


def family_arg(arg: str | None = None) -> str:
    return ex.family_arg(arg, EXPERIMENT, {}, RUNLOCAL)


def get_config(arg: str | None = None):
    return spec.family_config('dilated_cnn', family_arg(arg))


def get_sweep(arg: str | None = None):
    _, runlocal, smoke = ex.options(arg)
    depths = [1] if smoke else RUNLOCAL_DEPTHS if runlocal else DEPTHS
    models = MODELS[:2] if smoke else MODELS
    return sweep.product(
        tasks(runlocal, smoke), models, {'model.depth': depths}, {'seed': ex.seeds(arg)}
    )
