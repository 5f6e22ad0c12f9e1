"""A strided convolutional front end that any family can put before its layers.

ECG papers pair a conv stem that shortens the time axis with a recurrent stack (the CNN+LSTM
"CRNN") or read a long record through one; here it is `front_end_layers` layers of
conv (kernel `front_end_kernel`, stride `front_end_stride`, `front_end_width` channels, 0 = the
family's width) -> [LayerNorm if the family's layer_norm] -> ReLU. Each layer keeps
ceil(T / stride) steps, windows aligned to the end (ecgdepth/models/conv.py), and downsamples
the padding mask the same way; the input's padding is zeroed first, so it never becomes
signal. front_end_layers=0 (the default) adds nothing: the family's program is unchanged.

Not counted in `depth`, never scanned (each layer shortens the time axis, so no two are
identical), parameters under 'front_end': conv_{i}/{kernel,bias}, norm_{i}/{scale,bias}.
A family opts in by subclassing `FrontEndModel` and adding `DEFAULTS` and `RULES` to its own.
"""

from __future__ import annotations

import types

import flax.linen as nn
import jax.numpy as jnp

from ecgdepth.models import base
from ecgdepth.models.conv import DilatedConv1D, mask_of, pool_keep, pooled_length
from ecgdepth.rules import int_range

# config.model fields of a family with a front end, and their validation rules.
DEFAULTS = types.MappingProxyType(
    {
        'front_end_layers': 0,  # 0 = no front end.
        'front_end_stride': 2,  # Per layer: the time axis shrinks by stride ** layers.
        'front_end_kernel': 5,
        'front_end_width': 0,  # 0 = the family's width.
    }
)
RULES = types.MappingProxyType(
    {
        'front_end_layers': int_range(0, 16),
        'front_end_stride': int_range(1, 64),
        'front_end_kernel': int_range(1, 1024),
        'front_end_width': int_range(0, 65536),
    }
)


def add_defaults(model):
    """`model` (a config.model) with the front-end fields at their defaults."""
    for key, value in DEFAULTS.items():
        model[key] = value
    return model


def output_length(time: int, layers: int, stride: int) -> int:
    """Time steps the front end leaves of `time` input samples."""
    for _ in range(layers):
        time = pooled_length(time, stride)
    return time


class FrontEnd(nn.Module):
    """`layers` x (strided conv -> [LayerNorm] -> ReLU): (x, mask) -> (shorter x, its mask)."""

    layers: int
    width: int
    kernel_size: int
    stride: int
    padding: str
    layer_norm: bool

    @nn.compact
    def __call__(self, x, mask):
        keep = None if mask is None else mask.astype(x.dtype)[..., None]
        if keep is not None:  # Zeroed, so padding next to signal reads as the conv's own zeros.
            x = x * keep
        for i in range(self.layers):
            conv = DilatedConv1D(
                self.width, self.kernel_size, 1, self.padding, self.stride, name=f'conv_{i}'
            )
            x = conv(x)
            if self.layer_norm:
                x = nn.LayerNorm(name=f'norm_{i}')(x)
            x = nn.relu(x)
            if keep is not None:
                keep = pool_keep(keep, self.stride)
                x = x * keep
        return x, (None if keep is None else mask_of(keep))


class FrontEndModel(base.Model):
    """A `base.Model` whose layers may read a front end's output: the fields, and what the
    front end changes in the model's answers (mask, receptive field, FLOPs)."""

    front_end_layers: int = 0
    front_end_stride: int = 2
    front_end_kernel: int = 5
    front_end_width: int = 0

    @property
    def front_end_padding(self) -> str:
        """Causal: a front-end output never reads the future (a family may say otherwise)."""
        return 'causal'

    @property
    def front_end_channels(self) -> int:
        return self.front_end_width or self.width

    @nn.nowrap
    def apply_front_end(self, x, mask):
        """(x, mask) after the front end; unchanged (no op at all) without one. Call from the
        compact `__call__`."""
        if not self.front_end_layers:
            return x, mask
        return FrontEnd(
            self.front_end_layers,
            self.front_end_channels,
            self.front_end_kernel,
            self.front_end_stride,
            self.front_end_padding,
            self.layer_norm,
            name='front_end',
        )(x, mask)

    @nn.nowrap
    def layer_mask(self, mask):
        """The mask at the layers' time resolution: downsampled like the front end's output."""
        if mask is None or not self.front_end_layers:
            return mask
        keep = mask.astype(jnp.float32)[..., None]
        for _ in range(self.front_end_layers):
            keep = pool_keep(keep, self.front_end_stride)
        return mask_of(keep)

    @nn.nowrap
    def front_end_spans(self) -> list[tuple[int, int]]:
        """(span, stride) of each front-end layer, for `conv.receptive_field_of`."""
        return [(self.front_end_kernel - 1, self.front_end_stride)] * self.front_end_layers

    @nn.nowrap
    def front_end_flops(self, time: int, channels: int) -> tuple[int, int, int]:
        """(forward FLOPs per example in XLA's convention, steps out, channels out) of the
        front end on `time` x `channels`: per output step the conv's matmul (2 per multiply-
        add), its bias and the ReLU (1 per feature each), the LayerNorm (7 per feature + 4)."""
        total, width = 0, self.front_end_channels
        for _ in range(self.front_end_layers):
            time = pooled_length(time, self.front_end_stride)
            per_step = 2 * self.front_end_kernel * channels * width + 2 * width
            total += time * (per_step + ((7 * width + 4) if self.layer_norm else 0))
            channels = width
        return total, time, channels
