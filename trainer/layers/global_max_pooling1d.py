"""GlobalMaxPooling1D: the maximum of each channel over all steps."""

from __future__ import annotations

from trainer.layers.base_global_pooling import BaseGlobalPooling

__all__ = ["GlobalMaxPooling1D"]


class GlobalMaxPooling1D(BaseGlobalPooling):
    """Keras 3's parameters: `data_format` (channels_last only) and `keepdims` (default False)."""

    rank = 1
    reduction = "max"
