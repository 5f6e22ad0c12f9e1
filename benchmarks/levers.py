"""Speed levers for the LSTM and the dilated CNN, swapped into ecgdepth's models while a step is
traced (or selected by a config override, e.g. scan=false), so benchmarks/speed.py measures each
against the code ecgdepth ships.

They live here, not in ecgdepth/models, because none of them gave a train step that ecgdepth can
ship faster on the 2-core XLA:CPU machine (README, Performance): XLA's own convolution, channels
last or first, is faster only unrolled (a program that grows with depth), and inside a scan its
backward pass leaves the fast path (tens to hundreds of times slower). Each variant computes the
same function as the model's own code (tests/test_speed_bench.py checks it); the LSTM variants
name their parameters differently, which changes nothing about speed.
"""

from __future__ import annotations

import contextlib
import functools
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.recurrent import DenseParams, flip_sequences

from ecgdepth.models import dilated_cnn as cnn_lib
from ecgdepth.models import lstm as lstm_lib


def hoisted_rnn(unroll: int, fused_gates: bool) -> type[nn.Module]:
    """A stand-in for `nn.RNN(nn.OptimizedLSTMCell(...))` with the input projection hoisted out
    of the loop over time: x_t W_i for every t is one matmul before the loop, which then only
    computes h W_h. `unroll` time steps per loop iteration; `fused_gates` orders the gates
    i, f, o, g so one sigmoid covers the three sigmoid gates."""

    class HoistedRNN(nn.Module):
        cell: nn.Module
        reverse: bool = False
        keep_order: bool = False

        @nn.compact
        def __call__(self, x, seq_lengths=None):
            batch, steps = x.shape[:2]
            n = self.cell.features
            h0 = jnp.zeros((batch, n), x.dtype)
            gates = 'ifgo'
            w_i = [
                DenseParams(n, use_bias=False, kernel_init=nn.initializers.lecun_normal(),
                            name=f'i{g}')(x)[0]
                for g in gates
            ]  # fmt: skip
            dense_h = [
                DenseParams(n, use_bias=True, kernel_init=nn.initializers.orthogonal(),
                            name=f'h{g}')(h0)
                for g in gates
            ]  # fmt: skip
            order = (0, 1, 3, 2) if fused_gates else (0, 1, 2, 3)
            w_i = jnp.concatenate([w_i[k] for k in order], axis=-1)
            w_h = jnp.concatenate([dense_h[k][0] for k in order], axis=-1)
            bias = jnp.concatenate([dense_h[k][1] for k in order], axis=-1)
            if self.reverse:
                x = flip_sequences(x, seq_lengths, num_batch_dims=1, time_major=False)
            projected = jnp.swapaxes(x, 0, 1) @ w_i + bias  # time-major for the loop

            def step(carry, z_x):
                c, h = carry
                z = z_x + h @ w_h
                if fused_gates:
                    sig = jax.nn.sigmoid(z[:, : 3 * n])
                    i, f, o = sig[:, :n], sig[:, n : 2 * n], sig[:, 2 * n :]
                    g = jnp.tanh(z[:, 3 * n :])
                else:
                    i, f, g, o = jnp.split(z, 4, axis=-1)
                    i, f, g, o = (
                        jax.nn.sigmoid(i),
                        jax.nn.sigmoid(f),
                        jnp.tanh(g),
                        jax.nn.sigmoid(o),
                    )
                c = f * c + i * g
                h = o * jnp.tanh(c)
                return (c, h), h

            _, hs = jax.lax.scan(step, (h0, h0), projected, unroll=max(1, min(unroll, steps)))
            h = jnp.swapaxes(hs, 0, 1)
            if self.reverse and self.keep_order:
                h = flip_sequences(h, seq_lengths, num_batch_dims=1, time_major=False)
            return h

    return HoistedRNN


@contextlib.contextmanager
def _patched(module, name: str, value):
    """`module.name` is `value` while this is open."""
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


def _lstm_rnn(rnn):
    """ecgdepth's LSTM layers build `rnn` in place of nn.RNN while this is open (the rest of
    flax.linen as they see it is unchanged)."""
    proxy = types.SimpleNamespace(**{k: getattr(nn, k) for k in dir(nn) if not k.startswith('__')})
    proxy.RNN = rnn
    return _patched(lstm_lib, 'nn', proxy)


def lstm_hoisted(unroll: int = 1, fused_gates: bool = True):
    """ecgdepth's LSTM layers run `hoisted_rnn(...)` in place of nn.RNN while this is open."""
    return _lstm_rnn(hoisted_rnn(unroll, fused_gates))


def lstm_time_unroll(unroll: int):
    """nn.RNN as ecgdepth uses it, but `unroll` time steps per loop iteration."""
    return _lstm_rnn(functools.partial(nn.RNN, unroll=unroll))


