"""Multiplicative-interaction MLP (Jayakumar et al., ICLR 2020) on the flattened window.

Each layer computes f(x, z) = z^T W x + z^T U + V x + b with the 3-tensor W factorised to rank r
(CP): z^T W x = C((A^T z) * (B^T x)). `multiplicative=False` drops only the z^T W x term, which
leaves a Dense layer on concat(z, x): the additive control at equal depth and width. z is the
flattened network input (z_source='input', broadcast to every layer, not scanned over) or the
layer's own input (z_source='layer'). A layer is MI -> [LayerNorm] -> ReLU -> dropout
[-> + input, layers 2..depth]. The input (batch, time, channels) is average-pooled over time by
`pool` (trailing samples that do not fill a pool window are dropped) and flattened to
D = (time // pool) * channels. With a conv front end (ecgdepth/models/front_end.py, e.g. to
read a 30 s record), the pool and the flattening read its output: time is the front end's
steps, channels its width.

Param trees (under 'params'; plus front_end/... with a front end):
  scan=True:  layer_0/{mi,norm}, layers/{mi,norm} (leaves stacked on axis 0 over the depth - 1
              layers; absent if depth == 1), head.
  scan=False: layer_{i}/{mi,norm} for i < depth, head.
`mi` holds A (dz, r), B (dx, r), C (r, out) only if multiplicative, and U (dz, out), V (dx, out),
b (out,) always; `norm` only if layer_norm.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from ecgdepth.models import base, front_end
from ecgdepth.models.layers import check_choice, classify
from ecgdepth.rules import BOOL, POSITIVE_INT, choice

Z_SOURCES = ('input', 'layer')


def default_config() -> ml_collections.ConfigDict:
    """config.model of the MI-MLP: its defaults, each key an MIMLP field."""
    model = base.common_config('mi_mlp')
    model.depth = 2
    model.width = 256
    model.multiplicative = True  # False: drop the z^T W x term (the additive control).
    model.rank = 8  # Rank of the factorised 3-tensor W.
    model.z_source = 'input'  # 'input' (the flattened window) or 'layer' (the layer's own input).
    model.pool = 4  # Average-pool factor over time before flattening.
    return front_end.add_defaults(model)


def _fan_share_init(share: float):
    """Truncated-normal init with variance share/fan_in: U and V together are initialised exactly
    like one Dense on concat(z, x), so the additive control starts as a standard MLP layer."""
    return nn.initializers.variance_scaling(share, 'fan_in', 'truncated_normal')


class MILinear(nn.Module):
    """f(x, z) = C((A^T z) * (B^T x)) + z^T U + V x + b (the first term only if multiplicative)."""

    features: int
    rank: int
    multiplicative: bool = True

    @nn.compact
    def __call__(self, x, z):
        dx, dz = x.shape[-1], z.shape[-1]
        u = self.param('U', _fan_share_init(dz / (dx + dz)), (dz, self.features))
        v = self.param('V', _fan_share_init(dx / (dx + dz)), (dx, self.features))
        b = self.param('b', nn.initializers.zeros_init(), (self.features,))
        y = z @ u + x @ v + b
        if self.multiplicative:
            init = nn.initializers.lecun_normal()
            a = self.param('A', init, (dz, self.rank))
            bb = self.param('B', init, (dx, self.rank))
            c = self.param('C', init, (self.rank, self.features))
            y = y + ((z @ a) * (x @ bb)) @ c
        return y


class MILayer(nn.Module):
    """One MLP layer: MI linear -> [LayerNorm] -> ReLU -> dropout [-> + input]."""

    width: int
    rank: int
    multiplicative: bool
    layer_norm: bool
    dropout: float
    residual: bool
    train: bool = False

    @nn.compact
    def __call__(self, x, z=None):
        z = x if z is None else z
        h = MILinear(self.width, self.rank, self.multiplicative, name='mi')(x, z)
        if self.layer_norm:
            h = nn.LayerNorm(name='norm')(h)
        h = nn.Dropout(self.dropout)(nn.relu(h), deterministic=not self.train)
        return (x + h if self.residual else h), None


class MIMLP(front_end.FrontEndModel):
    """[Front end ->] pool -> flatten -> `depth` MI layers -> Dense head. Sees the whole window
    (`Model.receptive_field`): its first layer reads the whole flattened window."""

    multiplicative: bool = True
    rank: int = 8
    z_source: str = 'input'
    pool: int = 1

    def __post_init__(self):
        check_choice('z_source', self.z_source, Z_SOURCES)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, *, train: bool = False, mask=None, features=None):
        """x (batch, time, channels); mask (batch, time), True = signal; features (batch, F).

        With a mask, padding is zeroed and the mask joins the input as one more channel, so
        padding is distinguishable from a flat signal. Side features join the flattened input.
        """
        x, mask = self.apply_front_end(x, mask)
        if mask is not None:
            keep = mask.astype(x.dtype)[..., None]
            x = jnp.concatenate([x * keep, keep], axis=-1)
        batch, time, channels = x.shape
        steps = time // self.pool
        x = x[:, : steps * self.pool].reshape(batch, steps, self.pool, channels).mean(axis=2)
        x = x.reshape(batch, steps * channels)
        if features is not None:
            x = jnp.concatenate([x, features.astype(x.dtype)], axis=-1)
        fields = dict(
            width=self.width,
            rank=self.rank,
            multiplicative=self.multiplicative,
            layer_norm=self.layer_norm,
            dropout=self.dropout,
            residual=self.residual,
            train=train,
        )
        # Layer 1's input is the network input, so its z = x for either z_source; 'input' hands
        # that same z to layers 2..depth.
        broadcast = (x,) if self.z_source == 'input' else ()
        x = self.stack_layers(MILayer, x, fields, rest_args=broadcast)
        return classify(x, None, self.num_classes)


def check_input(model, window: int, window_text: str) -> str | None:
    """The average pool needs at least one full window of `pool` steps of what it reads: the
    samples, or the front end's shorter output."""
    layers = model.get('front_end_layers', 0)
    steps = front_end.output_length(window, layers, model.get('front_end_stride', 1))
    if layers and model.pool > steps:
        return (
            f'config.model.pool ({model.pool}) exceeds the {steps} steps that the front end '
            f'(front_end_layers={layers}, front_end_stride={model.front_end_stride}) leaves of '
            f'{window_text}.'
        )
    if model.pool > window:
        return f'config.model.pool ({model.pool}) exceeds {window_text}.'
    return None


FAMILY = base.Family(
    name='mi_mlp',
    module=MIMLP,
    display_name='MI-MLP',
    defaults=default_config,
    rules={
        'multiplicative': BOOL,
        'rank': POSITIVE_INT,
        'z_source': choice(*Z_SOURCES),
        'pool': POSITIVE_INT,
        **front_end.RULES,
    },
    input_check=check_input,
)
