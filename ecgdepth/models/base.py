"""What every model family shares: the config fields common to all of them."""

from __future__ import annotations

import ml_collections


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
