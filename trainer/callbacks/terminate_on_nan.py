"""TerminateOnNaN: end training when a batch's loss is NaN or infinite."""

from __future__ import annotations

import math
from typing import Any

from . import arguments
from .callback import Callback

__all__ = ["TerminateOnNaN"]


class TerminateOnNaN(Callback):
    """Stops training after the first training batch whose running ``loss`` is NaN or infinite, as Keras 3.

    By default it sets ``model.stop_training``: the epoch ends after that batch, then validation,
    ``on_epoch_end`` and ``on_train_end`` run as usual. With ``raise_error=True`` it raises
    ``RuntimeError`` instead, so ``fit`` fails at once and no ``on_train_end`` is called (useful to keep
    a backup from being cleaned up).

    Inline, in the compute thread (``delivery = "thread"``): no further step runs on NaN weights, and
    watching every batch costs next to nothing.
    """

    delivery = "thread"

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = arguments.flag("TerminateOnNaN", "raise_error", raise_error)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. Terminating training immediately."
            )
        print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True
