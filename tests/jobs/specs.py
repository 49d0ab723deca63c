"""Small, fast training specs and the callbacks the job tests steer them with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from trainer import saving
from trainer.callbacks import Callback
from trainer.callbacks.backup_and_restore import BACKUP_FILE
from trainer.jobs import Build, TrainingSpec

from ..callbacks.training_run import build_model, dataset

SAMPLES, BATCH_SIZE = 64, 8  # 8 steps per epoch
NODE_LOSS_EPOCHS = 12  # the job of tests/jobs/two_nodes.py, whose node is lost


def spec_builder(epochs: int, callbacks: Sequence[Callback] = (), **fit_kwargs: Any) -> Build:
    def build() -> TrainingSpec:
        x, y = dataset(SAMPLES)
        return TrainingSpec(
            build_model(dropout=0.0), x, y, epochs=epochs, batch_size=BATCH_SIZE, callbacks=callbacks, fit_kwargs=fit_kwargs
        )

    return build


class CountBatches(Callback):
    """Inline: counts training batches; sets ``reached`` at one (epoch, batch) and waits there for
    ``hold`` (so the test acts while training is at a known step)."""

    def __init__(self, at: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.batches = 0
        self.epoch = -1
        self.at = at
        self.reached = anyio.Event()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.batches += 1
        if (self.epoch, batch) == self.at:
            self.reached.set()


class WaitForBackup(Callback):
    """Inline: at a batch of ``epoch``, waits until the job's backup says to resume at ``epoch``, then
    sets ``reached`` (so a cancelled run's resume point is known)."""

    delivery = "inline"

    def __init__(self, epoch: int, workdir: Path) -> None:
        super().__init__()
        self.target, self.workdir, self.epoch = epoch, workdir, -1
        self.reached = anyio.Event()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.epoch != self.target or self.reached.is_set():
            return
        with anyio.fail_after(30):
            while self._backed_up_epoch() != self.target:
                await anyio.sleep(0.005)
        self.reached.set()

    def _backed_up_epoch(self) -> int | None:
        for path in self.workdir.glob(f"*/{BACKUP_FILE}"):
            try:
                state, _ = saving.load_backup(build_model(dropout=0.0), path)  # a throwaway model: it loads into it
            except ValueError:  # read while the run replaced it (load_backup opens the file twice): look again
                return None
            return int(state["epoch"])
        return None


class FailAt(Callback):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.at = epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == self.at:
            raise RuntimeError(f"boom at epoch {epoch}")


class Pace(Callback):
    """Inline: waits ``seconds`` after each training batch, so a run lasts long enough to act on."""

    delivery = "inline"

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        await anyio.sleep(self.seconds)


class SaveWeightsAtEnd(Callback):
    """Inline: writes the final weights to ``path`` as training ends (where the model is: in a Ray
    worker, that is the worker's process)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        saving.save_weights(self.model, self.path)


class UnpicklableLogs(Callback):
    """Inline: adds a value that does not pickle to the logs of every epoch's end, as a callback may
    add to the logs, so the worker cannot ship that event back."""

    delivery = "inline"

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None
        logs["not_picklable"] = lambda: epoch


def remote_spec(
    epochs: int, pace: float = 0.0, weights_to: str | None = None, fail_at: int | None = None,
    unpicklable_logs: bool = False,
) -> TrainingSpec:  # fmt: skip
    """A job's build that pickles (a module-level function: bind its arguments with functools.partial),
    for the Ray executor; with dropout, so a resumed run must restore its random state too."""
    x, y = dataset(SAMPLES)
    callbacks: list[Callback] = [Pace(pace)] if pace else []
    callbacks += [SaveWeightsAtEnd(weights_to)] if weights_to else []
    callbacks += [FailAt(fail_at)] if fail_at is not None else []
    callbacks += [UnpicklableLogs()] if unpicklable_logs else []
    return TrainingSpec(build_model(dropout=0.25), x, y, epochs=epochs, batch_size=BATCH_SIZE, callbacks=callbacks)
