"""EarlyStopping: stop training when a monitored quantity has stopped improving."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from . import arguments
from .monitor import MonitorCallback

__all__ = ["EarlyStopping"]


class EarlyStopping(MonitorCallback):
    """Stops training after ``patience`` epochs without improvement of ``monitor``, as Keras 3.

    At each epoch end from ``start_from_epoch`` on, a value better than the best so far (by more
    than ``min_delta``) resets the wait, unless a ``baseline`` is given and not beaten; otherwise,
    once the wait reaches ``patience`` (and never at epoch 0), it sets ``model.stop_training`` and
    records ``stopped_epoch``. With ``mode="auto"``, a ``monitor`` whose direction cannot be told
    (neither a loss nor a known metric of the model) raises ``ValueError`` at the first epoch end, as Keras. With ``restore_best_weights``, ``on_train_end`` puts back the weights of
    the best epoch (of the first monitored epoch if none improved), even if another callback stopped.

    Inline (all hooks are ``def``): the stop takes effect before the next epoch begins.
    State for ``BackupAndRestore``: :meth:`get_state` / :meth:`set_state`.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        owner = type(self).__name__
        self.patience = arguments.count(owner, "patience", patience)
        self.verbose = arguments.count(owner, "verbose", verbose)
        self.baseline = None if baseline is None else arguments.number(owner, "baseline", baseline)
        self.restore_best_weights = arguments.flag(owner, "restore_best_weights", restore_best_weights)
        self.start_from_epoch = arguments.count(owner, "start_from_epoch", start_from_epoch)
        self.reset()

    def reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights: list[np.ndarray] | None = None
        self.best_epoch = 0

    def get_state(self) -> dict[str, Any]:
        """``wait``, ``best``, ``best_epoch`` and ``stopped_epoch`` are JSON-able; ``best_weights`` is
        None or the list of numpy arrays to restore (the backup stores it as it stores weights)."""
        return {
            "wait": self.wait,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.wait = int(state["wait"])
        self.best = None if state["best"] is None else float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.stopped_epoch = int(state["stopped_epoch"])
        weights = state["best_weights"]
        self.best_weights = None if weights is None else [np.array(w) for w in weights]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # As Keras: a direction that mode="auto" cannot tell is an error at the first epoch end,
        # even if the monitored value is missing (else it would warn every epoch and never stop).
        self._direction()
        current = self.monitored_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Something to restore even if no epoch ever beats the baseline.
            self._remember_best(epoch)
        self.wait += 1
        if self.is_improvement(current, self.best):
            self.best = current
            self._remember_best(epoch)
            if self.baseline is None or self.is_improvement(current, self.baseline):
                self.wait = 0
            return
        # Keras never stops at epoch 0, so patience=0 behaves as patience=1.
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_end(logs)
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _remember_best(self, epoch: int) -> None:
        self.best_epoch = epoch
        if self.restore_best_weights:
            self.best_weights = self.model.get_weights()
