"""Adamax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.optimizers.optimizer import LearningRate, Optimizer, check_betas

__all__ = ["Adamax"]


class Adamax(Optimizer):
    """m = beta_1 m + (1 - beta_1) g;  u = max(beta_2 u, |g|);  w -= lr m / ((u + epsilon)(1 - beta_1^t))."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1, self.beta_2 = check_betas(type(self).__name__, beta_1, beta_2)
        self.epsilon = float(epsilon)
        self.slot_names = ("m", "u")

    def update_all(self, grads: Sequence[np.ndarray], variables: Sequence[np.ndarray], lr: np.float32) -> None:
        self._correction = np.float32(1) - np.float32(self.beta_1) ** np.float32(self.iterations + 1)
        super().update_all(grads, variables, lr)

    def update_step(self, index: int, grad: np.ndarray, variable: np.ndarray, lr: np.float32) -> None:
        m = self.slot("m", index)
        u = self.slot("u", index)
        m *= np.float32(self.beta_1)
        m += np.float32(1 - self.beta_1) * grad
        u *= np.float32(self.beta_2)
        np.maximum(u, np.abs(grad), out=u)
        variable -= (m * lr) / ((u + np.float32(self.epsilon)) * self._correction)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
