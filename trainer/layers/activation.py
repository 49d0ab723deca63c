"""Activation: applies an activation function as a layer of its own."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer import activations
from trainer.layers.layer import Layer

__all__ = ["Activation"]


class Activation(Layer):
    """outputs = activation(inputs)."""

    def __init__(self, activation: str | activations.ActivationFn, name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name=name, trainable=trainable)
        self.activation = activations.get(activation)
        self._activation_grad = activations.gradient_of(self.activation)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        outputs = self.activation(inputs)
        self._inputs, self._outputs = inputs, outputs
        return outputs

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if not need_input_grad:
            return None
        return self._activation_grad(self._inputs, self._outputs, grad_outputs)

    def backward_from_pre_activation(self, grad: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Backward pass given d(loss)/d(inputs) directly (the activation's derivative already applied)."""
        return grad if need_input_grad else None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
