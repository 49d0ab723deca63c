"""History: every epoch's logs, returned by ``fit``."""

from __future__ import annotations

from typing import Any

from .callback import Callback

__all__ = ["History"]


class History(Callback):
    """Records the logs of each epoch. ``fit`` adds one after the user's callbacks and returns it.

    ``history.history`` maps each log key to its per-epoch values; ``history.epoch`` lists the
    epoch indices; ``history.params`` holds fit's parameters. It is also set as ``model.history``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        # Set after each epoch, so the model always points at the newest record.
        self.model.history = self
