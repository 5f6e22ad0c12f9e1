"""Shared pieces of every model family: the scan/remat helper and the scan -> unrolled converter.

Depth is the variable under study, so depth must not change the compiled program: every stack of
identical blocks goes through `repeat_block`, which uses `nn.scan` (parameters stacked on axis 0)
when `scan=True` and a plain loop of separately named blocks otherwise. The unrolled form is the
reference the scanned form is tested against, and `unscan_tree` (and each model's
`unscan_params`) maps one tree onto the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# Every scanned layer gets its own initial parameters and its own dropout mask.
SCAN_SPLIT_RNGS = {'params': True, 'dropout': True}
# Stacked on axis 0: parameters, and the zero `perturbations` (Module.perturb) through which
# diagnostics read d loss / d activation, so each layer gets its own slot.
SCAN_VARIABLE_AXES = {'params': 0, 'perturbations': 0}


def check_choice(field: str, value: Any, allowed: Sequence[Any]) -> None:
    """Raises a ValueError naming the field and its allowed values: config typos fail loudly."""
    if value not in allowed:
        raise ValueError(f'{field}={value!r} is not one of {tuple(allowed)}')


def maybe_remat(block_cls: type[nn.Module], remat: bool, *, in_scan: bool) -> type[nn.Module]:
    """Wraps a block in `nn.remat` (activations recomputed in the backward pass) if asked.

    Inside a scan the loop boundary already stops CSE from undoing the rematerialisation, so
    `prevent_cse=False` there, as the flax docs recommend; outside a scan it stays True.
    """
    if not remat:
        return block_cls
    return nn.remat(block_cls, prevent_cse=not in_scan)


def repeat_block(
    block_cls: type[nn.Module],
    n: int,
    x,
    *broadcast,
    scan: bool,
    remat: bool,
    scan_name: str,
    unrolled_prefix: str,
    first_index: int = 0,
    **fields,
):
    """Applies `n` identical blocks `block_cls(**fields)` to the carry `x`; returns the new carry.

    Block contract: `block(x, *broadcast) -> (x, None)`; `broadcast` arguments are the same for
    every block (e.g. the network input for MI layers) and are not scanned over. Must be called
    from inside a compact method, which becomes the blocks' parent.

    scan=True: one `nn.scan` over `length=n` named `scan_name`; its parameters are stacked along
    axis 0, so the traced program is the same for every n >= 1.
    scan=False: blocks `f'{unrolled_prefix}_{first_index + i}'` for i < n, the reference form.
    """
    if n <= 0:
        return x
    if scan:
        cls = maybe_remat(block_cls, remat, in_scan=True)
        scanned = nn.scan(
            cls,
            variable_axes=SCAN_VARIABLE_AXES,
            split_rngs=SCAN_SPLIT_RNGS,
            length=n,
            in_axes=(nn.broadcast,) * len(broadcast),
        )
        x, _ = scanned(name=scan_name, **fields)(x, *broadcast)
        return x
    cls = maybe_remat(block_cls, remat, in_scan=False)
    for i in range(n):
        x, _ = cls(name=f'{unrolled_prefix}_{first_index + i}', **fields)(x, *broadcast)
    return x


def unstack(tree, n: int | None = None) -> list:
    """Splits a tree whose leaves are stacked on axis 0 into a list of per-layer trees."""
    leaves = jax.tree_util.tree_leaves(tree)
    if n is None:
        n = leaves[0].shape[0] if leaves else 0
    return [jax.tree_util.tree_map(lambda a, i=i: a[i], tree) for i in range(n)]


def unwrap(params):
    """The bare param tree of a variables dict {'params': tree} or of a param tree."""
    if isinstance(params, Mapping) and set(params) == {'params'}:
        return params['params']
    return params


def rewrap(tree, like):
    """Puts `tree` back under a 'params' key if `like` was a variables dict."""
    return {'params': tree} if unwrap(like) is not like else tree


def unscan_tree(params, moves: Sequence[tuple[str, str, int]]):
    """Returns a copy of `params` with each stacked subtree split into separately named layers.

    `moves` holds (scan_name, unrolled_prefix, first_index): the subtree `params[scan_name]`, whose
    leaves are stacked on axis 0, becomes `params[f'{unrolled_prefix}_{first_index + i}']`.
    Works on a variables dict too (the 'params' level is kept).
    """
    out = dict(unwrap(params))
    for scan_name, prefix, first in moves:
        if scan_name in out:
            for i, layer in enumerate(unstack(out.pop(scan_name))):
                out[f'{prefix}_{first + i}'] = layer
    return rewrap(out, params)


def masked_mean(h, mask):
    """Mean over time (axis 1) of (batch, time, features), counting only mask == True steps."""
    if mask is None:
        return h.mean(axis=1)
    weights = mask.astype(h.dtype)[..., None]
    return (h * weights).sum(axis=1) / jnp.maximum(weights.sum(axis=1), 1.0)


def last_valid(h, mask):
    """The last real time step of (batch, time, features): the end, or the mask's last True."""
    if mask is None:
        return h[:, -1]
    index = jnp.maximum(sequence_lengths(mask) - 1, 0)
    return jnp.take_along_axis(h, index[:, None, None], axis=1)[:, 0]


def sequence_lengths(mask):
    """Number of real steps per example of a (batch, time) mask padded at the end."""
    return mask.astype(jnp.int32).sum(axis=1)


def classify(x, features, num_classes: int, feature_hidden: int = 0):
    """The Dense head 'head' on the pooled representation, side features concatenated.

    Side features (e.g. a beat's RR intervals) carry what one window cannot show, such as the
    prematurity that defines supraventricular beats. A linear head only adds up each feature's
    evidence; `feature_hidden` > 0 first passes them through Dense(feature_hidden) 'features'
    + ReLU, so the head can read combinations of them (one interval against another). Call
    from inside a compact method.
    """
    if features is not None:
        features = features.astype(x.dtype)
        if feature_hidden:
            features = nn.relu(nn.Dense(feature_hidden, name='features')(features))
        x = jnp.concatenate([x, features], axis=-1)
    return nn.Dense(num_classes, name='head')(x)
