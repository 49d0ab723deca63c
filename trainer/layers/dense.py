"""Dense: activation(inputs @ kernel + bias), applied along the last axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer import activations, initializers, regularizers
from trainer.layers.kernel_layer import KernelLayer
from trainer.layers.layer import Shape

__all__ = ["Dense"]


class Dense(KernelLayer):
    """A fully connected layer with Keras 3's parameters and defaults."""

    def __init__(
        self,
        units: int,
        activation: str | activations.ActivationFn | None = None,
        use_bias: bool = True,
        kernel_initializer: str | initializers.Initializer = "glorot_uniform",
        bias_initializer: str | initializers.Initializer = "zeros",
        kernel_regularizer: str | regularizers.Regularizer | None = None,
        bias_regularizer: str | regularizers.Regularizer | None = None,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"Dense `units` must be a positive integer, got {units!r}.")
        super().__init__(name=name, trainable=trainable)
        self.units = int(units)
        self.activation = activations.get(activation)
        self._activation_grad = activations.gradient_of(self.activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel = np.empty((0, self.units), np.float32)
        self.bias: np.ndarray | None = None

    def build(self, input_shape: Shape) -> None:
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(f"Dense {self.name!r} needs a known last input dimension, got shape {input_shape}.")
        self._make_weights((input_dim, self.units), (self.units,))
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        pre_activation = inputs @ self.kernel
        if self.bias is not None:
            pre_activation += self.bias
        outputs = self.activation(pre_activation)
        self._inputs, self._pre_activation, self._outputs = inputs, pre_activation, outputs
        return outputs

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        grad = self._activation_grad(self._pre_activation, self._outputs, grad_outputs)
        return self.backward_from_pre_activation(grad, need_input_grad)

    def backward_from_pre_activation(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Backward pass given d(loss)/d(inputs @ kernel + bias), skipping the activation's derivative."""
        inputs, flat_grad = self._inputs, grad
        if inputs.ndim != 2:  # a reshape even of a 2-D array costs as much as a small batch's add
            inputs, flat_grad = inputs.reshape(-1, self.kernel.shape[0]), grad.reshape(-1, self.units)
        np.matmul(inputs.T, flat_grad, out=self._kernel_grad)
        if self.kernel_regularizer is not None:
            self._kernel_grad += self.kernel_regularizer.gradient(self.kernel)
        if self._bias_grad is not None:
            np.add.reduce(flat_grad, axis=0, out=self._bias_grad)  # ndarray.sum's Python wrapper costs more here
            if self.bias_regularizer is not None:
                assert self.bias is not None  # built together with its gradient
                self._bias_grad += self.bias_regularizer.gradient(self.bias)
        return grad @ self.kernel.T if need_input_grad else None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
        }
