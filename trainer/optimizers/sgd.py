"""Stochastic gradient descent, with optional (Nesterov) momentum."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.optimizers.optimizer import LearningRate, Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """w -= lr * g; with momentum m = momentum * m - lr * g, then w += m
    (Nesterov: w += momentum * m - lr * g)."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        if not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1], got {momentum!r}.")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()
        self._scratch: list[np.ndarray] = []

    def build(self, variables: Sequence[np.ndarray]) -> None:
        super().build(variables)
        # One reusable buffer per variable keeps the hot path free of allocations.
        self._scratch = [np.empty_like(v, dtype=np.float32) for v in variables]

    def update_step(self, index: int, grad: np.ndarray, variable: np.ndarray, lr: np.float32) -> None:
        step = np.multiply(grad, lr, out=self._scratch[index])
        if not self.momentum:
            variable -= step
            return
        velocity = self.slot("momentum", index)
        velocity *= np.float32(self.momentum)
        velocity -= step
        if self.nesterov:
            variable -= step
            variable += np.float32(self.momentum) * velocity
        else:
            variable += velocity

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
