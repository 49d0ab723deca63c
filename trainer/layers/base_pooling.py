"""The pooling that MaxPooling1D/2D and AveragePooling1D/2D share.

"same" padding follows Keras's torch backend, which the reference numbers come from: when the
padding is the same on both sides of every axis, padded positions take no part (a max ignores
them, an average does not count them); when an odd total puts one more at the end, the inputs are
first padded by repeating their edge values, which then count like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.layers.layer import Layer, Shape
from trainer.layers.windows import (
    Windows,
    as_2d,
    check_spatial_input,
    normalize_padding,
    normalize_tuple,
    output_length,
)

__all__ = ["BasePooling"]


class BasePooling(Layer):
    """Pools windows of `pool_size` every `strides` (default: `pool_size`) over `rank` spatial axes."""

    rank = 2
    reduction = "max"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        owner = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner} supports data_format None or 'channels_last' only, got {data_format!r}.")
        super().__init__(name=name, trainable=trainable)
        self.pool_size = normalize_tuple(owner, "pool_size", pool_size, self.rank)
        self.strides = self.pool_size if strides is None else normalize_tuple(owner, "strides", strides, self.rank)
        self.padding = normalize_padding(owner, padding)
        self.data_format = data_format

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        check_spatial_input(type(self).__name__, self.name, self.rank, input_shape)
        spatial = tuple(
            output_length(size, k, s, 1, self.padding) for size, k, s in zip(input_shape[1:-1], self.pool_size, self.strides)
        )
        return (input_shape[0], *spatial, input_shape[-1])

    def build(self, input_shape: Shape) -> None:
        check_spatial_input(type(self).__name__, self.name, self.rank, input_shape)
        spatial = input_shape[1:-1] if self.rank == 2 else (1, input_shape[1])
        self._windows = Windows(
            (None, *spatial, input_shape[-1]), as_2d(self.pool_size), as_2d(self.strides), (1, 1), self.padding
        )
        w = self._windows
        # Symmetric padding: padded positions are left out (-inf for a max, uncounted for an average).
        # Asymmetric: Keras's torch backend repeats the edge values instead.
        self._excluding = w.padded and w.symmetric
        self._counts: np.ndarray | None = None
        if self.reduction == "average" and self._excluding:
            ones = np.zeros((1, w.padded_rows, w.padded_cols, 1), np.float32)
            w.unpad(ones)[...] = 1
            self._counts = sum(ones[index] for _, _, index in w.offsets())  # type: ignore[assignment]
        self._output_tail = tuple(int(d) for d in self.compute_output_shape(input_shape)[1:])  # type: ignore[arg-type]
        self._input_tail = tuple(int(d) for d in input_shape[1:])  # type: ignore[arg-type]
        super().build(input_shape)

    def _pad(self, inputs: np.ndarray) -> np.ndarray:
        w = self._windows
        inputs = inputs.reshape(len(inputs), w.rows, w.cols, w.channels)
        if not w.padded:
            return inputs
        if self._excluding:
            fill = -np.inf if self.reduction == "max" else 0.0
            return np.pad(inputs, ((0, 0), *w.pads, (0, 0)), constant_values=fill)
        return np.pad(inputs, ((0, 0), *w.pads, (0, 0)), mode="edge")

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        w = self._windows
        padded = self._pad(inputs.astype(np.float32, copy=False))
        offsets = w.offsets()
        _, _, first = next(offsets)
        pooled = padded[first].copy()  # (n, out_rows, out_cols, channels)
        if self.reduction == "max":
            for _, _, index in offsets:
                np.maximum(pooled, padded[index], out=pooled)
            self._padded, self._pooled = padded, pooled
        else:
            for _, _, index in offsets:
                pooled += padded[index]
            pooled /= self._counts if self._counts is not None else np.float32(w.kernel[0] * w.kernel[1])
        self._n = len(inputs)
        return pooled.reshape(self._n, *self._output_tail)

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if not need_input_grad:
            return None
        w = self._windows
        n = self._n
        grad = grad_outputs.reshape(n, w.out_rows, w.out_cols, w.channels).astype(np.float32, copy=False)
        padded = np.zeros((n, w.padded_rows, w.padded_cols, w.channels), np.float32)
        # Windows that do not overlap (strides >= pool_size) write each input position once: no adding needed.
        disjoint = all(s >= k for s, k in zip(w.strides, w.kernel))
        if self.reduction == "max":
            # The first maximum of each window (in row-major order) takes the gradient, as with torch's max_pool.
            unclaimed = np.ones(grad.shape, bool)
            winner = np.empty(grad.shape, bool)
            part = np.empty(grad.shape, np.float32)  # overlapping windows: each offset's share, then added
            for _, _, index in w.offsets():
                np.equal(self._padded[index], self._pooled, out=winner)
                winner &= unclaimed
                unclaimed ^= winner  # winner lies within unclaimed
                target = padded[index]
                np.multiply(grad, winner, out=target if disjoint else part)
                if not disjoint:
                    target += part
        else:
            share = grad / (self._counts if self._counts is not None else np.float32(w.kernel[0] * w.kernel[1]))
            for _, _, index in w.offsets():
                target = padded[index]
                if disjoint:
                    target[...] = share
                else:
                    target += share
        if w.padded and not self._excluding:
            _fold_edges(padded, w.pads)
        return np.ascontiguousarray(w.unpad(padded)).reshape(n, *self._input_tail)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "data_format": self.data_format,
        }


def _fold_edges(padded: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> None:
    """Edge padding repeated the first and last rows and cols: give their gradients back to them."""
    (top, bottom), (left, right) = pads
    rows, cols = padded.shape[1], padded.shape[2]
    if top:
        padded[:, top] += padded[:, :top].sum(axis=1)
    if bottom:
        padded[:, rows - bottom - 1] += padded[:, rows - bottom :].sum(axis=1)
    if left:
        padded[:, :, left] += padded[:, :, :left].sum(axis=2)
    if right:
        padded[:, :, cols - right - 1] += padded[:, :, cols - right :].sum(axis=2)
