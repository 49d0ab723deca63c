"""BatchNormalization: normalise each channel by the batch's statistics in training, by moving averages
of them at inference."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer import initializers, regularizers
from trainer.layers.base_normalization import BaseNormalization
from trainer.layers.layer import Shape

__all__ = ["BatchNormalization"]


class BatchNormalization(BaseNormalization):
    """outputs = gamma * (x - mean) / sqrt(variance + epsilon) + beta, per channel (the last axis).

    In training (and only when the layer is trainable, as in Keras) `mean` and `variance` are the
    batch's (the variance as E[x²] - E[x]², biased, as Keras's torch backend computes it) and the
    moving statistics move towards them:
    moving = moving * momentum + batch * (1 - momentum). At inference the moving statistics are used.
    Weights in Keras's order: gamma (if `scale`), beta (if `center`), moving_mean, moving_variance;
    the last two are non-trainable.
    """

    _OBJECT_ARGUMENTS = (*BaseNormalization._OBJECT_ARGUMENTS, "moving_mean_initializer", "moving_variance_initializer")

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
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"BatchNormalization `momentum` must be a number in [0, 1), got {momentum!r}.")
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, name, trainable)  # fmt: skip
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape: Shape) -> None:
        super().build(input_shape)
        shape = (int(input_shape[-1]),)  # type: ignore[arg-type]  # known: checked by the base build
        self.moving_mean = self.moving_mean_initializer(shape).astype(np.float32, copy=False)
        self.moving_variance = self.moving_variance_initializer(shape).astype(np.float32, copy=False)

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        self._training = training and self.trainable
        if self._training:
            mean = inputs.mean(axis=self._sample_axes, dtype=np.float32)
            variance = np.square(inputs).mean(axis=self._sample_axes, dtype=np.float32) - np.square(mean)
            momentum = np.float32(self.momentum)
            self.moving_mean[...] = self.moving_mean * momentum + mean * (np.float32(1) - momentum)
            self.moving_variance[...] = self.moving_variance * momentum + variance * (np.float32(1) - momentum)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        self._inverse = np.float32(1) / np.sqrt(variance + np.float32(self.epsilon))
        return self._affine((inputs - mean) * self._inverse)

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        grad = self._affine_backward(grad_outputs)
        if not need_input_grad:
            return None
        if not self._training:
            result: np.ndarray = grad * self._inverse
            return result
        # The batch statistics depend on every input: subtract the mean gradient and its projection on x̂.
        normalized = self._normalized
        mean_grad = grad.mean(axis=self._sample_axes, dtype=np.float32)
        mean_projection = (grad * normalized).mean(axis=self._sample_axes, dtype=np.float32)
        result = (grad - mean_grad - normalized * mean_projection) * self._inverse
        return result

    @property
    def weights(self) -> list[np.ndarray]:
        return [*super().weights, self.moving_mean, self.moving_variance] if self.built else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [self.moving_mean, self.moving_variance] if self.built else []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum}
