"""KernelLayer: what Dense and the convolutions share, a kernel and an optional bias, each with its
initializer and regularizer, and an activation."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from trainer import activations, initializers, regularizers
from trainer.layers.layer import Layer
from trainer.serialization import deserialize, serialize

__all__ = ["KernelLayer"]

K = TypeVar("K", bound="KernelLayer")


class KernelLayer(Layer):
    """A layer whose weights are ``kernel`` and, with ``use_bias``, ``bias`` (in that order, as Keras),
    whose losses are their regularizers' penalties. A subclass sets the initializers, regularizers
    and ``use_bias`` in ``__init__`` and calls :meth:`_make_weights` in ``build``."""

    kernel: np.ndarray
    bias: np.ndarray | None
    activation: activations.ActivationFn
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

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize(self.kernel_initializer),
            "bias_initializer": serialize(self.bias_initializer),
            "kernel_regularizer": serialize(self.kernel_regularizer),
            "bias_regularizer": serialize(self.bias_regularizer),
        }

    @classmethod
    def from_config(cls: type[K], config: dict[str, Any]) -> K:
        config = dict(config)
        for key in ("kernel_initializer", "bias_initializer"):
            config[key] = deserialize("initializer", config[key])
        for key in ("kernel_regularizer", "bias_regularizer"):
            config[key] = deserialize("regularizer", config[key])
        return cls(**config)
