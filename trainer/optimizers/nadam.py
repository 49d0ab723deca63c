"""Nadam: Adam with Nesterov momentum and a momentum schedule (Keras 3's rule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.optimizers.optimizer import LearningRate, Optimizer, check_betas

__all__ = ["Nadam"]


class Nadam(Optimizer):
    """With u_t = beta_1 (1 - 0.5 * 0.96^t) and u_product the product of every u so far:
    m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g²;
    m̂ = u_{t+1} m / (1 - u_product u_{t+1}) + (1 - u_t) g / (1 - u_product);  v̂ = v / (1 - beta_2^t);
    w -= lr m̂ / (sqrt(v̂) + epsilon). `u_product` is state, saved with the slots."""

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
        self.slot_names = ("momentum", "velocity")
        self.u_product = np.float32(1)

    def update_all(self, grads: Sequence[np.ndarray], variables: Sequence[np.ndarray], lr: np.float32) -> None:
        f32 = np.float32
        step = f32(self.iterations + 1)
        beta_1 = f32(self.beta_1)
        u_t = beta_1 * (f32(1) - f32(0.5) * f32(0.96) ** step)
        u_next = beta_1 * (f32(1) - f32(0.5) * f32(0.96) ** (step + f32(1)))
        self.u_product = f32(self.u_product * u_t)
        self._momentum_scale = u_next / (f32(1) - self.u_product * u_next)
        self._grad_scale = (f32(1) - u_t) / (f32(1) - self.u_product)
        self._velocity_scale = f32(1) / (f32(1) - f32(self.beta_2) ** step)
        super().update_all(grads, variables, lr)

    def update_step(self, index: int, grad: np.ndarray, variable: np.ndarray, lr: np.float32) -> None:
        m = self.slot("momentum", index)
        v = self.slot("velocity", index)
        m *= np.float32(self.beta_1)
        m += np.float32(1 - self.beta_1) * grad
        v *= np.float32(self.beta_2)
        v += np.float32(1 - self.beta_2) * (grad * grad)
        m_hat = m * self._momentum_scale + grad * self._grad_scale
        variable -= (m_hat * lr) / (np.sqrt(v * self._velocity_scale) + np.float32(self.epsilon))

    def get_state(self) -> dict[str, np.ndarray]:
        return {**super().get_state(), "u_product": np.array(self.u_product, dtype=np.float32)}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        state = dict(state)
        if "u_product" not in state or np.shape(state["u_product"]) != ():
            raise ValueError("Optimizer state does not fit Nadam: u_product: expected a scalar.")
        u_product = np.float32(state.pop("u_product"))
        super().set_state({**state, "u_product": np.array(u_product)})
        self.u_product = u_product

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
