"""Dilated 1-D CNN: the deep family. Depth buys receptive field (exponentially with dilation).

Structure: 1x1 conv stem (channels -> width, no receptive-field growth, not counted in depth),
`depth` conv blocks width -> width, readout over time, Dense head. Dilations follow
1, 2, 4, ..., 2**(dilation_cycle - 1) and restart every `dilation_cycle` blocks.

scan=True has two forms (`scan_unit`):
  'cycle' (default): one nn.scan over the depth // cycle whole cycles (every dilation static), then
      the depth % cycle remaining blocks unrolled. The program holds cycle + depth % cycle blocks
      when depth >= cycle, else depth blocks: bounded, but a stack shorter than a cycle compiles
      faster (docs/performance.md has the compile times).
  'block': one nn.scan over all `depth` blocks, each block's dilation a scanned input (a traced
      integer): the convolution pads for the stack's largest dilation and reads its k shifted
      views as dynamic slices. The program holds one block whatever the depth: compile time
      flat, at the price of a real loop against straight-line code in shallow stacks
      (docs/performance.md compares the two forms' steps by depth).

Param trees (under 'params'):
  scan=True, 'cycle': stem, cycles/block_{j}/{norm,conv} (leaves stacked on axis 0 over the
              depth // cycle cycles; absent if depth < cycle), partial/block_{j}/{norm,conv}
              (absent if depth % cycle == 0), head.
  scan=True, 'block': stem, blocks/{norm,conv} (leaves stacked on axis 0 over the depth), head.
  scan=False: stem, block_{i}/{norm,conv} for i < depth, head.
Block i of the unrolled form is cycles/block_{i % cycle}[i // cycle] for i < full * cycle, else
partial/block_{i - full * cycle}; or blocks[i].
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ecgdepth.models import base
from ecgdepth.models.layers import (
    SCAN_SPLIT_RNGS,
    SCAN_VARIABLE_AXES,
    check_choice,
    classify,
    last_valid,
    masked_mean,
    maybe_remat,
    repeat_block,
    rewrap,
    unscan_tree,
    unstack,
    unwrap,
)
from ecgdepth.rules import POSITIVE_INT, choice, int_range

DILATIONS = ('exponential', 'none')
PADDINGS = ('causal', 'same')
GATES = ('none', 'glu', 'wavenet')
READOUTS = ('mean', 'last')
SCAN_UNITS = ('cycle', 'block')


def default_config() -> ml_collections.ConfigDict:
    """config.model of the dilated CNN: its defaults, each key a DilatedCNN field."""
    model = base.common_config('dilated_cnn')
    model.depth = 8
    model.residual = True
    model.kernel_size = 3
    model.dilation = 'exponential'  # 'exponential' (1, 2, 4, ... per cycle) or 'none' (plain CNN).
    model.dilation_cycle = 8  # The exponential schedule restarts every this many layers.
    model.padding = 'causal'  # 'causal' or 'same'.
    model.gate = 'none'  # 'none' (ReLU), 'glu' or 'wavenet' (tanh * sigmoid): multiplicative.
    model.readout = 'mean'  # 'mean' over time or 'last' step.
    # scan=True: 'cycle' scans whole dilation cycles (static dilations: faster shallow steps),
    # 'block' scans single blocks with a traced dilation (one compiled program for every depth).
    model.scan_unit = 'cycle'
    return model


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


def max_dilation(dilation: str, dilation_cycle: int, depth: int) -> int:
    """The largest dilation among `depth` blocks."""
    return max(dilation_at(i, dilation, dilation_cycle) for i in range(max(depth, 1)))


def conv_padding(kernel_size: int, dilation, padding: str):
    """(left, right) zero padding of a 'causal' (all left) or 'same' convolution; `dilation` may
    be a traced integer."""
    span = (kernel_size - 1) * dilation
    left = span if padding == 'causal' else span // 2
    return left, span - left


def shifted_views(x, kernel_size: int, widest: int, padding: str, dilation=None) -> list:
    """The k views of (batch, time, channels) `x` that a dilated convolution weighs: view j at
    time t is x[t + j * dilation - left], zero outside. `dilation` None: the static `widest`;
    else a traced integer <= `widest`, read as dynamic slices of `x` padded for `widest`."""
    steps = x.shape[1]
    # Causal: all padding on the left, so output t sees only inputs <= t.
    pad_left, pad_right = conv_padding(kernel_size, widest, padding)
    padded = jnp.pad(x, ((0, 0), (pad_left, pad_right), (0, 0)))
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
    input is padded for the field's dilation and the views are dynamic slices of it.
    """

    features: int
    kernel_size: int
    dilation: int
    padding: str

    @nn.compact
    def __call__(self, x, dilation=None):
        k, channels = self.kernel_size, x.shape[-1]
        kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, channels, self.features))
        bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
        views = shifted_views(x, k, self.dilation, self.padding, dilation)
        columns = jnp.concatenate(views, axis=-1)
        return columns @ kernel.reshape(k * channels, self.features) + bias


