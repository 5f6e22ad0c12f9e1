"""Field rules for config checks: the ground floor that models and validation both import.

A rule is (type, predicate or None, what the predicate demands). A model family declares the
rules of its own fields from its own constants (e.g. `choice(*CELLS)`) next to its flax module;
ecgdepth.validation applies them with messages such as "config.model.depth must be an integer
in [1, 4096], got 0.". Plain Python only: importing this pulls in neither JAX nor flax.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Rule = tuple[type | tuple[type, ...], Callable[[Any], bool] | None, str]

POSITIVE_INT: Rule = (int, lambda v: v >= 1, 'an integer >= 1')
NON_NEGATIVE_INT: Rule = (int, lambda v: v >= 0, 'an integer >= 0')
BOOL: Rule = (bool, None, 'a boolean')
PROBABILITY: Rule = ((int, float), lambda v: 0.0 <= v < 1.0, 'a number in [0, 1)')
NON_NEGATIVE: Rule = ((int, float), lambda v: v >= 0.0, 'a number >= 0')
POSITIVE: Rule = ((int, float), lambda v: v > 0.0, 'a number > 0')
STRING: Rule = (str, None, 'a string')


def choice(*choices: str) -> Rule:
    """A string among `choices`, listed in order in the message."""
    return (str, lambda v: v in choices, 'one of ' + ', '.join(repr(c) for c in choices))


def int_range(low: int, high: int) -> Rule:
    """An integer in [low, high]."""
    return (int, lambda v: low <= v <= high, f'an integer in [{low}, {high}]')


def number_range(low: float, high: float) -> Rule:
    """A finite number in [low, high]."""
    return (
        (int, float),
        lambda v: math.isfinite(v) and low <= v <= high,
        f'a number in [{low}, {high}]',
    )
