"""Dilated 1-D CNN: the deep family. Depth buys receptive field (exponentially with dilation).

Structure: [front end] -> 1x1 conv stem (channels -> width, no receptive-field growth, not
counted in depth) -> `depth` conv blocks width -> width -> readout over time -> Dense head.
Dilations follow 1, 2, 4, ..., 2**(dilation_cycle - 1) and restart every `dilation_cycle` blocks.

Downsampling (`downsample` != 'none'): the blocks form stages of `downsample_every` blocks (the
last stage may be shorter), and between two stages the time axis shrinks by
`downsample_factor`: 'max' / 'avg' pool after the stage's last block (window = stride =
factor); 'stride' makes the stage's last block the downsampling one, as in the Hannun et al.
(2019) / ResNet-1d pattern: its conv is strided and its residual shortcut max-pooled by the
same factor, so the add matches. Windows align to the end of the window and the padding mask is
downsampled alike (ecgdepth/models/conv.py). The dilation schedule restarts in every stage
(each stage is the same stack of blocks at a coarser rate), so blocks within a stage are scanned
as below while the few stages, whose lengths differ, are unrolled. downsample='none' is one
stage of `depth` blocks: the program and its param tree are those of the family without
downsampling. `ARCHS['resnet1d']` (spec key `arch=resnet1d`) is the strided ResNet-1d.

scan=True has two forms (`scan_unit`), applied to each stage's scanned blocks:
  'cycle' (default): one nn.scan over the depth // cycle whole cycles (every dilation static), then
      the depth % cycle remaining blocks unrolled. The program holds cycle + depth % cycle blocks
      when depth >= cycle, else depth blocks: bounded, but a stack shorter than a cycle compiles
      faster (docs/performance.md has the compile times).
  'block': one nn.scan over all `depth` blocks, each block's dilation a scanned input (a traced
      integer): the convolution pads for the stack's largest dilation and reads its k shifted
      views as dynamic slices. The program holds one block whatever the depth: compile time
      flat, at the price of a real loop against straight-line code in shallow stacks
      (docs/performance.md compares the two forms' steps by depth).

Param trees (under 'params'; plus front_end/... with a front end, ecgdepth/models/front_end.py):
  scan=True, 'cycle': stem, cycles/block_{j}/{norm,conv} (leaves stacked on axis 0 over the
              depth // cycle cycles; absent if depth < cycle), partial/block_{j}/{norm,conv}
              (absent if depth % cycle == 0), head.
  scan=True, 'block': stem, blocks/{norm,conv} (leaves stacked on axis 0 over the depth), head.
  scan=False: stem, block_{i}/{norm,conv} for i < depth, head.
Block i of the unrolled form is cycles/block_{i % cycle}[i // cycle] for i < full * cycle, else
partial/block_{i - full * cycle}; or blocks[i]. With downsampling, stage s holds its own
stage{s}_cycles, stage{s}_partial or stage{s}_blocks over its scanned blocks (numbered from the
stage's first block), and a strided block keeps its unrolled name block_{i}.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from ecgdepth.models import base, front_end
from ecgdepth.models.conv import (  # noqa: F401  (DilatedConv1D & co: imported from here too)
    POOLS,
    DilatedConv1D,
    conv_padding,
    mask_of,
    pool_keep,
    pool_time,
    receptive_field_of,
    shifted_views,
)
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
    unstack,
    unwrap,
)
from ecgdepth.rules import POSITIVE_INT, choice, int_range

DILATIONS = ('exponential', 'none')
PADDINGS = ('causal', 'same')
GATES = ('none', 'glu', 'wavenet')
READOUTS = ('mean', 'last')
SCAN_UNITS = ('cycle', 'block')
DOWNSAMPLES = ('none', *POOLS, 'stride')
# Named configurations (spec key arch=NAME; the spec's own keys win).
ARCHS = {
    # The plain strided residual 1-D CNN of Hannun et al. (2019) / ResNet-1d: kernel 16, 'same'
    # padding, residual blocks, every 2nd block strided by 2 with a max-pooled shortcut. No batch
    # norm here: the pre-norm is a LayerNorm over channels (LN -> conv -> ReLU -> dropout -> +);
    # the width stays constant (Hannun doubles it every 4 blocks) and one conv per block.
    'resnet1d': {
        'depth': 16,
        'kernel_size': 16,
        'dilation': 'none',
        'padding': 'same',
        'residual': True,
        'layer_norm': True,
        'downsample': 'stride',
        'downsample_every': 2,
        'downsample_factor': 2,
    },
}


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
    # 'none', 'max' / 'avg' (pool between stages) or 'stride' (each stage's last block strided).
    model.downsample = 'none'
    model.downsample_every = 2  # Blocks per stage: a downsampling after every this many blocks.
    model.downsample_factor = 2  # Each downsampling divides the time steps by this (ceil).
    # Side features through one hidden ReLU layer before the head (0 = straight into it).
    model.feature_hidden = 0
    return front_end.add_defaults(model)


def dilation_at(index: int, dilation: str, dilation_cycle: int) -> int:
    """Dilation of block `index` (0-based): 2**(index % cycle) if exponential, else 1."""
    check_choice('dilation', dilation, DILATIONS)
    return 2 ** (index % dilation_cycle) if dilation == 'exponential' else 1


def stage_sizes(depth: int, downsample: str = 'none', every: int = 2) -> list[int]:
    """Blocks per stage: `every` each, the last stage what remains; one stage without
    downsampling. A downsampling sits between consecutive stages: (depth - 1) // every."""
    if downsample == 'none':
        return [depth]
    return [min(every, depth - first) for first in range(0, depth, every)]


