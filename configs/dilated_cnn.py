"""Dilated CNN (WaveNet/TCN-style): depth buys receptive field.

python launch.py --config=configs/dilated_cnn.py:depth=8,width=64 --workdir=/tmp/cnn
python launch.py --config=configs/dilated_cnn.py:dilation=none,runlocal --workdir=/tmp/plain
"""

from configs import common


def get_config(arg: str | None = None):
    model = common.common_model_config('dilated_cnn')
    model.depth = 8
    model.residual = True
    model.kernel_size = 3
    model.dilation = 'exponential'  # 'exponential' (1, 2, 4, ... per cycle) or 'none' (plain CNN).
    model.dilation_cycle = 8  # The exponential schedule restarts every this many layers.
    model.padding = 'causal'  # 'causal' or 'same'.
    model.gate = 'none'  # 'none' (ReLU), 'glu' or 'wavenet' (tanh * sigmoid): multiplicative.
    model.readout = 'mean'  # 'mean' over time or 'last' step.
    # scan=True: 'cycle' scans whole dilation cycles (faster steps up to depth ~8 on CPU), 'block'
    # scans single blocks with a traced dilation (one compiled program for every depth).
    model.scan_unit = 'cycle'
    return common.make_config(model, arg)