def _conv_padding(kernel_size: int, dilation: int, padding: str) -> tuple[int, int]:
    span = (kernel_size - 1) * dilation
    left = span if padding == 'causal' else span // 2
    return left, span - left


def _columns(x, k: int, dilation: int, left: int, right: int):
    """im2col: (batch, time, k * channels); view j is the input shifted by j * dilation - left."""
    padded = jnp.pad(x, ((0, 0), (left, right), (0, 0)))
    steps = x.shape[1]
    return jnp.concatenate([padded[:, j * dilation : j * dilation + steps] for j in range(k)], -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv_matmul_vjp(x, kernel, dilation: int, left: int, right: int):
    """Dilated 1-D conv, channels last: XLA's convolution forward, im2col matmuls backward
    (XLA:CPU's own convolution backward inside a scan leaves the fast path)."""
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1,),
        padding=[(left, right)],
        rhs_dilation=(dilation,),
        dimension_numbers=('NWC', 'WIO', 'NWC'),
    )


def _conv_fwd(x, kernel, dilation, left, right):
    return conv_matmul_vjp(x, kernel, dilation, left, right), (x, kernel)


def _conv_bwd(dilation, left, right, residuals, g):
    x, kernel = residuals
    k, channels, features = kernel.shape
    columns = _columns(x, k, dilation, left, right)
    d_kernel = jnp.einsum('btc,bto->co', columns, g).reshape(kernel.shape)
    # dx[s] = sum_j g[s + left - j * dilation] W[j]^T: the same im2col on g, kernel reversed.
    flipped = jnp.flip(kernel, 0).transpose(0, 2, 1).reshape(k * features, channels)
    return _columns(g, k, dilation, right, left) @ flipped, d_kernel


conv_matmul_vjp.defvjp(_conv_fwd, _conv_bwd)


class _ExplicitConv1D(cnn_lib.DilatedConv1D):
    """DilatedConv1D's parameters and padding; subclasses say how `conv` convolves."""

    @nn.compact
    def __call__(self, x):
        k, channels = self.kernel_size, x.shape[-1]
        kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, channels, self.features))
        bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
        left, right = _conv_padding(k, self.dilation, self.padding)
        return self.conv(x, kernel, left, right) + bias

    def conv(self, x, kernel, left: int, right: int):
        raise NotImplementedError


class ConvVjpConv1D(_ExplicitConv1D):
    """DilatedConv1D (same parameters) through `conv_matmul_vjp`."""

    def conv(self, x, kernel, left, right):
        return conv_matmul_vjp(x, kernel, self.dilation, left, right)


class ShiftedConv1D(cnn_lib.DilatedConv1D):
    """DilatedConv1D (same parameters) as k matmuls of shifted views, summed (no im2col)."""

    @nn.compact
    def __call__(self, x, dilation=None):
        k, channels = self.kernel_size, x.shape[-1]
        kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, channels, self.features))
        bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
        views = cnn_lib.shifted_views(x, k, self.dilation, self.padding, dilation)
        return sum(view @ kernel[j] for j, view in enumerate(views)) + bias


def cnn_conv(conv_cls: type[nn.Module]):
    """ecgdepth's dilated CNN blocks use `conv_cls` in place of DilatedConv1D while open."""
    return _patched(cnn_lib, 'DilatedConv1D', conv_cls)


class LaxConv1D(_ExplicitConv1D):
    """DilatedConv1D (same parameters) as XLA's own convolution, forward and backward (no
    custom_vjp), on channels-last (batch, time, channels) input."""

    def conv(self, x, kernel, left, right):
        return jax.lax.conv_general_dilated(
            x,
            kernel,
            window_strides=(1,),
            padding=[(left, right)],
            rhs_dilation=(self.dilation,),
            dimension_numbers=('NWC', 'WIO', 'NWC'),
        )


class ChannelsFirstConv1D(cnn_lib.DilatedConv1D):
    """DilatedConv1D (same parameters) as XLA's own convolution on channels-first (batch,
    channels, time) input; the (k, in, out) kernel is read as (out, in, k)."""

    @nn.compact
    def __call__(self, x):
        k, channels = self.kernel_size, x.shape[1]
        kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, channels, self.features))
        bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
        left, right = _conv_padding(k, self.dilation, self.padding)
        out = jax.lax.conv_general_dilated(
            x,
            kernel.transpose(2, 1, 0),
            window_strides=(1,),
            padding=[(left, right)],
            rhs_dilation=(self.dilation,),
            dimension_numbers=('NCW', 'OIW', 'NCW'),
        )
        return out + bias[:, None]


