"""Dilated 1-D CNN: the deep family. Depth buys receptive field (exponentially with dilation).

Structure: 1x1 conv stem (channels -> width, no receptive-field growth, not counted in depth),
`depth` conv blocks width -> width, readout over time, Dense head. Dilations follow
1, 2, 4, ..., 2**(dilation_cycle - 1) and restart every `dilation_cycle` blocks, so the scanned
unit is one whole cycle; a remainder of depth % cycle blocks is one extra (partial) unit applied
once. The compiled program therefore depends on (cycle, remainder) only, never on depth // cycle.

Param trees (under 'params'):
  scan=True:  stem, cycles/block_{j}/{norm,conv} (leaves stacked on axis 0 over the
              depth // cycle cycles; absent if depth < cycle), partial/block_{j}/{norm,conv}
              (absent if depth % cycle == 0), head.
  scan=False: stem, block_{i}/{norm,conv} for i < depth, head.
Block i of the unrolled form is cycles/block_{i % cycle}[i // cycle] for i < full * cycle,
else partial/block_{i - full * cycle}.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from ecgdepth.models.layers import (
    check_choice,
    classify,
    last_valid,
    masked_mean,
    maybe_remat,
    repeat_block,
    rewrap,
    unstack,
    unwrap,
)

DILATIONS = ('exponential', 'none')
PADDINGS = ('causal', 'same')
GATES = ('none', 'glu', 'wavenet')
READOUTS = ('mean', 'last')


def dilation_at(index: int, dilation: str, dilation_cycle: int) -> int:
    """Dilation of block `index` (0-based): 2**(index % cycle) if exponential, else 1."""
    check_choice('dilation', dilation, DILATIONS)
    return 2 ** (index % dilation_cycle) if dilation == 'exponential' else 1


def receptive_field(
    kernel_size: int, depth: int, dilation: str = 'exponential', dilation_cycle: int = 8
) -> int:
    """Exact receptive field in samples: 1 + sum over blocks of (kernel_size - 1) * dilation.

    The 1x1 stem adds nothing; residual adds and gates do not widen the field either.
    """
    return 1 + sum(
        (kernel_size - 1) * dilation_at(i, dilation, dilation_cycle) for i in range(depth)
    )


class DilatedConv1D(nn.Module):
    """A dilated 1-D convolution written as one matmul over k shifted views (im2col).

    Same parameters as `nn.Conv` (kernel (k, in, out), bias (out,), lecun-normal init). Why not
    `nn.Conv`: on XLA:CPU the backward pass of a convolution inside a scan (a while loop) falls
    off the fast path and ran ~50x slower than unrolled; a matmul is fast in both.
    """

    features: int
    kernel_size: int
    dilation: int
    padding: str

    @nn.compact
    def __call__(self, x):
        k, d, channels = self.kernel_size, self.dilation, x.shape[-1]
        kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, channels, self.features))
        bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
        span = (k - 1) * d
        # Causal: all padding on the left, so output t sees only inputs <= t.
        left = span if self.padding == 'causal' else span // 2
        padded = jnp.pad(x, ((0, 0), (left, span - left), (0, 0)))
        steps = x.shape[1]
        columns = jnp.concatenate([padded[:, j * d : j * d + steps] for j in range(k)], axis=-1)
        return columns @ kernel.reshape(k * channels, self.features) + bias


class DilatedBlock(nn.Module):
    """One conv block: [pre-LayerNorm] -> dilated conv -> ReLU or gate -> dropout [-> + input]."""

    width: int
    kernel_size: int
    dilation: int
    padding: str
    gate: str
    dropout: float
    layer_norm: bool
    residual: bool
    train: bool = False

    @nn.compact
    def __call__(self, x, keep):
        h = nn.LayerNorm(name='norm')(x) if self.layer_norm else x
        gated = self.gate != 'none'
        h = DilatedConv1D(
            self.width * (2 if gated else 1),
            self.kernel_size,
            self.dilation,
            self.padding,
            name='conv',
        )(h)
        if self.gate == 'none':
            h = nn.relu(h)
        else:
            a, b = jnp.split(h, 2, axis=-1)
            h = (a if self.gate == 'glu' else jnp.tanh(a)) * nn.sigmoid(b)
        h = nn.Dropout(self.dropout)(h, deterministic=not self.train)
        # Padding stays zero, like the convolution's own padding: it never becomes signal.
        return (x + h if self.residual else h) * keep, None


class DilatedCycle(nn.Module):
    """`num_blocks` consecutive blocks with dilations 1, 2, 4, ... (all 1 for 'none'): the unit
    that is scanned, so every scan step is identical although dilations differ within a cycle."""

    num_blocks: int
    dilation: str
    dilation_cycle: int
    width: int
    kernel_size: int
    padding: str
    gate: str
    dropout: float
    layer_norm: bool
    residual: bool
    train: bool = False

    @nn.compact
    def __call__(self, x, keep):
        for j in range(self.num_blocks):
            x, _ = DilatedBlock(
                width=self.width,
                kernel_size=self.kernel_size,
                dilation=dilation_at(j, self.dilation, self.dilation_cycle),
                padding=self.padding,
                gate=self.gate,
                dropout=self.dropout,
                layer_norm=self.layer_norm,
                residual=self.residual,
                train=self.train,
                name=f'block_{j}',
            )(x, keep)
        return x, None


class DilatedCNN(nn.Module):
    """Stack of (dilated) 1-D conv blocks with a mean/last readout and a Dense head."""

    layer_prefix = 'block'  # unrolled layer i is params[f'block_{i}'] (not a field)

    num_classes: int
    depth: int
    width: int
    dropout: float = 0.0
    layer_norm: bool = False
    residual: bool = False
    scan: bool = True
    remat: bool = False
    kernel_size: int = 3
    dilation: str = 'exponential'
    dilation_cycle: int = 8
    padding: str = 'causal'
    gate: str = 'none'
    readout: str = 'mean'

    def __post_init__(self):
        check_choice('dilation', self.dilation, DILATIONS)
        check_choice('padding', self.padding, PADDINGS)
        check_choice('gate', self.gate, GATES)
        check_choice('readout', self.readout, READOUTS)
        super().__post_init__()

    @property
    def receptive_field(self) -> int:
        """Exact receptive field of this configuration, in samples."""
        return receptive_field(self.kernel_size, self.depth, self.dilation, self.dilation_cycle)

    def _block_fields(self, train: bool) -> dict:
        return dict(
            width=self.width,
            kernel_size=self.kernel_size,
            padding=self.padding,
            gate=self.gate,
            dropout=self.dropout,
            layer_norm=self.layer_norm,
            residual=self.residual,
            train=train,
        )

    @nn.compact
    def __call__(self, x, *, train: bool = False, mask=None, features=None):
        """x (batch, time, channels); mask (batch, time), True = signal; features (batch, F)."""
        keep = jnp.ones((), x.dtype) if mask is None else mask.astype(x.dtype)[..., None]
        x = nn.Conv(self.width, kernel_size=(1,), name='stem')(x) * keep
        fields = self._block_fields(train)
        if self.scan:
            full, rest = divmod(self.depth, self.dilation_cycle)
            unit = dict(dilation=self.dilation, dilation_cycle=self.dilation_cycle, **fields)
            x = repeat_block(
                DilatedCycle,
                full,
                x,
                keep,
                scan=True,
                remat=self.remat,
                scan_name='cycles',
                unrolled_prefix='cycle',
                num_blocks=self.dilation_cycle,
                **unit,
            )
            if rest:
                partial = maybe_remat(DilatedCycle, self.remat, in_scan=False)
                x, _ = partial(num_blocks=rest, name='partial', **unit)(x, keep)
        else:
            block = maybe_remat(DilatedBlock, self.remat, in_scan=False)
            for i in range(self.depth):
                dil = dilation_at(i, self.dilation, self.dilation_cycle)
                x, _ = block(dilation=dil, name=f'block_{i}', **fields)(x, keep)
        x = masked_mean(x, mask) if self.readout == 'mean' else last_valid(x, mask)
        return classify(x, features, self.num_classes)

    @nn.nowrap
    def unscan_params(self, params):
        """Maps a scan=True param tree (or variables dict) to the scan=False tree of this config."""
        if not self.scan:
            return params
        tree = unwrap(params)
        cycle = self.dilation_cycle
        full = self.depth // cycle
        out = {k: v for k, v in tree.items() if k not in ('cycles', 'partial')}
        if 'cycles' in tree:
            for c, unit in enumerate(unstack(tree['cycles'], full)):
                for j in range(cycle):
                    out[f'block_{c * cycle + j}'] = unit[f'block_{j}']
        for j in range(self.depth % cycle):
            out[f'block_{full * cycle + j}'] = tree['partial'][f'block_{j}']
        return rewrap(out, params)
