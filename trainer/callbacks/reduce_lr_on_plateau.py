"""ReduceLROnPlateau: lower the learning rate when a monitored quantity has stopped improving."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from trainer.optimizers import Optimizer

from . import arguments
from .monitor import MonitorCallback

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies ``model.optimizer.learning_rate`` by ``factor`` after ``patience`` epochs without
    improvement of ``monitor`` (by more than ``min_delta``), never below ``min_lr``, as Keras 3.

    After a reduction it waits ``cooldown`` epochs, counting no epoch without improvement, before it
    resumes. Each epoch's logs get ``learning_rate`` (the rate that epoch trained with), as in Keras.

    Inline, in the compute thread (``delivery = "thread"``): the new rate applies from the next epoch's first step.
    State for ``BackupAndRestore`` (the rate itself is the optimizer's): :meth:`get_state` / :meth:`set_state`.
    """

    delivery = "thread"

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        owner = type(self).__name__
        self.factor = arguments.number(owner, "factor (new_lr = lr * factor)", factor, minimum=0.0, below=1.0)
        self.patience = arguments.count(owner, "patience", patience)
        self.verbose = arguments.count(owner, "verbose", verbose)
        self.cooldown = arguments.count(owner, "cooldown", cooldown)
        self.min_lr = arguments.number(owner, "min_lr", min_lr, minimum=0.0)
        self.reset()

    def reset(self) -> None:
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def get_state(self) -> dict[str, Any]:
        """``best``, ``wait`` and ``cooldown_counter``, all JSON-able."""
        return {"best": self.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.best = None if state["best"] is None else float(state["best"])
        self.wait = int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer: Optimizer = self.model.optimizer  # type: ignore[assignment]  # fit requires a compiled model
        if logs is not None:
            logs["learning_rate"] = optimizer.learning_rate
        current = self.monitored_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(optimizer, epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _reduce(self, optimizer: Optimizer, epoch: int) -> bool:
        """Lower the rate; False if it is already at ``min_lr`` (compared in float32, as it is stored)."""
        old_lr = optimizer.learning_rate
        if old_lr <= np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        optimizer.learning_rate = new_lr
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
        return True
