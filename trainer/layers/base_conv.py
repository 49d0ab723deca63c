"""The convolution that Conv1D and Conv2D share: im2col, and matrix products.

Forward: the inputs are zero-padded into a reused buffer, every window is gathered into a reused
`(positions, kernel_size * channels)` matrix, and one GEMM with the kernel gives all outputs.
Backward: one GEMM gives the kernel's gradient; the inputs' gradient is one GEMM per kernel offset,
each added onto the input positions that offset saw. Everything stays float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer import activations, initializers, regularizers
from trainer.layers.kernel_layer import KernelLayer
from trainer.layers.layer import Shape
from trainer.layers.windows import (
    Windows,
    as_2d,
    check_spatial_input,
    normalize_padding,
    normalize_tuple,
    output_length,
)

__all__ = ["BaseConv"]


class BaseConv(KernelLayer):
    """A channels-last convolution over `rank` spatial axes (1 or 2), with Keras 3's parameters.

    The kernel has Keras's shape `(*kernel_size, input_channels, filters)`; weights are
    `[kernel, bias]` (just `[kernel]` without bias).
    """

    rank = 2

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
        activation: str | activations.ActivationFn | None = None,
        use_bias: bool = True,
        kernel_initializer: str | initializers.Initializer = "glorot_uniform",
        bias_initializer: str | initializers.Initializer = "zeros",
        kernel_regularizer: str | regularizers.Regularizer | None = None,
        bias_regularizer: str | regularizers.Regularizer | None = None,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        owner = type(self).__name__
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{owner} `filters` must be a positive integer, got {filters!r}.")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner} supports data_format None or 'channels_last' only, got {data_format!r}.")
        super().__init__(name=name, trainable=trainable)
        self.filters = int(filters)
        self.kernel_size = normalize_tuple(owner, "kernel_size", kernel_size, self.rank)
        self.strides = normalize_tuple(owner, "strides", strides, self.rank)
        self.padding = normalize_padding(owner, padding)
        self.data_format = data_format
        self.dilation_rate = normalize_tuple(owner, "dilation_rate", dilation_rate, self.rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: `strides` > 1 is not compatible with `dilation_rate` > 1 (as in Keras).")
        self.activation = activations.get(activation)
        self._activation_grad = activations.gradient_of(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = np.empty((0,), np.float32)
        self.bias: np.ndarray | None = None

    def build(self, input_shape: Shape) -> None:
        check_spatial_input(type(self).__name__, self.name, self.rank, input_shape)
        channels = input_shape[-1]
        assert channels is not None
        shape = (*self.kernel_size, channels, self.filters)
        self._make_weights(shape, (self.filters,))
        spatial = input_shape[1:-1] if self.rank == 2 else (1, input_shape[1])
        self._windows = Windows(
            (None, *spatial, channels),
            as_2d(self.kernel_size),
            as_2d(self.strides),
            as_2d(self.dilation_rate),
            self.padding,
        )
        w = self._windows
        self._padded = np.zeros((0, w.padded_rows, w.padded_cols, channels), np.float32)
        self._input_grad = np.zeros((0, w.padded_rows, w.padded_cols, channels), np.float32)
        self._output_tail = tuple(int(d) for d in self.compute_output_shape(input_shape)[1:])  # type: ignore[arg-type]
        self._input_tail = tuple(int(d) for d in input_shape[1:])  # type: ignore[arg-type]
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_spatial_input(type(self).__name__, self.name, self.rank, input_shape)
        spatial = tuple(
            output_length(size, k, s, d, self.padding)
            for size, k, s, d in zip(input_shape[1:-1], self.kernel_size, self.strides, self.dilation_rate)
        )
        return (input_shape[0], *spatial, self.filters)

    def _pad(self, inputs: np.ndarray) -> np.ndarray:
        """The inputs as (n, padded_rows, padded_cols, channels), zero-padded in a reused buffer."""
        w = self._windows
        inputs = inputs.reshape(len(inputs), w.rows, w.cols, w.channels)
        if not w.padded:
            return inputs
        n = len(inputs)
        if len(self._padded) < n:  # the borders of a new buffer are zero, and nothing writes them later
            self._padded = np.zeros((n, *self._padded.shape[1:]), np.float32)
        padded = self._padded[:n]
        w.unpad(padded)[...] = inputs
        return padded

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        w = self._windows
        n = len(inputs)
        columns = w.gather(self._pad(inputs)).reshape(n * w.out_rows * w.out_cols, -1)
        pre_activation = columns @ self.kernel.reshape(-1, self.filters)
        if self.bias is not None:
            pre_activation += self.bias
        pre_activation = pre_activation.reshape(n, *self._output_tail)
        outputs = self.activation(pre_activation)
        self._n, self._columns, self._pre_activation, self._outputs = n, columns, pre_activation, outputs
        return outputs

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        grad = self._activation_grad(self._pre_activation, self._outputs, grad_outputs)
        flat_grad = np.ascontiguousarray(grad, dtype=np.float32).reshape(-1, self.filters)
        np.matmul(self._columns.T, flat_grad, out=self._kernel_grad.reshape(-1, self.filters))
        if self.kernel_regularizer is not None:
            self._kernel_grad += self.kernel_regularizer.gradient(self.kernel)
        if self._bias_grad is not None:
            flat_grad.sum(axis=0, out=self._bias_grad)
            if self.bias_regularizer is not None:
                assert self.bias is not None  # built together with its gradient
                self._bias_grad += self.bias_regularizer.gradient(self.bias)
        if not need_input_grad:
            return None
        w = self._windows
        n = self._n
        if len(self._input_grad) < n:
            self._input_grad = np.zeros((n, *self._input_grad.shape[1:]), np.float32)
        padded_grad = self._input_grad[:n]
        padded_grad.fill(0)
        # One product per kernel offset, (positions, filters) @ (filters, channels): each result is contiguous,
        # so adding it onto the input positions it came from reads memory in order.
        kernel = self.kernel.reshape(*w.kernel, w.channels, self.filters)
        for i, j, index in w.offsets():
            part = flat_grad @ kernel[i, j].T
            padded_grad[index] += part.reshape(n, w.out_rows, w.out_cols, w.channels)
        return w.unpad(padded_grad).reshape(n, *self._input_tail).copy()

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": list(self.dilation_rate),
        }
