"""How each model family labels its variants: one config.model (as a mapping) -> e.g. 'GRU'.

Each family's label is written once, here, keyed by its name: `models.base.Family.variant`
defaults to `LABELS[name]`, and findings (which may not import flax) reads the same functions.
Pure Python on purpose: the models package imports flax, so this lives on the ground floor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Fields = Mapping[str, Any]

# {config.model.name: (config.model fields) -> variant label}, filled by `@labels(name)`.
LABELS: dict[str, Callable[[Fields], str]] = {}


def labels(name: str):
    """Declares the decorated function as the variant label of family `name`."""

    def declare(function: Callable[[Fields], str]) -> Callable[[Fields], str]:
        LABELS[name] = function
        return function

    return declare


@labels('dilated_cnn')
def dilated_cnn(fields: Fields) -> str:
    if fields.get('gate', 'none') != 'none':
        return 'gated CNN'
    return 'plain CNN' if fields.get('dilation') == 'none' else 'dilated CNN'


@labels('lstm')
def lstm(fields: Fields) -> str:
    return {'lstm': 'LSTM', 'gru': 'GRU', 'rnn': 'tanh RNN'}.get(fields.get('cell', 'lstm'))


@labels('mi_mlp')
def mi_mlp(fields: Fields) -> str:
    return 'MI-MLP' if fields.get('multiplicative', True) else 'additive MLP'


def label(name: Any, fields: Fields) -> str | None:
    """The variant label of family `name` for `fields`; None if `name` declares none here."""
    function = LABELS.get(name) if isinstance(name, str) else None
    return function(fields) if function is not None else None
