"""Embedding: integer indices to rows of a learned table."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer import initializers, regularizers
from trainer.layers.layer import Layer, Shape
from trainer.serialization import deserialize, serialize

__all__ = ["Embedding"]


def _positive(argument: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"Embedding `{argument}` must be a positive integer, got {value!r}.")
    return int(value)


class Embedding(Layer):
    """(batch, ...) integers in [0, input_dim) -> (batch, ..., output_dim) rows of `embeddings`.

    Start the model with `Input(shape, dtype="int64")` to feed integers as integers (float inputs are
    truncated, as Keras casts them). An index outside [0, input_dim) raises ValueError naming it.
    """

    takes_indices = True

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: str | initializers.Initializer = "uniform",
        embeddings_regularizer: str | regularizers.Regularizer | None = None,
        mask_zero: bool = False,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        if mask_zero:
            raise ValueError("Embedding(mask_zero=True) is not supported: the engine's layers take no masks.")
        super().__init__(name=name, trainable=trainable)
        self.input_dim = _positive("input_dim", input_dim)
        self.output_dim = _positive("output_dim", output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = False

    def build(self, input_shape: Shape) -> None:
        shape = (self.input_dim, self.output_dim)
        self.embeddings = self.embeddings_initializer(shape).astype(np.float32, copy=False)
        self._embeddings_grad = np.zeros_like(self.embeddings)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        indices = inputs if inputs.dtype.kind in "iu" else inputs.astype(np.int64)
        bad = (indices < 0) | (indices >= self.input_dim)
        if bad.any():
            raise ValueError(
                f"Embedding {self.name!r} takes indices in [0, {self.input_dim}), got {indices[bad][:5].tolist()}."
            )
        self._indices = indices
        rows: np.ndarray = self.embeddings[indices]
        return rows

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        self._embeddings_grad.fill(0)
        np.add.at(self._embeddings_grad, self._indices.reshape(-1), grad_outputs.reshape(-1, self.output_dim))
        if self.embeddings_regularizer is not None:
            self._embeddings_grad += self.embeddings_regularizer.gradient(self.embeddings)
        # Indices have no gradient; a layer before an Embedding receives zeros, as Keras gives it none.
        return np.zeros(self._indices.shape, np.float32) if need_input_grad else None

    @property
    def weights(self) -> list[np.ndarray]:
        return [self.embeddings] if self.built else []

    @property
    def gradients(self) -> list[np.ndarray]:
        return [self._embeddings_grad] if self.built else []

    @property
    def losses(self) -> list[np.float32]:
        if self.built and self.embeddings_regularizer is not None:
            return [self.embeddings_regularizer(self.embeddings)]
        return []

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": serialize(self.embeddings_initializer),
            "embeddings_regularizer": serialize(self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Embedding:
        config = dict(config)
        config["embeddings_initializer"] = deserialize("initializer", config["embeddings_initializer"])
        config["embeddings_regularizer"] = deserialize("regularizer", config["embeddings_regularizer"])
        return cls(**config)
