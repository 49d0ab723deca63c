"""RMSprop, with optional momentum and centering."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.optimizers.optimizer import LearningRate, Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """v = rho v + (1 - rho) g²;  step = lr g / sqrt(v + epsilon [- a²]) with a the centered mean
    gradient; with momentum, m = momentum m + step and w -= m, else w -= step."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)
        self.slot_names = ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + (
            ("average_gradient",) if self.centered else ()
        )

    def update_step(self, index: int, grad: np.ndarray, variable: np.ndarray, lr: np.float32) -> None:
        rho = np.float32(self.rho)
        velocity = self.slot("velocity", index)
        velocity *= rho
        velocity += np.float32(1 - self.rho) * (grad * grad)
        denominator = velocity + np.float32(self.epsilon)
        if self.centered:
            average = self.slot("average_gradient", index)
            average *= rho
            average += np.float32(1 - self.rho) * grad
            denominator -= average * average
        increment = (grad * lr) / np.sqrt(denominator)
        if self.momentum > 0:
            momentum = self.slot("momentum", index)
            momentum *= np.float32(self.momentum)
            momentum += increment
            variable -= momentum
        else:
            variable -= increment

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
