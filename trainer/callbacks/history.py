"""History: every epoch's logs, returned by ``fit``."""

from __future__ import annotations

import os
from typing import Any

from trainer.atomic_file import write_atomically

from .callback import Callback

__all__ = ["History"]


class History(Callback):
    """Records the logs of each epoch. ``fit`` adds one after the user's callbacks and returns it.

    ``history.history`` maps each log key to its per-epoch values; ``history.epoch`` lists the
    epoch indices; ``history.params`` holds fit's parameters. It is also set as ``model.history``.
    It runs in the compute thread (``delivery = "thread"``), as in Keras.
    """

    delivery = "thread"

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

    def plot(self, path: str | os.PathLike[str], *, dpi: int = 100) -> None:
        """Save the loss and each metric per epoch, training and validation, as an image at ``path``.

        One panel per metric, as R's ``plot(history)`` draws it; the format follows the suffix
        (``.png``, ``.svg``, ``.pdf``). Needs matplotlib: ``pip install "eventbus-trainer[plot]"``.
        The file is written atomically.
        """
        try:
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError(
                'History.plot needs matplotlib, which comes with the "plot" extra: '
                'python -m pip install "eventbus-trainer[plot]" (or: pip install matplotlib)'
            ) from None
        metrics = [key for key in self.history if not key.startswith("val_")]
        if not metrics:
            raise ValueError("History.plot has nothing to plot: no epoch has been recorded yet")
        figure = Figure(figsize=(6, 2.6 * len(metrics)), layout="constrained")
        epochs = [epoch + 1 for epoch in self.epoch]
        for axes, metric in zip(figure.subplots(len(metrics), 1, sharex=True, squeeze=False)[:, 0], metrics):
            axes.plot(epochs, self.history[metric], "o-", label="training")
            if f"val_{metric}" in self.history:
                axes.plot(epochs, self.history[f"val_{metric}"], "o-", label="validation")
            axes.set_ylabel(metric)
            axes.grid(alpha=0.3)
            axes.legend()
        axes.set_xlabel("epoch")
        suffix = os.path.splitext(os.fspath(path))[1].lstrip(".") or "png"
        write_atomically(path, lambda file: figure.savefig(file, format=suffix, dpi=dpi))
