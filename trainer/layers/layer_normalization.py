"""LayerNormalization: normalise each sample over its last axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer import initializers, regularizers
from trainer.layers.layer import Layer, Shape
from trainer.serialization import deserialize, serialize

__all__ = ["LayerNormalization"]


class LayerNormalization(Layer):
    """outputs = gamma * (x - mean) / sqrt(variance + epsilon) + beta, the statistics of each sample's
    last axis (the same in training and at inference). Weights: gamma (if `scale`), beta (if `center`)."""

    def __init__(
        self,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: str | initializers.Initializer = "zeros",
        gamma_initializer: str | initializers.Initializer = "ones",
        beta_regularizer: str | regularizers.Regularizer | None = None,
        gamma_regularizer: str | regularizers.Regularizer | None = None,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        if axis != -1:
            raise ValueError(f"LayerNormalization supports axis=-1 only, got {axis!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
            raise ValueError(f"LayerNormalization `epsilon` must be a positive number, got {epsilon!r}.")
        super().__init__(name=name, trainable=trainable)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape: Shape) -> None:
        features = input_shape[-1]
        if features is None or len(input_shape) < 2:
            raise ValueError(f"LayerNormalization {self.name!r} needs a known last input dimension, got {input_shape}.")
        self.gamma = self.gamma_initializer((features,)).astype(np.float32, copy=False) if self.scale else None
        self.beta = self.beta_initializer((features,)).astype(np.float32, copy=False) if self.center else None
        self._gamma_grad = None if self.gamma is None else np.zeros((features,), np.float32)
        self._beta_grad = None if self.beta is None else np.zeros((features,), np.float32)
        self._sample_axes = tuple(range(len(input_shape) - 1))
        super().build(input_shape)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        mean = inputs.mean(axis=-1, keepdims=True, dtype=np.float32)
        variance = np.square(inputs).mean(axis=-1, keepdims=True, dtype=np.float32) - np.square(mean)
        inverse = np.float32(1) / np.sqrt(variance + np.float32(self.epsilon))
        normalized = (inputs - mean) * inverse
        self._normalized, self._inverse = normalized, inverse
        outputs = normalized * self.gamma if self.gamma is not None else normalized.copy()
        if self.beta is not None:
            outputs += self.beta
        result: np.ndarray = outputs
        return result

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        normalized = self._normalized
        if self._beta_grad is not None:
            grad_outputs.sum(axis=self._sample_axes, dtype=np.float32, out=self._beta_grad)
            if self.beta_regularizer is not None:
                self._beta_grad += self.beta_regularizer.gradient(self.beta)  # type: ignore[arg-type]
        if self._gamma_grad is not None:
            (grad_outputs * normalized).sum(axis=self._sample_axes, dtype=np.float32, out=self._gamma_grad)
            if self.gamma_regularizer is not None:
                self._gamma_grad += self.gamma_regularizer.gradient(self.gamma)  # type: ignore[arg-type]
        if not need_input_grad:
            return None
        grad = grad_outputs * self.gamma if self.gamma is not None else grad_outputs
        mean_grad = grad.mean(axis=-1, keepdims=True, dtype=np.float32)
        mean_projection = (grad * normalized).mean(axis=-1, keepdims=True, dtype=np.float32)
        result: np.ndarray = (grad - mean_grad - normalized * mean_projection) * self._inverse
        return result

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
            **{key: serialize(getattr(self, key)) for key in _OBJECT_ARGUMENTS},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LayerNormalization:
        config = dict(config)
        for key in _OBJECT_ARGUMENTS:
            config[key] = deserialize(key.rsplit("_", 1)[1], config[key])
        return cls(**config)


_OBJECT_ARGUMENTS = ("beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer")
