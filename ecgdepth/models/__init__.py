"""Model registry: config.model.name selects a family; every other key becomes a module field.

Passing keys through unchanged means a CLI override travels config -> module field with no
translation table to keep in sync. Each family declares itself once, as `FAMILY` beside its
module (ecgdepth/models/base.py: Family); FAMILIES lists them, one line each, and `register`
adds one from outside the package (a user module imported by a config file).
"""

from __future__ import annotations

import dataclasses
import math

import flax.linen as nn
import jax
import ml_collections
import numpy as np

from ecgdepth.models import base, dilated_cnn, lstm, mi_mlp
from ecgdepth.models.base import Family
from ecgdepth.models.layers import unwrap

FAMILIES: dict[str, Family] = {
    'dilated_cnn': dilated_cnn.FAMILY,
    'lstm': lstm.FAMILY,
    'mi_mlp': mi_mlp.FAMILY,
}

# Dataclass fields that belong to linen itself or are set by build_model, not by the config.
_RESERVED = ('parent', 'name', 'num_classes')

__all__ = [
    'FAMILIES',
    'Family',
    'build_model',
    'count_params',
    'default_config',
    'display_name',
    'get',
    'model_fields',
    'per_layer_params',
    'register',
    'unscan_params',
]


def get(name: str) -> Family:
    """The registered family called `name`; a ValueError listing the choices otherwise."""
    family = FAMILIES.get(name) if isinstance(name, str) else None
    if family is None:
        raise ValueError(f'{name!r} is not a model family; choose one of {sorted(FAMILIES)}.')
    return family


def register(family: Family) -> Family:
    """Adds `family` to FAMILIES (a model family defined outside this package) and returns it.

    Checks that its module subclasses base.Model, that its defaults, its rules and its
    module's fields name the same fields, so a family that validates also builds, and that its
    presets set only those fields.
    """
    if not isinstance(family, Family):
        raise TypeError(f'register() takes a models.Family, got {family!r}.')
    if FAMILIES.get(family.name, family) is not family:
        raise ValueError(f'A model family {family.name!r} is already registered.')
    _check_family(family)
    FAMILIES[family.name] = family
    return family


def _check_family(family: Family) -> None:
    if not (isinstance(family.module, type) and issubclass(family.module, base.Model)):
        raise TypeError(f'Family {family.name!r}: module must subclass models.base.Model.')
    defaults = family.defaults()
    if defaults.get('name') != family.name:
        raise ValueError(f'Family {family.name!r}: defaults() sets name={defaults.get("name")!r}.')
    fields = set(model_fields(family.module))
    for preset, values in family.presets.items():
        if not set(values) <= fields:
            raise ValueError(
                f'Family {family.name!r}: preset {preset!r} sets {sorted(set(values) - fields)}, '
                f'which are not fields of {family.module.__name__}.'
            )
    for what, keys in (('defaults()', defaults.keys()), ('rules', family.config_rules())):
        names = set(keys) - {'name'}
        if names != fields:
            raise ValueError(
                f'Family {family.name!r}: {what} name {sorted(names)} but '
                f'{family.module.__name__} has fields {sorted(fields)}.'
            )


def default_config(name: str) -> ml_collections.ConfigDict:
    """config.model of family `name` with its defaults."""
    return get(name).defaults()


def display_name(name: str) -> str:
    """How tables, legends and prose show family `name` (its own name if unregistered)."""
    family = FAMILIES.get(name)
    return family.display_name if family is not None else str(name)


def model_fields(cls: type[nn.Module]) -> tuple[str, ...]:
    """The field names a config may set for a model class."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in _RESERVED)


def build_model(model_config, num_classes: int) -> nn.Module:
    """Instantiates the family config.model.name with every other config key as a field."""
    cfg = model_config.to_dict() if hasattr(model_config, 'to_dict') else dict(model_config)
    name = cfg.pop('name', None)
    try:
        cls = get(name).module
    except ValueError as error:
        raise ValueError(f'config.model.name: {error}') from None
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
