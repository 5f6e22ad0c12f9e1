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


def _front_end(fields: Fields) -> bool:
    """Whether a conv front end (ecgdepth/models/front_end.py) precedes the layers."""
    return bool(fields.get('front_end_layers', 0))


@labels('dilated_cnn')
def dilated_cnn(fields: Fields) -> str:
    downsample = fields.get('downsample', 'none')
    if fields.get('gate', 'none') != 'none':
        label = 'gated CNN'
    elif downsample == 'stride' and fields.get('residual') and fields.get('dilation') == 'none':
        label = 'strided ResNet-1d'  # The Hannun et al. (2019) pattern (ARCHS['resnet1d']).
    else:
        label = 'plain CNN' if fields.get('dilation') == 'none' else 'dilated CNN'
    if downsample in ('max', 'avg'):
        label += f', {downsample}-pooled'
    elif downsample == 'stride' and label != 'strided ResNet-1d':
        label += ', strided'
    return label + (' + front end' if _front_end(fields) else '')


@labels('lstm')
def lstm(fields: Fields) -> str:
    cell = {'lstm': 'LSTM', 'gru': 'GRU', 'rnn': 'tanh RNN'}.get(fields.get('cell', 'lstm'))
    return f'CNN+{cell}' if _front_end(fields) else cell  # The "CRNN" of ECG papers.


@labels('mi_mlp')
def mi_mlp(fields: Fields) -> str:
    label = 'MI-MLP' if fields.get('multiplicative', True) else 'additive MLP'
    return f'CNN+{label}' if _front_end(fields) else label


def label(name: Any, fields: Fields) -> str | None:
    """The variant label of family `name` for `fields`; None if `name` declares none here."""
    function = LABELS.get(name) if isinstance(name, str) else None
    return function(fields) if function is not None else None
