"""GlobalMaxPooling2D: the maximum of each channel over all rows and cols."""

from __future__ import annotations

from trainer.layers.base_global_pooling import BaseGlobalPooling

__all__ = ["GlobalMaxPooling2D"]


class GlobalMaxPooling2D(BaseGlobalPooling):
    """Keras 3's parameters: `data_format` (channels_last only) and `keepdims` (default False)."""

    rank = 2
    reduction = "max"
