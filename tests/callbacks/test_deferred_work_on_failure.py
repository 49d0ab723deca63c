"""A run that fails while BackupAndRestore's writes are still queued: they are discarded quietly.

The writes waiting on the callback's lane never run (the run failed; a later backup is not wanted),
none is left un-awaited, none is awaited after it was discarded, and the backup on disk stays whole.
"""

from __future__ import annotations

import gc
import logging
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

import trainer.run
from trainer import saving
from trainer.callbacks import subscriber
from trainer.callbacks.backup_and_restore import BACKUP_FILE, BackupAndRestore
from trainer.callbacks.callback import Callback

from .training_run import build_model, dataset

pytestmark = pytest.mark.anyio


class GatedWrites:
    """Stands in for ``saving.write_contents``: the first write goes through, the second waits for
    ``release`` (so the writes after it queue up on the lane), later ones go through."""

    def __init__(self) -> None:
        self.calls = 0
        self.second_started = threading.Event()
        self.release = threading.Event()
        self._write = saving.write_contents

    def __call__(self, path: Any, contents: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            self.second_started.set()
            assert self.release.wait(30), "the test never released the second write"
        self._write(path, contents)


class CrashWhileWriting(Callback):
    """Raises at one batch, once the gated write is under way and later ones wait behind it."""

    delivery = "inline"

    def __init__(self, batch: int, writes: GatedWrites) -> None:
        super().__init__()
        self.batch, self.writes = batch, writes

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if batch == self.batch:
            assert await anyio.to_thread.run_sync(self.writes.second_started.wait, 30)
            raise RuntimeError("crash")


async def test_writes_still_queued_when_the_run_fails_are_discarded_without_noise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, recwarn: pytest.WarningsRecorder
) -> None:
    writes = GatedWrites()
    monkeypatch.setattr(saving, "write_contents", writes)
    discard = subscriber.discard_deferred_work

    def discard_then_release(bus: Any) -> None:
        # The write under way ends only after the run has discarded what waits behind it, as a slow
        # disk would have it; its lane then goes on to the discarded writes, unless they are gone.
        discard(bus)
        writes.release.set()

    monkeypatch.setattr(trainer.run, "discard_deferred_work", discard_then_release)
    x, y = dataset()
    model = build_model()
    callbacks = [BackupAndRestore(tmp_path, save_freq=1), CrashWhileWriting(batch=4, writes=writes)]
    with caplog.at_level(logging.DEBUG), pytest.raises(RuntimeError, match="crash"):
        await model.fit_async(x, y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    gc.collect()  # a coroutine dropped without being awaited or closed warns when it is collected

    assert writes.release.is_set(), "the run did not fail while writes were queued"
    assert writes.calls == 2  # the backups of batches 2 to 4 were discarded, never written
    noise = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert noise == []
    assert [str(w.message) for w in recwarn if issubclass(w.category, RuntimeWarning)] == []
    state, _ = saving.load_backup(build_model(), tmp_path / BACKUP_FILE)  # whole: it loads
    assert state["epoch"] == 0
