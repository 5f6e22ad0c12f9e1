r"""(a) Does CNN depth buy receptive field, while one LSTM layer already sees the whole window?

python launch.py --config=configs/experiments/receptive_field.py:runlocal --workdir=runs/a \
    --sweep --vmap_seeds
python -m ecgdepth.findings runs/a

On the synthetic recall task (label: is the beat k beats before the window's last beat
inverted? ecgdepth/data/synthetic.py), whose span -- the samples from that beat to the end, at
most `motif_span_samples` -- grows linearly with k: a plain CNN (no dilation, receptive field
linear in depth) and a dilated CNN (exponential) over depth, both reading the last position
only (causal padding, `readout=last`), so that nothing outside the theoretical receptive field
can reach the output; and a 1-2 layer LSTM, which must carry one bit across the span.
`data.variant=motif` runs the counting motif instead (the pattern may sit anywhere, so there
the CNN needs `readout=mean`). With `data=cinc2017` or `data=mitbih,data.variant=rhythm`
(full runs) the sweep is the dilated CNN over depth and the LSTM on that dataset instead: the
metric against receptive field in seconds.
"""

from ecgdepth import experiment as ex
from ecgdepth import spec, sweep

EXPERIMENT = 'receptive_field'
SWEEP_KEYS = ex.SWEEP_KEYS
SPANS = [2, 4, 8, 16]
PLAIN_DEPTHS = [1, 2, 4, 8, 16, 32, 64]
DILATED_DEPTHS = list(range(1, 13))
LSTM_DEPTHS = [1, 2]
# 20 s at 125 Hz: room for k = 16 (synthetic.recall_min_window) at every span.
DEFAULTS = {'data.variant': 'recall', 'data.window': 2500, 'optim.learning_rate': 3e-3}
# 6 s at 50 Hz holds k = 4; the spans (at most 116, 162 and 254 samples) then fall between
# the dilated CNN's receptive fields 63, 127, 255 and 511 (depths 5 to 8). A plain CNN needs
# 58 to 127 layers to cover them (2 depth + 1 samples): too slow for runlocal, which leaves it
# out (docs/findings.md has the cost).
RUNLOCAL = {
    'data.sample_rate': 50.0,
    'data.window': 300,
    'data.num_train': 1024,
    **ex.RUNLOCAL_TRAIN,
    'train.num_steps': 400,
    'train.batch_size': 64,
}
RUNLOCAL_SPANS = [1, 2, 4]
RUNLOCAL_PLAIN_DEPTHS: list[int] = []
RUNLOCAL_DILATED_DEPTHS = [5, 6, 7, 8]
RUNLOCAL_LSTM_DEPTHS = [1]
SMOKE_SPANS, SMOKE_DEPTHS = [2], [2]


def family_arg(arg: str | None = None) -> str:
    return ex.family_arg(
        arg, EXPERIMENT, ex.synthetic_only(arg, DEFAULTS), ex.synthetic_only(arg, RUNLOCAL)
    )


def get_config(arg: str | None = None):
    return spec.family_config('dilated_cnn', family_arg(arg))


def get_sweep(arg: str | None = None):
    _, runlocal, smoke = ex.options(arg)
    plain, dilated, lstm = (
        (SMOKE_DEPTHS, SMOKE_DEPTHS, [1])
        if smoke
        else (RUNLOCAL_PLAIN_DEPTHS, RUNLOCAL_DILATED_DEPTHS, RUNLOCAL_LSTM_DEPTHS)
        if runlocal
        else (PLAIN_DEPTHS, DILATED_DEPTHS, LSTM_DEPTHS)
    )
    cnn = {'model.name': 'dilated_cnn', 'model.readout': 'last', 'model.padding': 'causal'}
    models = sweep.chain(
        sweep.product([cnn], {'model.dilation': ['exponential'], 'model.depth': dilated}),
        sweep.product({'model.name': ['lstm'], 'model.depth': lstm}),
    )
    # One exponential cycle over the whole stack: the receptive field doubles with each layer.
    models = [
        {**m, 'model.dilation_cycle': max(dilated)} if m.get('model.dilation') else m
        for m in models
    ]
    if sweep.spec_value(arg, 'data', 'synthetic') != 'synthetic':
        return sweep.product(models, {'seed': ex.seeds(arg)})
    if plain:
        models = sweep.chain(
            sweep.product([cnn], {'model.dilation': ['none'], 'model.depth': plain}), models
        )
    spans = SMOKE_SPANS if smoke else RUNLOCAL_SPANS if runlocal else SPANS
    return sweep.product({'data.motif_k': spans}, models, {'seed': ex.seeds(arg)})
