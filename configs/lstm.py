"""Stacked recurrent network: LSTM, GRU or a simple tanh RNN.

python launch.py --config=configs/lstm.py:depth=2,width=64 --workdir=/tmp/lstm
python launch.py --config=configs/lstm.py:cell=rnn,depth=8,residual,runlocal --workdir=/tmp/rnn
"""

from configs import common


def get_config(arg: str | None = None):
    model = common.common_model_config('lstm')
    model.depth = 2
    model.cell = 'lstm'  # 'lstm', 'gru' or 'rnn' (simple tanh cell).
    model.bidirectional = False
    model.readout = 'last'  # 'last' step or 'mean' over time.
    # Initial forget-gate bias of LSTM cells (GRU / tanh RNN have none): 1.0 lets memory and its
    # gradient last dozens of steps from the start (Gers et al. 2000; Jozefowicz et al. 2015),
    # where 0.0 (flax's and PyTorch's default) halves them at every step.
    model.forget_bias = 1.0
    return common.make_config(model, arg)
