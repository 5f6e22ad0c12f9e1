"""Stacked (optionally bidirectional) LSTM / GRU / simple-RNN: the shallow family.

An optional conv front end (ecgdepth/models/front_end.py: the CNN+LSTM "CRNN") shortens the
time axis first. Layer 1 maps input channels -> width (x2 if bidirectional); layers 2..depth are
identical (width*dirs -> width*dirs) and go through one `nn.scan` over layers when scan=True
(each layer's `nn.RNN` is itself a scan over time: a nested scan). Every layer is
RNN -> [LayerNorm] -> dropout [-> + input, layers 2..depth only: where shapes match].
The LayerNorm sits on each layer's output (between layers), not on the raw input: LayerNorm
over a single-lead ECG channel would zero it.

Param trees (under 'params'; plus front_end/... with a front end):
  scan=True:  layer_0/{fwd,bwd,norm}, layers/{fwd,bwd,norm} (leaves stacked on axis 0 over the
              depth - 1 layers; absent if depth == 1), head.
  scan=False: layer_{i}/{fwd,bwd,norm} for i < depth, head.
`fwd`/`bwd` are the flax cells themselves (e.g. OptimizedLSTMCell: ii, if, ig, io kernels without
bias; hi, hf, hg, ho kernels with bias); `bwd` only if bidirectional, `norm` only if layer_norm.
LSTM forget-gate biases (`hf/bias`) start at `forget_bias` (`init` adds it).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from ecgdepth.models import base, front_end
from ecgdepth.models.layers import check_choice, classify, last_valid, masked_mean, sequence_lengths
from ecgdepth.rules import BOOL, choice, int_range, number_range

CELLS = {'lstm': nn.OptimizedLSTMCell, 'gru': nn.GRUCell, 'rnn': nn.SimpleCell}
READOUTS = ('last', 'mean')
# Forward FLOPs of one step of a flax cell of `width` units reading `inputs` features, in XLA's
# convention (2 per multiply-add, 1 per elementwise op, transcendentals not counted): matmuls
# plus the gates' elementwise work (tests/test_diagnostics.py checks each against XLA).
CELL_FLOPS = {
    'lstm': lambda inputs, width: 8 * width * (inputs + width) + 21 * width,
    'gru': lambda inputs, width: 6 * width * (inputs + width) + 18 * width,
    'rnn': lambda inputs, width: 2 * width * (inputs + width) + 2 * width,
}


def default_config() -> ml_collections.ConfigDict:
    """config.model of the stacked RNN: its defaults, each key a StackedLSTM field."""
    model = base.common_config('lstm')
    model.depth = 2
    model.cell = 'lstm'  # 'lstm', 'gru' or 'rnn' (simple tanh cell).
    model.bidirectional = False
    model.readout = 'last'  # 'last' step or 'mean' over time.
    # Initial forget-gate bias of LSTM cells (GRU / tanh RNN have none): 1.0 lets memory and its
    # gradient last dozens of steps from the start (Gers et al. 2000; Jozefowicz et al. 2015),
    # where 0.0 (flax's and PyTorch's default) halves them at every step.
    model.forget_bias = 1.0
    # Side features through one hidden ReLU layer before the head (0 = straight into it).
    model.feature_hidden = 0
    return front_end.add_defaults(model)


class RecurrentLayer(nn.Module):
    """One recurrent layer over the whole sequence: (batch, time, in) -> (batch, time, out)."""

    cell: str
    width: int
    bidirectional: bool
    layer_norm: bool
    dropout: float
    residual: bool
    train: bool = False

    @nn.compact
    def __call__(self, x, lengths=None):
        """`lengths` (batch,): real steps of end-padded sequences; the padding is never read
        before a real step (the backward direction starts at each sequence's last real step)."""
        if not self.is_initializing():  # d loss / d x_t for diagnostics; a no-op unless asked.
            x = self.perturb('input', x)
        cell_cls = CELLS[self.cell]
        h = nn.RNN(cell_cls(features=self.width, name='fwd'))(x, seq_lengths=lengths)
        if self.bidirectional:
            # keep_order: backward outputs are aligned with time, so its final state sits at t=0.
            bwd = nn.RNN(cell_cls(features=self.width, name='bwd'), reverse=True, keep_order=True)
            h = jnp.concatenate([h, bwd(x, seq_lengths=lengths)], axis=-1)
        if self.layer_norm:
            h = nn.LayerNorm(name='norm')(h)
        h = nn.Dropout(self.dropout)(h, deterministic=not self.train)
        if self.residual:
            h = x + h
        return h, None


class StackedLSTM(front_end.FrontEndModel):
    """[Front end ->] `depth` recurrent layers, readout of the last step (each direction's final
    state) or the time mean, then a Dense head. Sees the whole window (`Model.receptive_field`):
    one recurrent layer already reads every step."""

    perturbs_layer_inputs = True  # RecurrentLayer marks its input: gradient across time.

    cell: str = 'lstm'
    bidirectional: bool = False
    readout: str = 'last'
    forget_bias: float = 1.0  # Initial LSTM forget-gate bias (other cells have no forget gate).
    feature_hidden: int = 0  # Side features' hidden layer before the head (layers.classify).

    def __post_init__(self):
        check_choice('cell', self.cell, tuple(CELLS))
        check_choice('readout', self.readout, READOUTS)
        super().__post_init__()

    @nn.compact
    def __call__(self, x, *, train: bool = False, mask=None, features=None):
        """x (batch, time, channels); mask (batch, time), True = signal; features (batch, F)."""
        x, mask = self.apply_front_end(x, mask)
        lengths = () if mask is None else (sequence_lengths(mask),)
        fields = dict(
            cell=self.cell,
            width=self.width,
            bidirectional=self.bidirectional,
            layer_norm=self.layer_norm,
            dropout=self.dropout,
            residual=self.residual,
            train=train,
        )
        x = self.stack_layers(RecurrentLayer, x, fields, lengths, lengths)
        if self.readout == 'mean':
            x = masked_mean(x, mask)
        elif self.bidirectional:
            forward_last = last_valid(x[..., : self.width], mask)
            x = jnp.concatenate([forward_last, x[:, 0, self.width :]], axis=-1)
        else:
            x = last_valid(x, mask)
        return classify(x, features, self.num_classes, self.feature_hidden)

    def init(self, *args, **kwargs):
        """flax's init, then `forget_bias` added to every LSTM forget-gate bias (flax's cell has
        one bias initialiser for all four gates)."""
        variables = super().init(*args, **kwargs)
        if self.cell != 'lstm' or not self.forget_bias:
            return variables

        def shift(path, leaf):
            names = [getattr(k, 'key', None) for k in path]
            return leaf + self.forget_bias if names[-2:] == ['hf', 'bias'] else leaf

        return jax.tree_util.tree_map_with_path(shift, variables)

    @nn.nowrap
    def flops(self, time: int, channels: int, features: int = 0) -> int:
        """Forward FLOPs per example over a window of `time` steps, counted as XLA counts (see
        CELL_FLOPS): every cell step of every layer and direction, the LayerNorm (7 per feature
        + 4 per step), residual adds, the mean readout and the head; padding masks' selects are
        left out; with a front end, its FLOPs and the layers over its shorter output. Analytic
        because XLA counts the loop over time once, T times too few."""
        total, time, channels = self.front_end_flops(time, channels)
        directions = 2 if self.bidirectional else 1
        out = self.width * directions
        for layer in range(self.depth):
            inputs = channels if layer == 0 else out
            total += time * directions * CELL_FLOPS[self.cell](inputs, self.width)
            if self.layer_norm:
                total += time * (7 * out + 4)
            if self.residual and layer > 0:
                total += time * out
        if self.readout == 'mean':
            total += time * out
        if features and self.feature_hidden:  # Dense, bias and ReLU of the features' layer.
            total += 2 * features * self.feature_hidden + 2 * self.feature_hidden
            features = self.feature_hidden
        head_in = out + features
        return total + 2 * head_in * self.num_classes + self.num_classes


FAMILY = base.Family(
    name='lstm',
    module=StackedLSTM,
    display_name='LSTM',
    defaults=default_config,
    rules={
        'cell': choice(*CELLS),
        'bidirectional': BOOL,
        'readout': choice(*READOUTS),
        'forget_bias': number_range(-10, 10),
        'feature_hidden': int_range(0, 65536),
        **front_end.RULES,
    },
)
