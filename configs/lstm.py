"""Stacked recurrent network: LSTM, GRU or a simple tanh RNN.

python launch.py --config=configs/lstm.py:depth=2,width=64 --workdir=/tmp/lstm
python launch.py --config=configs/lstm.py:cell=rnn,depth=8,residual,runlocal --workdir=/tmp/rnn

The defaults live beside the model: ecgdepth/models/lstm.py, `default_config`.
"""

from ecgdepth import spec


def get_config(arg: str | None = None):
    return spec.family_config('lstm', arg)
