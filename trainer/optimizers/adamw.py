"""AdamW: Adam with decoupled weight decay on by default."""

from __future__ import annotations

from trainer.optimizers.adam import Adam
from trainer.optimizers.optimizer import LearningRate

__all__ = ["AdamW"]


class AdamW(Adam):
    """Adam whose step first shrinks every weight: w *= 1 - weight_decay * lr."""

    def __init__(
        self,
        learning_rate: LearningRate = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        if weight_decay is None:
            raise ValueError("AdamW needs a `weight_decay` number; use Adam for none.")
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue, global_clipnorm, name
        )
