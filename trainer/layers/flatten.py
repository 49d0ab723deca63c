"""Flatten: each sample's features into one axis, (batch, d1, d2, ...) -> (batch, d1 * d2 * ...)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trainer.layers.layer import Layer, Shape

__all__ = ["Flatten"]


class Flatten(Layer):
    """Reshapes without copying; only the channels_last layout (Keras's default) is supported."""

    def __init__(self, data_format: str | None = None, name: str | None = None, trainable: bool = True) -> None:
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten supports data_format None or 'channels_last', got {data_format!r}.")
        super().__init__(name=name, trainable=trainable)
        self.data_format = data_format

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        features = input_shape[1:]
        return (input_shape[0], None if None in features else math.prod(features))  # type: ignore[arg-type]

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        self._input_shape = inputs.shape
        return inputs.reshape(len(inputs), -1)

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        return grad_outputs.reshape(self._input_shape) if need_input_grad else None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}
