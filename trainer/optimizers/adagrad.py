"""Adagrad: per-weight learning rates from the accumulated squared gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainer.optimizers.optimizer import LearningRate, Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """acc += g²;  w -= lr g / sqrt(acc + epsilon), acc starting at `initial_accumulator_value`."""

    slot_names = ("accumulator",)

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def initial_slot(self, slot_name: str, variable: np.ndarray) -> np.ndarray:
        return np.full_like(variable, self.initial_accumulator_value, dtype=np.float32)

    def update_step(self, index: int, grad: np.ndarray, variable: np.ndarray, lr: np.float32) -> None:
        accumulator = self.slot("accumulator", index)
        accumulator += grad * grad
        variable -= (grad * lr) / np.sqrt(accumulator + np.float32(self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }
