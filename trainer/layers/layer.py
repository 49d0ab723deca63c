"""The layer contract every layer of the engine keeps.

A layer maps a batch forward, caching what its backward pass needs, and maps the gradient of
the loss with respect to its output back to the gradient with respect to its input, filling
`gradients` (one array per weight, same shape and order as `weights`).
Shapes include the batch dimension as None, as Keras prints them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.names import snake_case, unique_name

__all__ = ["Layer", "Shape"]

Shape = tuple[int | None, ...]


class Layer:
    """Base class. Subclasses override `build`, `compute_output_shape`, `forward`, `backward`."""

    takes_indices = False
    """True for a layer whose inputs are integer indices (Embedding)."""

    def __init__(self, name: str | None = None, trainable: bool = True) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"A layer name must be a non-empty string, got {name!r}.")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.built = False
        self.input_shape: Shape | None = None

    def build(self, input_shape: Shape) -> None:
        """Create the weights for inputs of `input_shape`; called once, before the first forward."""
        self.input_shape = tuple(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    @property
    def output_shape(self) -> Shape:
        if self.input_shape is None:
            raise ValueError(f"Layer {self.name!r} is not built yet, so it has no output shape.")
        return self.compute_output_shape(self.input_shape)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """Fill `gradients`; return d(loss)/d(inputs), or None when `need_input_grad` is False."""
        raise NotImplementedError

    def __call__(self, inputs: Any, training: bool = False) -> np.ndarray:
        """Apply the layer to an array, building it first if needed (float32 in, float32 out; a layer that
        `takes_indices` keeps integer inputs as they are)."""
        inputs = np.asarray(inputs)
        if not (self.takes_indices and inputs.dtype.kind in "iu"):
            inputs = inputs.astype(np.float32, copy=False)
        if not self.built:
            self.build((None, *inputs.shape[1:]))
        return self.forward(inputs, training)

    @property
    def weights(self) -> list[np.ndarray]:
        """The live weight arrays, in Keras's order (kernel, then bias; statistics after the trainable ones)."""
        return []

    @property
    def gradients(self) -> list[np.ndarray]:
        """d(loss)/d(weight) from the last `backward`, aligned with the weights the optimizer trains:
        `weights` less `non_trainable_weights`."""
        return []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """Weights no optimizer updates even when the layer is trainable (BatchNormalization's moving
        statistics); they are the last of `weights`."""
        return []

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return []
        weights, frozen = self.weights, self.non_trainable_weights
        return weights[: len(weights) - len(frozen)]

    @property
    def losses(self) -> list[np.float32]:
        """Regularization penalties on the current weights."""
        return []

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Replace the weights; checks count and shapes first, so a mismatch changes nothing."""
        check_weights_fit(self.name, [w.shape for w in self.weights], weights)
        for target, value in zip(self.weights, weights):
            target[...] = value

    def count_params(self) -> int:
        return sum(w.size for w in self.weights)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)


def check_weights_fit(owner: str, expected: list[tuple[int, ...]], weights: list[Any]) -> None:
    """Raise ValueError naming every expected shape unless `weights` has that count and those shapes."""
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"set_weights expects a list of arrays, got {type(weights).__name__}.")
    shapes = [np.shape(w) for w in weights]
    if len(shapes) != len(expected) or any(s != e for s, e in zip(shapes, expected)):
        raise ValueError(
            f"{owner} expects {len(expected)} weight arrays of shapes {expected}, "
            f"got {len(shapes)} of shapes {shapes}."
        )
    for value in weights:
        if not np.issubdtype(np.asarray(value).dtype, np.number):
            raise TypeError(f"{owner}: weights must be numeric arrays, got dtype {np.asarray(value).dtype}.")
