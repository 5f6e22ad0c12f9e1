"""Dilated CNN (WaveNet/TCN-style): depth buys receptive field.

python launch.py --config=configs/dilated_cnn.py:depth=8,width=64 --workdir=/tmp/cnn
python launch.py --config=configs/dilated_cnn.py:dilation=none,runlocal --workdir=/tmp/plain

The defaults live beside the model: ecgdepth/models/dilated_cnn.py, `default_config`.
"""

from ecgdepth import spec


def get_config(arg: str | None = None):
    return spec.family_config('dilated_cnn', arg)