class ChannelsFirstBlock(cnn_lib.DilatedBlock):
    """DilatedBlock (same parameters) computed channels-first: (batch, channels, time) from the
    norm to the residual add. It takes and returns the model's (batch, time, channels); the
    transpose back and the next block's transpose in cancel (XLA's algebraic simplifier), so
    between blocks the activations stay channels-first."""

    @nn.compact
    def __call__(self, x, keep):
        x = x.transpose(0, 2, 1)
        keep = keep.transpose(0, 2, 1) if keep.ndim == 3 else keep
        h = nn.LayerNorm(reduction_axes=1, feature_axes=1, name='norm')(x) if self.layer_norm else x
        gated = self.gate != 'none'
        h = ChannelsFirstConv1D(
            self.width * (2 if gated else 1),
            self.kernel_size,
            self.dilation,
            self.padding,
            name='conv',
        )(h)
        if self.gate == 'none':
            h = nn.relu(h)
        else:
            a, b = jnp.split(h, 2, axis=1)
            h = (a if self.gate == 'glu' else jnp.tanh(a)) * nn.sigmoid(b)
        h = nn.Dropout(self.dropout)(h, deterministic=not self.train)
        out = (x + h if self.residual else h) * keep
        return out.transpose(0, 2, 1), None


def cnn_block(block_cls: type[nn.Module]):
    """ecgdepth's dilated CNN uses `block_cls` in place of DilatedBlock while open."""
    return _patched(cnn_lib, 'DilatedBlock', block_cls)


# XLA compiler options of the step being compiled (benchmarks/speed.py's JaxStep.compile reads it).
compiler_options: dict[str, str] = {}


@contextlib.contextmanager
def xla_options(**options: str):
    """Steps compiled while open get these XLA compiler options."""
    saved = dict(compiler_options)
    compiler_options.update(options)
    try:
        yield
    finally:
        compiler_options.clear()
        compiler_options.update(saved)


# XLA:CPU's YNNPACK fusions: by default only single dots go to YNNPACK (the bias, ReLU, residual
# add and mask after each matmul are one separate XLA loop fusion); with DOT and ELTWISE the
# elementwise work around a dot may join it in one YNNPACK fusion.
YNN_DOT_ELTWISE = ','.join(f'LIBRARY_FUSION_TYPE_{t}' for t in ('INDIVIDUAL_DOT', 'DOT', 'ELTWISE'))


@contextlib.contextmanager
def matmul_precision(precision: str):
    with jax.default_matmul_precision(precision):
        yield


NO_SCAN = 'scan=false'  # The unrolled form: one block after another, no loop over depth.

# (family, variant, context factory, config overrides appended to the reference spec). The first
# row of a family is ecgdepth's own code, the baseline the others are compared with.
LEVERS = [
    (
        'lstm',
        'ecgdepth: flax nn.RNN(OptimizedLSTMCell), fused gate matmuls',
        contextlib.nullcontext,
        '',
    ),
    ('lstm', 'nn.RNN, unroll 8', lambda: lstm_time_unroll(8), ''),
    ('lstm', 'hoisted input projection', lambda: lstm_hoisted(1), ''),
    ('lstm', 'hoisted, gates unfused', lambda: lstm_hoisted(1, fused_gates=False), ''),
    ('lstm', 'hoisted, unroll 8', lambda: lstm_hoisted(8), ''),
    ('lstm', 'bf16 matmul precision', lambda: matmul_precision('bfloat16'), ''),
    ('dilated_cnn', 'ecgdepth: im2col matmul, whole cycles scanned', contextlib.nullcontext, ''),
    (
        'dilated_cnn',
        'im2col matmul, one block scanned, traced dilation (scan_unit=block)',
        contextlib.nullcontext,
        'scan_unit=block',
    ),
    ('dilated_cnn', 'im2col matmul, unrolled', contextlib.nullcontext, NO_SCAN),
    ('dilated_cnn', 'k shifted matmuls', lambda: cnn_conv(ShiftedConv1D), ''),
    (
        'dilated_cnn',
        'channels-last lax.conv fwd, matmul bwd (custom_vjp)',
        lambda: cnn_conv(ConvVjpConv1D),
        '',
    ),
    (
        'dilated_cnn',
        'channels-last (NWC) lax.conv, cycles scanned',
        lambda: cnn_conv(LaxConv1D),
        '',
    ),
    ('dilated_cnn', 'channels-last (NWC) lax.conv, unrolled', lambda: cnn_conv(LaxConv1D), NO_SCAN),
    (
        'dilated_cnn',
        'channels-first (NCW) blocks, lax.conv, cycles scanned',
        lambda: cnn_block(ChannelsFirstBlock),
        '',
    ),
    (
        'dilated_cnn',
        'channels-first (NCW) blocks, lax.conv, unrolled',
        lambda: cnn_block(ChannelsFirstBlock),
        NO_SCAN,
    ),
    (
        'dilated_cnn',
        'YNNPACK dot + elementwise fusion (bias, ReLU, residual into the matmul)',
        lambda: xla_options(xla_cpu_experimental_ynn_fusion_type=YNN_DOT_ELTWISE),
        '',
    ),
    ('dilated_cnn', 'bf16 matmul precision', lambda: matmul_precision('bfloat16'), ''),
]
