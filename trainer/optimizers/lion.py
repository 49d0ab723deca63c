"""Lion: the sign of an interpolated momentum, as the step."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.optimizers.optimizer import LearningRate, Optimizer, check_betas

__all__ = ["Lion"]


class Lion(Optimizer):
    """w -= lr sign(beta_1 m + (1 - beta_1) g);  then m = beta_2 m + (1 - beta_2) g.

    Every step moves each weight by exactly lr, so Lion wants a smaller rate than Adam (Keras's
    default is 0.001 all the same)."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.99,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1, self.beta_2 = check_betas(type(self).__name__, beta_1, beta_2, beta_1_open_at_zero=True)
        self.slot_names = ("momentum",)

    def update_step(self, index: int, grad: np.ndarray, variable: np.ndarray, lr: np.float32) -> None:
        m = self.slot("momentum", index)
        direction = np.sign(m * np.float32(self.beta_1) + grad * np.float32(1 - self.beta_1))
        variable -= direction * lr
        m *= np.float32(self.beta_2)
        m += np.float32(1 - self.beta_2) * grad

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
