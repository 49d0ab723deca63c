"""Adam, with the optional AMSGrad variant."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.optimizers.optimizer import LearningRate, Optimizer

__all__ = ["Adam"]


class Adam(Optimizer):
    """m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g²;
    w -= alpha m / (sqrt(v) + epsilon) with alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

    def update_all(self, grads: Any, variables: Any, lr: np.float32) -> None:
        # The bias correction is shared by every variable of the step, so it is computed once, in float32.
        step = np.float32(self.iterations + 1)
        beta_1_power = np.float32(self.beta_1) ** step
        beta_2_power = np.float32(self.beta_2) ** step
        self._alpha = lr * np.sqrt(np.float32(1) - beta_2_power) / (np.float32(1) - beta_1_power)
        super().update_all(grads, variables, lr)

    def update_step(self, index: int, grad: np.ndarray, variable: np.ndarray, lr: np.float32) -> None:
        m = self.slot("momentum", index)
        v = self.slot("velocity", index)
        m *= np.float32(self.beta_1)
        m += np.float32(1 - self.beta_1) * grad
        v *= np.float32(self.beta_2)
        v += np.float32(1 - self.beta_2) * (grad * grad)
        if self.amsgrad:
            v_hat = self.slot("velocity_hat", index)
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        variable -= (m * self._alpha) / (np.sqrt(v) + np.float32(self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }
