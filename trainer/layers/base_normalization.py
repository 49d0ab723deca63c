"""What BatchNormalization and LayerNormalization share: the learned scale and offset over the last axis,
outputs = gamma * normalized + beta, and their gradients, penalties and config."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer import initializers, regularizers
from trainer.layers.layer import Layer, Shape
from trainer.serialization import deserialize, serialize

__all__ = ["BaseNormalization", "positive_epsilon"]


def positive_epsilon(owner: str, epsilon: float) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
        raise ValueError(f"{owner} `epsilon` must be a positive number, got {epsilon!r}.")
    return float(epsilon)


class BaseNormalization(Layer):
    """gamma (if `scale`) and beta (if `center`), one per feature of the last axis; subclasses normalise."""

    _OBJECT_ARGUMENTS: tuple[str, ...] = ("beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer")

    def __init__(
        self,
        axis: int,
        epsilon: float,
        center: bool,
        scale: bool,
        beta_initializer: str | initializers.Initializer,
        gamma_initializer: str | initializers.Initializer,
        beta_regularizer: str | regularizers.Regularizer | None,
        gamma_regularizer: str | regularizers.Regularizer | None,
        name: str | None,
        trainable: bool,
    ) -> None:
        owner = type(self).__name__
        if axis != -1:
            raise ValueError(f"{owner} supports axis=-1 (the last, channels-last) only, got {axis!r}.")
        super().__init__(name=name, trainable=trainable)
        self.axis = axis
        self.epsilon = positive_epsilon(owner, epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape: Shape) -> None:
        features = input_shape[-1]
        if features is None or len(input_shape) < 2:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a known last input dimension, got {input_shape}.")
        self.gamma = self.gamma_initializer((features,)).astype(np.float32, copy=False) if self.scale else None
        self.beta = self.beta_initializer((features,)).astype(np.float32, copy=False) if self.center else None
        self._gamma_grad = None if self.gamma is None else np.zeros((features,), np.float32)
        self._beta_grad = None if self.beta is None else np.zeros((features,), np.float32)
        self._sample_axes = tuple(range(len(input_shape) - 1))
        super().build(input_shape)

    def _affine(self, normalized: np.ndarray) -> np.ndarray:
        """gamma * normalized + beta (a new array), keeping `normalized` for the backward pass."""
        self._normalized = normalized
        outputs: np.ndarray = normalized * self.gamma if self.gamma is not None else normalized.copy()
        if self.beta is not None:
            outputs += self.beta
        return outputs

    def _affine_backward(self, grad_outputs: np.ndarray) -> np.ndarray:
        """Fill gamma's and beta's gradients; return d(loss)/d(normalized)."""
        if self._beta_grad is not None:
            grad_outputs.sum(axis=self._sample_axes, dtype=np.float32, out=self._beta_grad)
            if self.beta_regularizer is not None:
                self._beta_grad += self.beta_regularizer.gradient(self.beta)  # type: ignore[arg-type]
        if self._gamma_grad is not None:
            (grad_outputs * self._normalized).sum(axis=self._sample_axes, dtype=np.float32, out=self._gamma_grad)
            if self.gamma_regularizer is not None:
                self._gamma_grad += self.gamma_regularizer.gradient(self.gamma)  # type: ignore[arg-type]
        return grad_outputs * self.gamma if self.gamma is not None else grad_outputs

    @property
    def weights(self) -> list[np.ndarray]:
        if not self.built:
            return []
        return [w for w in (self.gamma, self.beta) if w is not None]

    @property
    def gradients(self) -> list[np.ndarray]:
        if not self.built:
            return []
        return [g for g in (self._gamma_grad, self._beta_grad) if g is not None]

    @property
    def losses(self) -> list[np.float32]:
        penalties = []
        if self.built and self.gamma is not None and self.gamma_regularizer is not None:
            penalties.append(self.gamma_regularizer(self.gamma))
        if self.built and self.beta is not None and self.beta_regularizer is not None:
            penalties.append(self.beta_regularizer(self.beta))
        return penalties

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **{key: serialize(getattr(self, key)) for key in self._OBJECT_ARGUMENTS},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BaseNormalization:
        config = dict(config)
        for key in cls._OBJECT_ARGUMENTS:
            config[key] = deserialize(key.rsplit("_", 1)[1], config[key])
        return cls(**config)
