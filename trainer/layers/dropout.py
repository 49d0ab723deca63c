"""Dropout: in training, zero a random fraction `rate` of the inputs and scale the rest by 1 / (1 - rate)."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.layers.layer import Layer
from trainer.random import make_generator

__all__ = ["Dropout"]


class Dropout(Layer):
    """Identity at inference. Its masks come from its own generator, fixed by `seed` or, when
    `seed` is None, drawn from the global one at construction (see `trainer.set_random_seed`)."""

    def __init__(
        self,
        rate: float,
        noise_shape: tuple[int | None, ...] | None = None,
        seed: int | None = None,
        name: str | None = None,
        trainable: bool = True,
    ) -> None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"Dropout `rate` must be a number in [0, 1), got {rate!r}.")
        super().__init__(name=name, trainable=trainable)
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._generator = make_generator(seed)
        self._mask: np.ndarray | None = None

    def forward(self, inputs: np.ndarray, training: bool) -> np.ndarray:
        if not training or self.rate == 0:
            self._mask = None
            return inputs
        keep = self._generator.random(self._mask_shape(inputs.shape), dtype=np.float32) >= self.rate
        self._mask = keep.astype(np.float32) / np.float32(1 - self.rate)
        outputs: np.ndarray = inputs * self._mask
        return outputs

    def backward(self, grad_outputs: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        if not need_input_grad:
            return None
        return grad_outputs if self._mask is None else grad_outputs * self._mask

    def _mask_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.noise_shape is None:
            return input_shape
        return tuple(given or actual for given, actual in zip(self.noise_shape, input_shape))

    def get_config(self) -> dict[str, Any]:
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape, "seed": self.seed}
