"""Conv1D: a 1-d convolution over channels-last sequences, (batch, steps, channels)."""

from __future__ import annotations

from trainer.layers.base_conv import BaseConv

__all__ = ["Conv1D"]


class Conv1D(BaseConv):
    """activation(conv1d(inputs, kernel) + bias), with Keras 3's parameters and defaults.

    `kernel_size`, `strides` and `dilation_rate` are an int (or a 1-tuple); `padding` is "valid" or
    "same". Kernel shape `(kernel_size, input_channels, filters)`. ("causal" padding is not supported.)
    """

    rank = 1
