"""The global pooling that GlobalMaxPooling1D/2D and GlobalAveragePooling1D/2D share: one value per
channel, over every spatial position."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.layers.layer import Layer, Shape

__all__ = ["BaseGlobalPooling"]


class BaseGlobalPooling(Layer):
    """(batch, *spatial, channels) -> (batch, channels), or (batch, 1, ..., channels) with `keepdims`."""

    rank = 2
    reduction = "max"

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, name: str | None = None, trainable: bool = True
    ) -> None:
        owner = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner} supports data_format None or 'channels_last' only, got {data_format!r}.")
        super().__init__(name=name, trainable=trainable)
        self.data_format = data_format
        self.keepdims = bool(keepdims)
        self._axes = tuple(range(1, self.rank + 1))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects inputs with {self.rank} spatial axes and channels last, "
                f"got shape {input_shape}."
            )
        if self.keepdims:
            return (input_shape[0], *([1] * self.rank), input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # refuses inputs of the wrong rank now, not at the first batch
        super().build(input_shape)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        self._inputs = inputs
        if self.reduction == "max":
            outputs = inputs.max(axis=self._axes, keepdims=True)
        else:
            outputs = inputs.mean(axis=self._axes, keepdims=True, dtype=np.float32)
        self._kept = outputs
        result: np.ndarray = outputs if self.keepdims else outputs.reshape(len(inputs), -1)
        return result

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if not need_input_grad:
            return None
        grad = grad_outputs.reshape(self._kept.shape)
        inputs = self._inputs
        if self.reduction == "max":
            # Ties share the gradient equally, as the gradient of Keras's max (torch.amax) does.
            winners = (inputs == self._kept).astype(np.float32)
            winners /= winners.sum(axis=self._axes, keepdims=True)
            result: np.ndarray = winners * grad
            return result
        positions = np.float32(np.prod(inputs.shape[1 : self.rank + 1]))
        return np.broadcast_to(grad / positions, inputs.shape).copy()

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}