class DilatedBlock(nn.Module):
    """One conv block: [pre-LayerNorm] -> dilated conv -> ReLU or gate -> dropout [-> + input].

    `dilation` is the conv's static dilation; a traced `dilation` argument (at most the field)
    overrides it (the scanned form)."""

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
    def __call__(self, x, keep, dilation=None):
        h = nn.LayerNorm(name='norm')(x) if self.layer_norm else x
        gated = self.gate != 'none'
        conv = DilatedConv1D(
            self.width * (2 if gated else 1),
            self.kernel_size,
            self.dilation,
            self.padding,
            name='conv',
        )
        h = conv(h) if dilation is None else conv(h, dilation)
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


class DilatedCNN(base.Model):
    """Stack of (dilated) 1-D conv blocks with a mean/last readout and a Dense head."""

    layer_prefix = 'block'  # unrolled layer i is params[f'block_{i}'] (not a field)

    kernel_size: int = 3
    dilation: str = 'exponential'
    dilation_cycle: int = 8
    padding: str = 'causal'
    gate: str = 'none'
    readout: str = 'mean'
    scan_unit: str = 'cycle'

    def __post_init__(self):
        check_choice('dilation', self.dilation, DILATIONS)
        check_choice('padding', self.padding, PADDINGS)
        check_choice('gate', self.gate, GATES)
        check_choice('readout', self.readout, READOUTS)
        check_choice('scan_unit', self.scan_unit, SCAN_UNITS)
        super().__post_init__()

    @property
    def receptive_field_samples(self) -> int:
        """Exact receptive field of this configuration, in samples."""
        return receptive_field(self.kernel_size, self.depth, self.dilation, self.dilation_cycle)

    @nn.nowrap
    def receptive_field(self, sample_rate: float, window: int) -> dict:
        """Exact: the readout pools over positions that each see this far back (whatever the
        window)."""
        del window
        return base.receptive_field_dict(self.receptive_field_samples, sample_rate)

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
        if self.scan and self.scan_unit == 'cycle':
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
        elif self.scan:
            # Computed, not a constant of `depth` entries: the lowered program is the same text.
            exponent = jnp.arange(self.depth, dtype=jnp.int32) % self.dilation_cycle
            if self.dilation == 'exponential':
                dilations = jnp.left_shift(jnp.int32(1), exponent)
            else:
                dilations = jnp.ones_like(exponent)
            scanned = nn.scan(
                maybe_remat(DilatedBlock, self.remat, in_scan=True),
                variable_axes=SCAN_VARIABLE_AXES,
                split_rngs=SCAN_SPLIT_RNGS,
                length=self.depth,
                in_axes=(nn.broadcast, 0),
            )
            widest = max_dilation(self.dilation, self.dilation_cycle, self.depth)
            x, _ = scanned(dilation=widest, name='blocks', **fields)(x, keep, dilations)
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
        if self.scan_unit == 'block':
            return unscan_tree(params, [('blocks', self.layer_prefix, 0)])
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


FAMILY = base.Family(
    name='dilated_cnn',
    module=DilatedCNN,
    display_name='Dilated CNN',
    defaults=default_config,
    rules={
        'kernel_size': POSITIVE_INT,
        'dilation': choice(*DILATIONS),
        'dilation_cycle': int_range(1, 30),
        'padding': choice(*PADDINGS),
        'gate': choice(*GATES),
        'readout': choice(*READOUTS),
        'scan_unit': choice(*SCAN_UNITS),
    },
)
