"""KernelLayer: what Dense and the convolutions share, a kernel and an optional bias, each with its regularizer."""

from __future__ import annotations

import numpy as np

from trainer import initializers, regularizers
from trainer.layers.layer import Layer

__all__ = ["KernelLayer"]


class KernelLayer(Layer):
    """A layer whose weights are ``kernel`` and, with ``use_bias``, ``bias`` (in that order, as Keras),
    whose losses are their regularizers' penalties. A subclass sets the initializers, regularizers
    and ``use_bias`` in ``__init__`` and calls :meth:`_make_weights` in ``build``."""

    kernel: np.ndarray
    bias: np.ndarray | None
    use_bias: bool
    kernel_initializer: initializers.Initializer
    bias_initializer: initializers.Initializer
    kernel_regularizer: regularizers.Regularizer | None
    bias_regularizer: regularizers.Regularizer | None
    _kernel_grad: np.ndarray
    _bias_grad: np.ndarray | None

    def _make_weights(self, kernel_shape: tuple[int, ...], bias_shape: tuple[int, ...]) -> None:
        self.kernel = self.kernel_initializer(kernel_shape).astype(np.float32, copy=False)
        self.bias = self.bias_initializer(bias_shape).astype(np.float32, copy=False) if self.use_bias else None
        self._kernel_grad = np.zeros_like(self.kernel)
        self._bias_grad = None if self.bias is None else np.zeros_like(self.bias)

    @property
    def weights(self) -> list[np.ndarray]:
        if not self.built:
            return []
        return [self.kernel] if self.bias is None else [self.kernel, self.bias]

    @property
    def gradients(self) -> list[np.ndarray]:
        if not self.built:
            return []
        return [self._kernel_grad] if self._bias_grad is None else [self._kernel_grad, self._bias_grad]

    @property
    def losses(self) -> list[np.float32]:
        penalties = []
        if self.built and self.kernel_regularizer is not None:
            penalties.append(self.kernel_regularizer(self.kernel))
        if self.built and self.bias is not None and self.bias_regularizer is not None:
            penalties.append(self.bias_regularizer(self.bias))
        return penalties
