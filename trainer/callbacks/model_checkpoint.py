"""ModelCheckpoint: save the model or its weights as training goes, without holding training up."""

from __future__ import annotations

import os
import string
from collections.abc import Awaitable, Mapping
from typing import Any

import anyio.to_thread

from trainer import saving

from . import arguments
from .monitor import MonitorCallback
from .save_frequency import SaveFrequency

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(MonitorCallback):
    """Saves the model (``model.save``, a ``.model.npz`` file) or, with ``save_weights_only``, its
    weights (``.weights.npz``) at the end of every epoch or every ``save_freq`` training batches.

    ``filepath`` is a template filled with ``epoch`` (1-based, as Keras names files), ``batch``
    (1-based, with an integer ``save_freq``) and the logs: ``"w-{epoch:02d}-{val_loss:.2f}.weights.npz"``.
    A key the logs lack raises ``KeyError`` at the first save. With ``save_best_only`` it saves only
    when ``monitor`` improves on the best value so far, which starts at ``initial_value_threshold``
    and, as in Keras, carries over from one ``fit`` to the next (and, through ``BackupAndRestore``,
    to a resumed run).

    Guarantees: each file holds the state of the moment of its hook, copied before training goes on;
    it is written on this callback's own lane, in order, while training continues, and atomically
    (a temporary file, then a rename), so a file under its final name is always whole. ``fit``
    returns only after every write has finished, and a failed write fails the ``fit``.
    """

    # Inline, so the copy is taken at the hook; its async hooks return the write, which then runs queued.
    delivery = "inline"

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, min_delta=0)
        owner = "ModelCheckpoint"
        self.save_weights_only = arguments.flag(owner, "save_weights_only", save_weights_only)
        self.filepath = os.fspath(filepath)
        _check_template(self.filepath, self.save_weights_only)
        self.verbose = arguments.count(owner, "verbose", verbose)
        self.save_best_only = arguments.flag(owner, "save_best_only", save_best_only)
        self.save_freq = save_freq
        if initial_value_threshold is not None:
            self.best = arguments.number(owner, "initial_value_threshold", initial_value_threshold)
        self._frequency = SaveFrequency(save_freq, "ModelCheckpoint")
        self._frequency.leave_batch_hook_unsubscribed(self)
        self._current_epoch = 0

    def reset(self) -> None:
        """Nothing: the best value so far outlives a run, as in Keras."""

    def get_state(self) -> dict[str, Any]:
        return {"best": self.best}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.best = None if state["best"] is None else float(state["best"])

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._current_epoch = epoch

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> Awaitable[None] | None:
        if not self._frequency.batch_ended(batch):
            return None
        return self._save(self._current_epoch, batch, logs or {})

    async def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> Awaitable[None] | None:
        if not self._frequency.per_epoch:
            return None
        return self._save(epoch, None, logs or {})

    def _save(self, epoch: int, batch: int | None, logs: Mapping[str, Any]) -> Awaitable[None] | None:
        """Decide and copy now; return the write, for the callback's queued lane."""
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return None
        contents = saving.weights_contents(self.model) if self.save_weights_only else saving.model_contents(self.model)
        return self._write(path, contents, epoch)

    async def _write(self, path: str, contents: saving.Contents, epoch: int) -> None:
        await anyio.to_thread.run_sync(_write_file, path, contents)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {path}")

    def _path(self, epoch: int, batch: int | None, logs: Mapping[str, Any]) -> str:
        fields = {"epoch": epoch + 1, **logs}
        if batch is not None:
            fields.setdefault("batch", batch + 1)
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(
                f"ModelCheckpoint cannot fill filepath {self.filepath!r}: it names {error.args[0]!r}, which "
                f"this save does not have; it has {', '.join(fields)}"
            ) from None

    def _should_save(self, epoch: int, logs: Mapping[str, Any], path: str) -> bool:
        if not self.save_best_only:
            self._say(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = self.monitored_value(logs)
        if current is None:
            return True  # as Keras: without the value, save anyway (after a warning)
        best = "None" if self.best is None else f"{self.best:.5f}"
        if not self.is_improvement(current, self.best):
            self._say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
            return False
        self._say(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, saving model to {path}")
        self.best = current
        return True

    def _say(self, message: str) -> None:
        if self.verbose > 0:
            print(message)


def _check_template(filepath: str, save_weights_only: bool) -> None:
    suffix = saving.WEIGHTS_SUFFIX if save_weights_only else saving.MODEL_SUFFIX
    if not filepath.endswith(suffix):
        what = "With save_weights_only=True the" if save_weights_only else "The"
        raise ValueError(f"ModelCheckpoint: {what} filepath must end in {suffix!r}; got {filepath!r}")
    try:
        list(string.Formatter().parse(filepath))
    except ValueError as error:
        raise ValueError(f"ModelCheckpoint: filepath {filepath!r} is not a valid template: {error}") from None


def _write_file(path: str, contents: saving.Contents) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    saving.write_contents(path, contents)
