"""Reshape: each sample's features to `target_shape` (one entry may be -1)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.layers.layer import Layer, Shape

__all__ = ["Reshape"]


class Reshape(Layer):
    """(batch, *anything) -> (batch, *target_shape), without copying; `-1` stands for what is left."""

    def __init__(self, target_shape: Sequence[int], name: str | None = None, trainable: bool = True) -> None:
        shape = tuple(target_shape) if isinstance(target_shape, (tuple, list)) else None
        if (
            not shape
            or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and (d > 0 or d == -1) for d in shape)
            or shape.count(-1) > 1
        ):
            raise ValueError(
                f"Reshape `target_shape` must be a tuple of positive integers with at most one -1, got {target_shape!r}."
            )
        super().__init__(name=name, trainable=trainable)
        self.target_shape = tuple(int(d) for d in shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        features = input_shape[1:]
        if None in features:
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        size = math.prod(features)  # type: ignore[arg-type]
        known = math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or (-1 not in self.target_shape and size != known):
            raise ValueError(
                f"Reshape {self.name!r} cannot make {features} ({size} values) into {self.target_shape}."
            )
        return (input_shape[0], *(size // known if d == -1 else d for d in self.target_shape))

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # refuses a shape that does not fit, now rather than at the first batch
        super().build(input_shape)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        self._input_shape = inputs.shape
        return inputs.reshape(len(inputs), *self.target_shape)

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        return grad_outputs.reshape(self._input_shape) if need_input_grad else None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}