def block_spans(
    kernel_size: int,
    depth: int,
    dilation: str = 'exponential',
    dilation_cycle: int = 8,
    downsample: str = 'none',
    downsample_every: int = 2,
    downsample_factor: int = 2,
    residual: bool = False,
) -> list[tuple[int, int]]:
    """(span, stride) of every block and pool, input side first (`conv.receptive_field_of`):
    a block reads (kernel_size - 1) * dilation earlier steps; a pool reads factor - 1; a
    strided block the wider of its conv and, if residual, its pooled shortcut (factor - 1)."""
    check_choice('downsample', downsample, DOWNSAMPLES)
    sizes = stage_sizes(depth, downsample, downsample_every)
    spans = []
    for s, n in enumerate(sizes):
        convs = [(kernel_size - 1) * dilation_at(j, dilation, dilation_cycle) for j in range(n)]
        spans += [(span, 1) for span in convs]
        if s == len(sizes) - 1:
            continue
        if downsample == 'stride':
            shortcut = downsample_factor - 1 if residual else 0
            spans[-1] = (max(convs[-1], shortcut), downsample_factor)
        else:
            spans.append((downsample_factor - 1, downsample_factor))
    return spans


def receptive_field(
    kernel_size: int,
    depth: int,
    dilation: str = 'exponential',
    dilation_cycle: int = 8,
    **downsampling,
) -> int:
    """Exact receptive field in samples: 1 + sum over blocks of (kernel_size - 1) * dilation,
    without downsampling; with it (`downsampling`: downsample, downsample_every,
    downsample_factor, residual as in `block_spans`), each span weighted by the product of the
    strides before it. The 1x1 stem adds nothing; residual adds and gates do not widen the field
    either (but a strided block's pooled shortcut may)."""
    return receptive_field_of(
        block_spans(kernel_size, depth, dilation, dilation_cycle, **downsampling)
    )


def max_dilation(dilation: str, dilation_cycle: int, depth: int) -> int:
    """The largest dilation among `depth` blocks."""
    return max(dilation_at(i, dilation, dilation_cycle) for i in range(max(depth, 1)))


