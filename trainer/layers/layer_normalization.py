"""LayerNormalization: normalise each sample over its last axis."""

from __future__ import annotations

import numpy as np

from trainer import initializers, regularizers
from trainer.layers.base_normalization import BaseNormalization

__all__ = ["LayerNormalization"]


class LayerNormalization(BaseNormalization):
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
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, name, trainable)  # fmt: skip

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        mean = inputs.mean(axis=-1, keepdims=True, dtype=np.float32)
        variance = np.square(inputs).mean(axis=-1, keepdims=True, dtype=np.float32) - np.square(mean)
        self._inverse = np.float32(1) / np.sqrt(variance + np.float32(self.epsilon))
        return self._affine((inputs - mean) * self._inverse)

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        grad = self._affine_backward(grad_outputs)
        if not need_input_grad:
            return None
        normalized = self._normalized
        mean_grad = grad.mean(axis=-1, keepdims=True, dtype=np.float32)
        mean_projection = (grad * normalized).mean(axis=-1, keepdims=True, dtype=np.float32)
        result: np.ndarray = (grad - mean_grad - normalized * mean_projection) * self._inverse
        return result
