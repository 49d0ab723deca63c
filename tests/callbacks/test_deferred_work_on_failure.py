"""A run that fails or is cancelled while its callbacks' writes are still queued: they are all written.

As in Keras, whose hooks write before they return, what a hook saved before the run ended is on
disk: every write handed over is made, in order, whole, without noise, and only then does the run
raise. (Before, the writes still waiting were dropped: a checkpoint that the backup recorded as
saved could be missing, and the resumed run would never save it again.)
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import trainer.callbacks.lanes
from trainer import saving
from trainer.callbacks.backup_and_restore import BACKUP_FILE, BackupAndRestore
from trainer.callbacks.callback import Callback
from trainer.callbacks.lanes import Lanes
from trainer.callbacks.model_checkpoint import ModelCheckpoint

from .training_run import BatchCounter, build_model, dataset

pytestmark = pytest.mark.anyio

STUCK = 3.0
"""How long a stuck slow part would take: far past the grace the tests give, yet finite, so that a
regression fails (the stuck part runs to its end) instead of hanging the suite."""


class GatedWrites:
    """Stands in for ``saving.write_contents``: write number ``gated`` waits for ``release`` (so the
    writes after it queue up on their lane); the others go through. Records the paths written."""

    def __init__(self, gated: int) -> None:
        self.gated = gated
        self.paths: list[str] = []
        self.gated_started = threading.Event()
        self.release = threading.Event()
        self._write = saving.write_contents

    def __call__(self, path: Any, contents: Any) -> None:
        if len(self.paths) + 1 == self.gated:
            self.gated_started.set()
            assert self.release.wait(30), "the test never released the gated write"
        self._write(path, contents)
        self.paths.append(str(path))


def release_when_the_run_ends(monkeypatch: pytest.MonkeyPatch, writes: GatedWrites) -> None:
    """The gated write ends only once the run is ending with work queued behind it, as a slow disk would have it."""
    finish = Lanes.finish

    async def release_then_finish(lanes: Lanes) -> list[Exception]:
        writes.release.set()
        return await finish(lanes)

    monkeypatch.setattr(Lanes, "finish", release_then_finish)


class EndAt(Callback):
    """At one batch of one epoch, once the gated write is under way: calls ``end`` (raise, or cancel)."""

    delivery = "inline"

    def __init__(self, epoch: int, batch: int, writes: GatedWrites, end: Callable[[], None]) -> None:
        super().__init__()
        self.at, self.epoch, self.writes, self.end = (epoch, batch), -1, writes, end

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if (self.epoch, batch) == self.at:
            assert await anyio.to_thread.run_sync(self.writes.gated_started.wait, 30)
            self.end()


def crash() -> None:
    raise RuntimeError("crash")


def noise(caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder) -> list[str]:
    gc.collect()  # a coroutine dropped without being awaited or closed warns when it is collected
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return logged + [str(w.message) for w in recwarn if issubclass(w.category, RuntimeWarning)]


async def fit(callbacks: list[Callback], epochs: int = 1) -> None:
    x, y = dataset()
    await build_model().fit_async(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)


async def test_backups_queued_when_the_run_fails_are_all_written_before_it_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    writes = GatedWrites(gated=2)
    monkeypatch.setattr(saving, "write_contents", writes)
    release_when_the_run_ends(monkeypatch, writes)
    # The counter counts each batch before the backup of that batch is taken.
    callbacks = [BatchCounter(), BackupAndRestore(tmp_path, save_freq=1), EndAt(0, 4, writes, crash)]
    with caplog.at_level(logging.DEBUG), pytest.raises(RuntimeError, match="crash"):
        await fit(callbacks)

    assert writes.release.is_set(), "the run did not end while writes were queued"
    assert writes.paths == [str(tmp_path / BACKUP_FILE)] * 5  # batches 0 to 4, the one it crashed in included
    state, _ = saving.load_backup(build_model(), tmp_path / BACKUP_FILE)  # whole: it loads
    assert state["callbacks"][0]["state"]["batches"] == 5  # the last backup was written last
    assert noise(caplog, recwarn) == []


async def test_backups_queued_when_the_run_is_cancelled_are_all_written_before_it_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    writes = GatedWrites(gated=2)
    monkeypatch.setattr(saving, "write_contents", writes)
    release_when_the_run_ends(monkeypatch, writes)
    with caplog.at_level(logging.DEBUG), anyio.CancelScope() as scope:
        callbacks = [BatchCounter(), BackupAndRestore(tmp_path, save_freq=1), EndAt(0, 4, writes, scope.cancel)]
        await fit(callbacks)
    assert scope.cancelled_caught

    assert writes.release.is_set(), "the run did not end while writes were queued"
    assert len(writes.paths) == 5  # cancelled at batch 4: the backups of batches 0 to 4
    state, _ = saving.load_backup(build_model(), tmp_path / BACKUP_FILE)
    assert state["callbacks"][0]["state"]["batches"] == 5
    assert noise(caplog, recwarn) == []


async def test_a_checkpoint_saved_before_a_crash_is_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Epoch 0's checkpoint waits on the disk; epoch 1's queues behind it; the run crashes in epoch 2.
    writes = GatedWrites(gated=1)
    monkeypatch.setattr(saving, "write_contents", writes)
    release_when_the_run_ends(monkeypatch, writes)
    checkpoint = ModelCheckpoint(tmp_path / "{epoch}.weights.npz", save_weights_only=True)
    with pytest.raises(RuntimeError, match="crash"):
        await fit([checkpoint, EndAt(2, 2, writes, crash)], epochs=3)

    assert writes.paths == [str(tmp_path / "1.weights.npz"), str(tmp_path / "2.weights.npz")]
    for path in writes.paths:
        build_model().load_weights(path)  # whole: it loads


class CrashAt(Callback):
    """Raises at one batch (a plain ``def`` hook)."""

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch = batch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if batch == self.batch:
            crash()


class StuckUploads(Callback):
    """Hands over, at each batch before ``until``, an upload to a server that does not answer;
    records which began, and which were cancelled."""

    delivery = "inline"

    def __init__(self, until: int) -> None:
        super().__init__()
        self.until = until
        self.began: list[int] = []
        self.cancelled: list[int] = []

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        return self.upload(batch) if batch < self.until else None

    async def upload(self, batch: int) -> None:
        self.began.append(batch)
        try:
            await anyio.sleep(STUCK)
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(batch)
            raise


async def test_work_that_fails_as_the_run_ends_is_logged_and_the_run_raises_its_own_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class FailingUpload(Callback):
        delivery = "inline"

        async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
            return self.upload() if batch == 1 else None

        async def upload(self) -> None:
            await anyio.lowlevel.checkpoint()
            raise OSError("upload failed")

    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError, match="crash"):
        await fit([FailingUpload(), CrashAt(1)])
    logged = [r.exc_info[1] for r in caplog.records if r.exc_info is not None]
    assert any(isinstance(error, OSError) and str(error) == "upload failed" for error in logged), caplog.text


async def test_slow_parts_still_unfinished_after_the_grace_are_given_up_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    monkeypatch.setattr(trainer.callbacks.lanes, "FINISH_SECONDS", 0.2)
    uploads = StuckUploads(until=2)
    with caplog.at_level(logging.WARNING), pytest.raises(RuntimeError, match="crash"):
        await fit([uploads, CrashAt(2)])
    assert uploads.began == uploads.cancelled == [0]  # batch 1's upload waited behind batch 0's: closed, never begun
    assert "gave up on the slow parts of StuckUploads" in caplog.text
    gc.collect()
    assert [str(w.message) for w in recwarn if issubclass(w.category, RuntimeWarning)] == []


async def test_a_run_cancelled_while_it_waits_for_its_slow_parts_at_the_end_gives_them_the_same_grace(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(trainer.callbacks.lanes, "FINISH_SECONDS", 0.2)
    trained = anyio.Event()

    class UploadAtTheEnd(StuckUploads):
        async def on_train_end(self, logs: dict[str, Any] | None = None) -> Any:
            trained.set()
            return self.upload(-1)

    uploads = UploadAtTheEnd(until=0)
    with caplog.at_level(logging.WARNING):
        async with anyio.create_task_group() as tg:
            tg.start_soon(fit, [uploads])
            await trained.wait()
            await anyio.sleep(0.05)  # training is over: the run waits for the upload
            tg.cancel_scope.cancel()
    assert uploads.cancelled == [-1]
    assert "gave up on the slow parts of UploadAtTheEnd" in caplog.text


async def test_the_grace_covers_every_lane_not_only_the_first(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(trainer.callbacks.lanes, "FINISH_SECONDS", 0.2)

    class OtherUploads(StuckUploads):
        pass

    first, second = StuckUploads(until=1), OtherUploads(until=4)
    with caplog.at_level(logging.WARNING), pytest.raises(RuntimeError, match="crash"):
        await fit([first, second, CrashAt(4)])
    # The grace ran out on the first lane: the second lane's uploads still waiting were dropped, not begun.
    assert second.began == [0]
    assert "gave up on the slow parts of StuckUploads, OtherUploads" in caplog.text