class DilatedBlock(nn.Module):
    """One conv block: [pre-LayerNorm] -> dilated conv -> ReLU or gate -> dropout [-> + input].

    `dilation` is the conv's static dilation; a traced `dilation` argument (at most the field)
    overrides it (the scanned form). `stride` > 1 (static dilation only): the conv is strided,
    the input it adds back max-pooled by the same factor, and `keep` pooled alike."""

    width: int
    kernel_size: int
    dilation: int
    padding: str
    gate: str
    dropout: float
    layer_norm: bool
    residual: bool
    train: bool = False
    stride: int = 1

    @nn.compact
    def __call__(self, x, keep, dilation=None):
        h = nn.LayerNorm(name='norm')(x) if self.layer_norm else x
        gated = self.gate != 'none'
        conv = DilatedConv1D(
            self.width * (2 if gated else 1),
            self.kernel_size,
            self.dilation,
            self.padding,
            self.stride,
            name='conv',
        )
        h = conv(h) if dilation is None else conv(h, dilation)
        if self.gate == 'none':
            h = nn.relu(h)
        else:
            a, b = jnp.split(h, 2, axis=-1)
            h = (a if self.gate == 'glu' else jnp.tanh(a)) * nn.sigmoid(b)
        h = nn.Dropout(self.dropout)(h, deterministic=not self.train)
        if self.stride > 1:
            x = pool_time(x, keep, self.stride, 'max') if self.residual else x
            keep = pool_keep(keep, self.stride)
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


