"""LearningRateScheduler: set the learning rate at the start of every epoch from a function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from trainer.optimizers import Optimizer

from . import arguments
from .callback import Callback

__all__ = ["LearningRateScheduler"]


class LearningRateScheduler(Callback):
    """Sets ``model.optimizer.learning_rate = schedule(epoch, lr)`` at each epoch's start, as Keras 3.

    ``schedule`` takes the 0-based epoch index and the current rate (a float), or the epoch alone,
    and returns the new rate: a finite, non-negative number, else ``ValueError`` names the epoch and
    what it returned. Each epoch's logs get ``learning_rate``, as in Keras.

    Inline, in the compute thread (``delivery = "thread"``): the rate is set before the epoch's first step.
    """

    delivery = "thread"

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function (epoch, lr) -> lr; got {schedule!r}")
        # Decided once here rather than by catching TypeError on each call (as Keras does), which would
        # also swallow a TypeError raised inside the schedule.
        self._takes_lr = _accepts(schedule, 0, 0.1)
        if not self._takes_lr and not _accepts(schedule, 0):
            raise TypeError(f"LearningRateScheduler: schedule must accept (epoch, lr) or (epoch); {schedule!r} does not")
        self.schedule = schedule
        self.verbose = arguments.count("LearningRateScheduler", "verbose", verbose)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer: Optimizer = self.model.optimizer  # type: ignore[assignment]  # fit requires a compiled model
        learning_rate = self.schedule(epoch, optimizer.learning_rate) if self._takes_lr else self.schedule(epoch)
        optimizer.learning_rate = arguments.number(
            "LearningRateScheduler", f"the learning rate schedule returned for epoch {epoch}", learning_rate, minimum=0.0
        )
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate  # type: ignore[union-attr]


def _accepts(function: Callable[..., Any], *args: Any) -> bool:
    try:
        inspect.signature(function).bind(*args)
    except TypeError:
        return False
    except ValueError:  # no signature to inspect (some builtins): assume Keras's (epoch, lr)
        return len(args) == 2
    return True
