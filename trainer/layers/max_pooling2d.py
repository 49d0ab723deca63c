"""MaxPooling2D: the maximum of each window of channels-last inputs (batch, rows, cols, channels)."""

from __future__ import annotations

from trainer.layers.base_pooling import BasePooling

__all__ = ["MaxPooling2D"]


class MaxPooling2D(BasePooling):
    """Keras 3's parameters and defaults: `pool_size` (default 2), `strides` (default: `pool_size`),
    `padding` "valid" or "same"; channels pooled separately."""

    rank = 2
    reduction = "max"
