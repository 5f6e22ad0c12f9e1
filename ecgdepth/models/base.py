"""What every model family shares, and the spec by which a family declares itself.

- `Model`: the flax base class of every family's module. It holds the fields every family has
  (depth, width, dropout, layer_norm, residual, scan, remat), the "first layer (changes the
  feature size), then `depth - 1` identical layers, scanned or unrolled" stack with its
  `unscan_params`, and the interface diagnostics ask of a model (receptive field, FLOPs, whether
  it marks its layers' inputs for gradient probes).
- `common_config` / `COMMON_RULES`: those fields' defaults and validation rules, once.
- `Family`: one family's declaration (`FAMILY = base.Family(...)` in its module), which the
  registry (ecgdepth/models/__init__.py) lists and validation, configs and diagnostics read.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from typing import Any

import flax.linen as nn
import ml_collections

from ecgdepth import variants
from ecgdepth.models.layers import repeat_block, unscan_tree
from ecgdepth.rules import BOOL, PROBABILITY, STRING, Rule, int_range

# Validation rules of the fields every family has (`name` is checked against the registry).
COMMON_RULES: Mapping[str, Rule] = types.MappingProxyType(
    {
        'depth': int_range(1, 4096),
        'width': int_range(1, 65536),
        'dropout': PROBABILITY,
        'layer_norm': BOOL,
        'residual': BOOL,
        'scan': BOOL,
        'remat': BOOL,
    }
)


def common_config(name: str) -> ml_collections.ConfigDict:
    """Model fields every family has. Each key is a field of the family's flax module."""
    model = ml_collections.ConfigDict()
    model.name = name
    model.depth = 4
    model.width = 64
    model.dropout = 0.0
    model.layer_norm = False
    model.residual = False
    model.scan = True  # nn.scan over identical layers: compile time flat in depth.
    model.remat = False  # nn.remat each scanned layer: memory flat in depth.
    return model


def receptive_field_dict(samples: int, sample_rate: float) -> dict:
    """The receptive-field entries of a run's diagnostics: in samples and in seconds."""
    return {'receptive_field': samples, 'receptive_field_s': samples / sample_rate}


class Model(nn.Module):
    """Base of every family's flax module: the common fields and the layer stack.

    Called as `model(x, *, train=False, mask=None, features=None)` -> (batch, num_classes).
    Subclasses add their own fields (with defaults) after these.
    """

    layer_prefix = 'layer'  # unrolled layer i is params[f'{layer_prefix}_{i}'] (not a field)
    scan_name = 'layers'  # the scanned layers 2..depth of `stack_layers` (not a field)
    # Capability: each layer marks its input with `self.perturb('input', x)`, so diagnostics
    # can read d loss / d (layer input) at every time step (the gradient across time).
    perturbs_layer_inputs = False

    num_classes: int
    depth: int
    width: int
    dropout: float = 0.0
    layer_norm: bool = False
    residual: bool = False
    scan: bool = True
    remat: bool = False

    @nn.nowrap
    def stack_layers(self, block_cls, x, fields: dict, first_args=(), rest_args=()):
        """Layer 1, then layers 2..depth: `block_cls(**fields)` applied to the carry `x`.

        Layer 1 changes the feature size: never scanned, never residual, `first_args` as its
        extra inputs. Layers 2..depth are identical: one `nn.scan` named `scan_name` (leaves
        stacked on axis 0) if `scan`, else unrolled, `rest_args` broadcast to every one.
        Unrolled layer i is `f'{layer_prefix}_{i}'`. Call from the compact `__call__`.
        """
        x = repeat_block(
            block_cls,
            1,
            x,
            *first_args,
            scan=False,
            remat=self.remat,
            scan_name=f'{self.layer_prefix}_0',
            unrolled_prefix=self.layer_prefix,
            **{**fields, 'residual': False},
        )
        return repeat_block(
            block_cls,
            self.depth - 1,
            x,
            *rest_args,
            scan=self.scan,
            remat=self.remat,
            scan_name=self.scan_name,
            unrolled_prefix=self.layer_prefix,
            first_index=1,
            **fields,
        )

    @nn.nowrap
    def unscan_params(self, params):
        """Maps a scan=True param tree (or variables dict) to the scan=False tree of this config
        (the `stack_layers` layout; a family with another layout overrides this)."""
        if not self.scan:
            return params
        return unscan_tree(params, [(self.scan_name, self.layer_prefix, 1)])

    @nn.nowrap
    def receptive_field(self, sample_rate: float, window: int) -> dict:
        """Theoretical receptive field of one output, in samples and seconds (the dict a run's
        diagnostics record). Default: the whole window, as for a family whose first layer
        already reads every step; a family that sees less overrides this."""
        return receptive_field_dict(window, sample_rate)

    @nn.nowrap
    def layer_mask(self, mask):
        """The padding mask at the time resolution of the layers' inputs (what `perturb`
        marks): the input's, unless the model shortens time before its layers."""
        return mask

    @nn.nowrap
    def flops(self, time: int, channels: int, features: int = 0) -> int | None:
        """Analytic forward FLOPs per example of a `time` x `channels` window (plus `features`
        side features), in XLA's convention; None: none, so XLA's cost analysis counts."""
        del time, channels, features
        return None


@dataclasses.dataclass(frozen=True)
class Family:
    """A model family, declared once beside its module as `FAMILY = base.Family(...)`.

    name: the config.model.name that selects it.
    module: its flax module, a subclass of `Model`; every config.model key but `name` is a field.
    display_name: how tables, legends and prose name it (e.g. 'LSTM').
    defaults: () -> config.model with its defaults (`common_config(name)` plus its own fields).
    rules: the validation rule of each field it adds to `COMMON_RULES`, from its own constants.
    input_check: optional (config.model, window, window_text) -> problem or None: a rule between
        the model and the samples per example (`window_text` names them in the message).
    variant: optional (config.model fields) -> the label of that variant (e.g. 'GRU'), which
        summary.json records and findings compare; None: `variants.LABELS[name]` (where the
        built-in families declare theirs, flax-free), else the display_name.
    presets: named configurations, {name: {field: value}}, that the spec key `arch=NAME`
        applies (e.g. `configs/dilated_cnn.py:arch=resnet1d`); the spec's own keys win.
    """

    name: str
    module: type[Model]
    display_name: str
    defaults: Callable[[], ml_collections.ConfigDict]
    rules: Mapping[str, Rule]
    input_check: Callable[[Any, int, str], str | None] | None = None
    variant: Callable[[Mapping[str, Any]], str] | None = None
    presets: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, 'rules', types.MappingProxyType(dict(self.rules)))
        object.__setattr__(self, 'presets', types.MappingProxyType(dict(self.presets)))
        if self.variant is None:
            object.__setattr__(self, 'variant', variants.LABELS.get(self.name))

    def label(self, model_fields: Mapping[str, Any]) -> str:
        """The variant label of one config.model (a mapping of its fields)."""
        return self.variant(model_fields) if self.variant is not None else self.display_name

    def config_rules(self) -> dict[str, Rule]:
        """Every config.model field's rule: the common ones, the family's own, and `name`."""
        return {**COMMON_RULES, **self.rules, 'name': STRING}
