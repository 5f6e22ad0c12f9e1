"""Multiplicative-interaction MLP (Jayakumar et al., ICLR 2020) and its additive control.

python launch.py --config=configs/mi_mlp.py:depth=4,width=256 --workdir=/tmp/mi
python launch.py --config=configs/mi_mlp.py:multiplicative=false --workdir=/tmp/additive

The defaults live beside the model: ecgdepth/models/mi_mlp.py, `default_config`.
"""

from ecgdepth import spec


def get_config(arg: str | None = None):
    return spec.family_config('mi_mlp', arg)
