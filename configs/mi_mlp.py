"""Multiplicative-interaction MLP (Jayakumar et al., ICLR 2020) and its additive control.

python launch.py --config=configs/mi_mlp.py:depth=4,width=256 --workdir=/tmp/mi
python launch.py --config=configs/mi_mlp.py:multiplicative=false --workdir=/tmp/additive
"""

from configs import common


def get_config(arg: str | None = None):
    model = common.common_model_config('mi_mlp')
    model.depth = 2
    model.width = 256
    model.multiplicative = True  # False: drop the z^T W x term (the additive control).
    model.rank = 8  # Rank of the factorised 3-tensor W.
    model.z_source = 'input'  # 'input' (the flattened window) or 'layer' (the layer's own input).
    model.pool = 4  # Average-pool factor over time before flattening.
    return common.make_config(model, arg)
