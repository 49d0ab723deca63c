"""BatchNormalization: normalise each channel by the batch's statistics in training, by moving averages
of them at inference."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer import initializers, regularizers
from trainer.layers.layer import Layer, Shape
from trainer.serialization import deserialize, serialize

__all__ = ["BatchNormalization"]


def _fraction(owner: str, argument: str, value: float, upper_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < 1 if upper_open else value > 0):
        expected = "a number in [0, 1)" if upper_open else "a positive number"
        raise ValueError(f"{owner} `{argument}` must be {expected}, got {value!r}.")
    return float(value)


class BatchNormalization(Layer):
    """outputs = gamma * (x - mean) / sqrt(variance + epsilon) + beta, per channel (the last axis).

    In training (and only when the layer is trainable, as in Keras) `mean` and `variance` are the
    batch's (the variance as E[x²] - E[x]², biased, as Keras's torch backend computes it) and the
    moving statistics move towards them:
    moving = moving * momentum + batch * (1 - momentum). At inference the moving statistics are used.
    Weights in Keras's order: gamma (if `scale`), beta (if `center`), moving_mean, moving_variance;
    the last two are non-trainable.
    """

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: str | initializers.Initializer = "zeros",
        gamma_initializer: str | initializers.Initializer = "ones",
        moving_mean_initializer: str | initializers.Initializer = "zeros",
        moving_variance_initializer: str | initializers.Initializer = "ones",
        beta_regularizer: str | regularizers.Regularizer | None = None,
        gamma_regularizer: str | regularizers.Regularizer | None = None,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        if axis != -1:
            raise ValueError(f"BatchNormalization supports axis=-1 (channels last) only, got {axis!r}.")
        super().__init__(name=name, trainable=trainable)
        self.axis = axis
        self.momentum = _fraction("BatchNormalization", "momentum", momentum, upper_open=True)
        self.epsilon = _fraction("BatchNormalization", "epsilon", epsilon, upper_open=False)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[-1]
        if channels is None or len(input_shape) < 2:
            raise ValueError(f"BatchNormalization {self.name!r} needs a known last input dimension, got {input_shape}.")
        shape = (channels,)
        self.gamma = self.gamma_initializer(shape).astype(np.float32, copy=False) if self.scale else None
        self.beta = self.beta_initializer(shape).astype(np.float32, copy=False) if self.center else None
        self.moving_mean = self.moving_mean_initializer(shape).astype(np.float32, copy=False)
        self.moving_variance = self.moving_variance_initializer(shape).astype(np.float32, copy=False)
        self._gamma_grad = None if self.gamma is None else np.zeros(shape, np.float32)
        self._beta_grad = None if self.beta is None else np.zeros(shape, np.float32)
        self._axes = tuple(range(len(input_shape) - 1))
        super().build(input_shape)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        self._training = training and self.trainable
        if self._training:
            mean = inputs.mean(axis=self._axes, dtype=np.float32)
            variance = np.square(inputs).mean(axis=self._axes, dtype=np.float32) - np.square(mean)
            momentum = np.float32(self.momentum)
            self.moving_mean[...] = self.moving_mean * momentum + mean * (np.float32(1) - momentum)
            self.moving_variance[...] = self.moving_variance * momentum + variance * (np.float32(1) - momentum)
        else:
            mean, variance = self.moving_mean, self.moving_variance
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
            grad_outputs.sum(axis=self._axes, dtype=np.float32, out=self._beta_grad)
            if self.beta_regularizer is not None:
                self._beta_grad += self.beta_regularizer.gradient(self.beta)  # type: ignore[arg-type]
        if self._gamma_grad is not None:
            (grad_outputs * normalized).sum(axis=self._axes, dtype=np.float32, out=self._gamma_grad)
            if self.gamma_regularizer is not None:
                self._gamma_grad += self.gamma_regularizer.gradient(self.gamma)  # type: ignore[arg-type]
        if not need_input_grad:
            return None
        scale = self._inverse if self.gamma is None else self._inverse * self.gamma
        if not self._training:
            result: np.ndarray = grad_outputs * scale
            return result
        # The batch statistics depend on every input: subtract the mean gradient and its projection on x̂.
        count = np.float32(normalized.size // normalized.shape[-1])
        mean_grad = grad_outputs.sum(axis=self._axes, dtype=np.float32) / count
        mean_projection = (grad_outputs * normalized).sum(axis=self._axes, dtype=np.float32) / count
        result = (grad_outputs - mean_grad - normalized * mean_projection) * scale
        return result

    @property
    def weights(self) -> list[np.ndarray]:
        if not self.built:
            return []
        trainable = [w for w in (self.gamma, self.beta) if w is not None]
        return [*trainable, self.moving_mean, self.moving_variance]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [self.moving_mean, self.moving_variance] if self.built else []

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
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **{key: serialize(getattr(self, key)) for key in _OBJECT_ARGUMENTS},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchNormalization:
        config = dict(config)
        for key in _OBJECT_ARGUMENTS:
            config[key] = deserialize(key.rsplit("_", 1)[1], config[key])
        return cls(**config)


_OBJECT_ARGUMENTS = (
    "beta_initializer",
    "gamma_initializer",
    "moving_mean_initializer",
    "moving_variance_initializer",
    "beta_regularizer",
    "gamma_regularizer",
)
