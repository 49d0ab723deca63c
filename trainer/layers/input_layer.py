"""The model's input: declares the shape of one sample."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.layers.layer import Layer, Shape

__all__ = ["InputLayer", "Input", "INPUT_DTYPES"]

INPUT_DTYPES = ("float32", "int32", "int64")
"""What a model can take: float features, or integer indices (for Embedding)."""


class InputLayer(Layer):
    """Declares the per-sample `shape`; passes data through unchanged."""

    def __init__(
        self, shape: tuple[int, ...], batch_size: int | None = None, dtype: str = "float32", name: str | None = None
    ) -> None:
        super().__init__(name=name)
        if dtype not in INPUT_DTYPES:
            raise ValueError(f"Input dtype must be one of {', '.join(INPUT_DTYPES)}, got {dtype!r}.")
        self.dtype = dtype
        shape = (shape,) if isinstance(shape, int) else shape
        if not isinstance(shape, (tuple, list)) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        ):
            raise ValueError(f"Input shape must be a tuple of positive integers such as (784,), got {shape!r}.")
        self.shape = tuple(shape)
        self.batch_size = batch_size
        self.build((batch_size, *self.shape))

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        return inputs

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        return grad_outputs if need_input_grad else None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (self.batch_size, *self.shape)

    def get_config(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "batch_size": self.batch_size, "dtype": self.dtype, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InputLayer:
        return cls(shape=tuple(config["shape"]), batch_size=config.get("batch_size"),
                   dtype=config.get("dtype", "float32"), name=config.get("name"))


def Input(  # noqa: N802
    shape: tuple[int, ...], batch_size: int | None = None, dtype: str = "float32", name: str | None = None
) -> InputLayer:
    """Keras's `Input(shape=..., dtype=...)`; here it returns the InputLayer that starts a Sequential.

    `dtype="int64"` (or `"int32"`) keeps integer inputs as integers, for an `Embedding` first layer."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name)
