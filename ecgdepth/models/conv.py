"""1-D convolution and downsampling over time, shared by the conv blocks and the front end.

- `DilatedConv1D`: a (dilated, optionally strided) convolution written as one matmul (im2col).
- `pool_time` / `pool_keep`: max or average pooling of a sequence (window = stride = factor)
  and of its padding mask, so padding never becomes signal.
- `receptive_field_of`: the exact receptive field of a stack of layers from their spans and
  strides, the recursion rf = 1 + sum_l span_l * jump_l (jump_l: product of earlier strides).

Alignment: every downsampling by f keeps ceil(T / f) steps and aligns its windows to the end of
the sequence: output step i covers inputs [T - (n - i) f, T - (n - i - 1) f), and a strided
convolution's output i is the full-rate output at the last of those inputs. So the last output
always sees the last input (what a causal network and a 'last' readout need); a partial window
at the start is padding, which the masks leave out. A window is signal if any of its steps is.
"""

from __future__ import annotations

from collections.abc import Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp

POOLS = ('max', 'avg')


def conv_padding(kernel_size: int, dilation, padding: str):
    """(left, right) zero padding of a 'causal' (all left) or 'same' convolution; `dilation` may
    be a traced integer."""
    span = (kernel_size - 1) * dilation
    left = span if padding == 'causal' else span // 2
    return left, span - left


def pooled_length(time: int, factor: int) -> int:
    """Steps left after a downsampling by `factor`: ceil(time / factor)."""
    return -(-time // factor)


def shifted_views(x, kernel_size: int, widest: int, padding: str, dilation=None, stride=1) -> list:
    """The k views of (batch, time, channels) `x` that a dilated convolution weighs: view j at
    time t is x[t + j * dilation - left], zero outside. `dilation` None: the static `widest`;
    else a traced integer <= `widest`, read as dynamic slices of `x` padded for `widest`.
    `stride` > 1 (static dilation only): the end-aligned times t = T - 1 - (n - 1 - i) * stride."""
    steps = x.shape[1]
    # Causal: all padding on the left, so output t sees only inputs <= t.
    pad_left, pad_right = conv_padding(kernel_size, widest, padding)
    padded = jnp.pad(x, ((0, 0), (pad_left, pad_right), (0, 0)))
    if stride > 1:
        outputs = pooled_length(steps, stride)
        first = steps - 1 - (outputs - 1) * stride
        end = (outputs - 1) * stride + 1
        return [
            padded[:, first + j * widest : first + j * widest + end : stride]
            for j in range(kernel_size)
        ]
    if dilation is None:
        return [padded[:, j * widest : j * widest + steps] for j in range(kernel_size)]
    left, _ = conv_padding(kernel_size, dilation, padding)
    return [
        jax.lax.dynamic_slice_in_dim(padded, pad_left - left + j * dilation, steps, axis=1)
        for j in range(kernel_size)
    ]


class DilatedConv1D(nn.Module):
    """A dilated 1-D convolution written as one matmul over k shifted views (im2col).

    Same parameters as `nn.Conv` (kernel (k, in, out), bias (out,), lecun-normal init). Why not
    `nn.Conv`: on XLA:CPU the backward pass of a convolution inside a scan (a while loop) falls
    off the fast path (docs/performance.md, the levers); a matmul is fast in both.

    Called as `conv(x)`, the dilation is the static field. Called as `conv(x, dilation)` with a
    traced integer dilation <= the field (as in a scan over blocks whose dilations differ), the
    input is padded for the field's dilation and the views are dynamic slices of it. `stride`
    > 1 computes only every stride-th output, end-aligned (module docstring).
    """

    features: int
    kernel_size: int
    dilation: int
    padding: str
    stride: int = 1

    @nn.compact
    def __call__(self, x, dilation=None):
        k, channels = self.kernel_size, x.shape[-1]
        kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, channels, self.features))
        bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
        views = shifted_views(x, k, self.dilation, self.padding, dilation, self.stride)
        columns = jnp.concatenate(views, axis=-1)
        return columns @ kernel.reshape(k * channels, self.features) + bias


def _windows(a, factor: int, pad: int):
    """(batch, time, c) -> (batch, time // factor, factor, c) after `pad` zeros on the left."""
    a = jnp.pad(a, ((0, 0), (pad, 0), (0, 0)))
    return a.reshape(a.shape[0], a.shape[1] // factor, factor, a.shape[2])


def pool_keep(keep, factor: int):
    """The padding multiplier (batch, time, 1) after a downsampling by `factor`: 1 where any
    step of the window is signal. A scalar `keep` (no mask) stays as it is."""
    if factor == 1 or jnp.ndim(keep) == 0:
        return keep
    return _windows(keep, factor, (-keep.shape[1]) % factor).max(axis=2)


def pool_time(x, keep, factor: int, kind: str):
    """Max or average ('avg') pooling of (batch, time, channels) over end-aligned windows of
    `factor` steps, over the signal steps only (`keep`, (batch, time, 1) or a scalar 1 for no
    mask): padding never enters a window's max or mean; an all-padding window gives 0."""
    if factor == 1:
        return x
    pad = (-x.shape[1]) % factor
    windows = _windows(x, factor, pad)
    if jnp.ndim(keep) == 0 and pad == 0:  # No mask, no partial window: plain pooling.
        return windows.max(axis=2) if kind == 'max' else windows.mean(axis=2)
    valid = jnp.ones((1, x.shape[1], 1), x.dtype) if jnp.ndim(keep) == 0 else keep
    valid = _windows(valid, factor, pad)
    if kind == 'max':
        top = jnp.where(valid > 0, windows, -jnp.inf).max(axis=2)
        return jnp.where(valid.max(axis=2) > 0, top, 0.0)
    return (windows * valid).sum(axis=2) / jnp.maximum(valid.sum(axis=2), 1.0)


def mask_of(keep):
    """The (batch, time) bool mask of a padding multiplier; None for the scalar (no mask)."""
    return None if jnp.ndim(keep) == 0 else keep[..., 0] > 0


def receptive_field_of(layers: Iterable[tuple[int, int]]) -> int:
    """Exact receptive field in input samples of a stack of layers, each (span, stride), input
    side first: span = how many of its own input steps before the current one a layer reads
    ((k - 1) * dilation for a conv, factor - 1 for a pool), stride = how much it downsamples.
    rf = 1 + sum_l span_l * jump_l, jump_l the product of the strides before layer l."""
    field, jump = 1, 1
    for span, stride in layers:
        field += span * jump
        jump *= stride
    return field