class DilatedCNN(front_end.FrontEndModel):
    """Stack of (dilated) 1-D conv blocks, in stages if downsampled, with a mean/last readout
    and a Dense head."""

    layer_prefix = 'block'  # unrolled layer i is params[f'block_{i}'] (not a field)

    kernel_size: int = 3
    dilation: str = 'exponential'
    dilation_cycle: int = 8
    padding: str = 'causal'
    gate: str = 'none'
    readout: str = 'mean'
    feature_hidden: int = 0  # Side features' hidden layer before the head (layers.classify).
    scan_unit: str = 'cycle'
    downsample: str = 'none'
    downsample_every: int = 2
    downsample_factor: int = 2

    def __post_init__(self):
        check_choice('dilation', self.dilation, DILATIONS)
        check_choice('padding', self.padding, PADDINGS)
        check_choice('gate', self.gate, GATES)
        check_choice('readout', self.readout, READOUTS)
        check_choice('scan_unit', self.scan_unit, SCAN_UNITS)
        check_choice('downsample', self.downsample, DOWNSAMPLES)
        super().__post_init__()

    @property
    def front_end_padding(self) -> str:
        """The front end pads as the blocks do."""
        return self.padding

    @property
    def receptive_field_samples(self) -> int:
        """Exact receptive field of this configuration, in samples (front end included)."""
        spans = block_spans(
            self.kernel_size,
            self.depth,
            self.dilation,
            self.dilation_cycle,
            self.downsample,
            self.downsample_every,
            self.downsample_factor,
            self.residual,
        )
        return receptive_field_of(self.front_end_spans() + spans)

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

    @nn.nowrap
    def stage_plan(self) -> list[tuple[str, int, int, bool]]:
        """(name prefix, first block, scanned blocks, ends strided) of each stage: the scanned
        blocks are the stage's blocks but a strided last one; one unprefixed stage of `depth`
        blocks without downsampling."""
        if self.downsample == 'none':
            return [('', 0, self.depth, False)]
        sizes = stage_sizes(self.depth, self.downsample, self.downsample_every)
        plan, first = [], 0
        for s, n in enumerate(sizes):
            strided = self.downsample == 'stride' and s < len(sizes) - 1
            plan.append((f'stage{s}_', first, n - strided, strided))
            first += n
        return plan

    @nn.compact
    def __call__(self, x, *, train: bool = False, mask=None, features=None):
        """x (batch, time, channels); mask (batch, time), True = signal; features (batch, F)."""
        x, mask = self.apply_front_end(x, mask)
        keep = jnp.ones((), x.dtype) if mask is None else mask.astype(x.dtype)[..., None]
        x = nn.Conv(self.width, kernel_size=(1,), name='stem')(x) * keep
        fields = self._block_fields(train)
        plan = self.stage_plan()
        for s, (prefix, first, scanned, strided) in enumerate(plan):
            x = self._stage(x, keep, scanned, first, prefix, fields)
            if s == len(plan) - 1:
                break
            if strided:
                block = maybe_remat(DilatedBlock, self.remat, in_scan=False)
                dil = dilation_at(scanned, self.dilation, self.dilation_cycle)
                x, _ = block(
                    dilation=dil,
                    stride=self.downsample_factor,
                    name=f'{self.layer_prefix}_{first + scanned}',
                    **fields,
                )(x, keep)
            else:
                x = pool_time(x, keep, self.downsample_factor, self.downsample)
            keep = pool_keep(keep, self.downsample_factor)
            mask = mask_of(keep)
        x = masked_mean(x, mask) if self.readout == 'mean' else last_valid(x, mask)
        return classify(x, features, self.num_classes, self.feature_hidden)

    @nn.nowrap
    def _stage(self, x, keep, n: int, first: int, prefix: str, fields: dict):
        """`n` blocks (dilations from the schedule's start) in the configured scanned form."""
        if n <= 0:
            return x
        if self.scan and self.scan_unit == 'cycle':
            full, rest = divmod(n, self.dilation_cycle)
            unit = dict(dilation=self.dilation, dilation_cycle=self.dilation_cycle, **fields)
            x = repeat_block(
                DilatedCycle,
                full,
                x,
                keep,
                scan=True,
                remat=self.remat,
                scan_name=f'{prefix}cycles',
                unrolled_prefix='cycle',
                num_blocks=self.dilation_cycle,
                **unit,
            )
            if rest:
                partial = maybe_remat(DilatedCycle, self.remat, in_scan=False)
                x, _ = partial(num_blocks=rest, name=f'{prefix}partial', **unit)(x, keep)
        elif self.scan:
            x = self._block_scan(x, keep, n, f'{prefix}blocks', fields)
        else:
            block = maybe_remat(DilatedBlock, self.remat, in_scan=False)
            for i in range(n):
                dil = dilation_at(i, self.dilation, self.dilation_cycle)
                x, _ = block(dilation=dil, name=f'block_{first + i}', **fields)(x, keep)
        return x

    @nn.nowrap
    def _block_scan(self, x, keep, n: int, name: str, fields: dict):
        """scan_unit='block': one nn.scan over `n` blocks, each dilation a scanned input."""
        # Computed, not a constant of `n` entries: the lowered program is the same text.
        exponent = jnp.arange(n, dtype=jnp.int32) % self.dilation_cycle
        if self.dilation == 'exponential':
            dilations = jnp.left_shift(jnp.int32(1), exponent)
        else:
            dilations = jnp.ones_like(exponent)
        scanned = nn.scan(
            maybe_remat(DilatedBlock, self.remat, in_scan=True),
            variable_axes=SCAN_VARIABLE_AXES,
            split_rngs=SCAN_SPLIT_RNGS,
            length=n,
            in_axes=(nn.broadcast, 0),
        )
        widest = max_dilation(self.dilation, self.dilation_cycle, n)
        x, _ = scanned(dilation=widest, name=name, **fields)(x, keep, dilations)
        return x

    @nn.nowrap
    def unscan_params(self, params):
        """Maps a scan=True param tree (or variables dict) to the scan=False tree of this config."""
        if not self.scan:
            return params
        out = dict(unwrap(params))
        for prefix, first, n, _ in self.stage_plan():
            if self.scan_unit == 'block':
                for i, layer in enumerate(unstack(out.pop(f'{prefix}blocks', {}), n)):
                    out[f'block_{first + i}'] = layer
                continue
            cycle = self.dilation_cycle
            full = n // cycle
            if f'{prefix}cycles' in out:
                for c, unit in enumerate(unstack(out.pop(f'{prefix}cycles'), full)):
                    for j in range(cycle):
                        out[f'block_{first + c * cycle + j}'] = unit[f'block_{j}']
            partial = out.pop(f'{prefix}partial', {})
            for j in range(n % cycle):
                out[f'block_{first + full * cycle + j}'] = partial[f'block_{j}']
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
        'downsample': choice(*DOWNSAMPLES),
        'downsample_every': int_range(1, 4096),
        'downsample_factor': int_range(1, 64),
        'feature_hidden': int_range(0, 65536),
        **front_end.RULES,
    },
    presets=ARCHS,
)
