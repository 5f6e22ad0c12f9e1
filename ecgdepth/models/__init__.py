"""Model registry: config.model.name selects a family; every other key becomes a module field.

Passing keys through unchanged means a CLI override travels config -> module field with no
translation table to keep in sync.
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from ecgdepth.models import dilated_cnn, lstm, mi_mlp
from ecgdepth.models.dilated_cnn import DilatedCNN, receptive_field
from ecgdepth.models.layers import unwrap
from ecgdepth.models.lstm import StackedLSTM
from ecgdepth.models.mi_mlp import MIMLP

MODELS: dict[str, type[nn.Module]] = {
    'dilated_cnn': DilatedCNN,
    'lstm': StackedLSTM,
    'mi_mlp': MIMLP,
}
_DEFAULT_CONFIGS = {
    'dilated_cnn': dilated_cnn.default_config,
    'lstm': lstm.default_config,
    'mi_mlp': mi_mlp.default_config,
}

# Dataclass fields that belong to linen itself or are set by build_model, not by the config.
_RESERVED = ('parent', 'name', 'num_classes')

__all__ = [
    'MODELS',
    'DilatedCNN',
    'MIMLP',
    'StackedLSTM',
    'build_model',
    'count_params',
    'default_config',
    'model_fields',
    'per_layer_params',
    'receptive_field',
    'unscan_params',
]


def default_config(name: str) -> ml_collections.ConfigDict:
    """config.model of family `name` with its defaults."""
    if name not in _DEFAULT_CONFIGS:
        raise ValueError(f'{name!r} is not a model family; choose one of {sorted(MODELS)}.')
    return _DEFAULT_CONFIGS[name]()


def model_fields(cls: type[nn.Module]) -> tuple[str, ...]:
    """The field names a config may set for a model class."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _RESERVED)


def build_model(model_config, num_classes: int) -> nn.Module:
    """Instantiates MODELS[model_config.name] with every other config key as a dataclass field."""
    cfg = model_config.to_dict() if hasattr(model_config, 'to_dict') else dict(model_config)
    name = cfg.pop('name', None)
    if name not in MODELS:
        raise ValueError(f'Unknown config.model.name={name!r}; choices: {sorted(MODELS)}')
    cls = MODELS[name]
    allowed = model_fields(cls)
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ValueError(
            f'config.model has keys {unknown} that {cls.__name__} ({name!r}) does not '
            f'take; its fields are {sorted(allowed)}'
        )
    return cls(num_classes=num_classes, **cfg)


def count_params(params) -> int:
    """Exact number of scalars in a param pytree (arrays or ShapeDtypeStructs from eval_shape)."""
    return sum(math.prod(np.shape(leaf)) for leaf in jax.tree_util.tree_leaves(params))


def unscan_params(model: nn.Module, params):
    """The scan=False param tree equivalent to `params` of `model` (identity if not scanned)."""
    return model.unscan_params(params)


def per_layer_params(model: nn.Module, params) -> list:
    """The `model.depth` per-layer param subtrees in order (first layer first), from either form.

    For diagnostics that need one entry per layer whatever the scanned form.
    """
    tree = unwrap(model.unscan_params(params))
    return [tree[f'{model.layer_prefix}_{i}'] for i in range(model.depth)]
