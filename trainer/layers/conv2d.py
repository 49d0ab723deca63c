"""Conv2D: a 2-d convolution over channels-last images, (batch, rows, cols, channels)."""

from __future__ import annotations

from trainer.layers.base_conv import BaseConv

__all__ = ["Conv2D"]


class Conv2D(BaseConv):
    """activation(conv2d(inputs, kernel) + bias), with Keras 3's parameters and defaults.

    `kernel_size`, `strides` and `dilation_rate` are an int or a pair; `padding` is "valid" or "same"
    ("same" pads as Keras does: the extra pixel of an odd total at the end). Kernel shape
    `(rows, cols, input_channels, filters)`. `strides` > 1 with `dilation_rate` > 1 is refused, as in Keras.
    """

    rank = 2
