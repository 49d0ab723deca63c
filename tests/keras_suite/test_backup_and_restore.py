"""Keras 3.15's ``backup_and_restore_test.py``, ported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trainer.callbacks import BackupAndRestore, Callback
from trainer.callbacks.backup_and_restore import BACKUP_FILE, EPOCH_END_FILE

from .models import data, regression


class InterruptingCallback(Callback):
    """Keras's: raises at the ``steps_int``-th batch (through ``on_batch_end``, the alias) or the
    ``epoch_int``-th epoch end."""

    def __init__(self, steps_int: int | None, epoch_int: int | None) -> None:
        super().__init__()
        self.batch_count = 0
        self.epoch_count = 0
        self.steps_int = steps_int
        self.epoch_int = epoch_int

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_count += 1
        if self.epoch_int is not None and self.epoch_count == self.epoch_int:
            raise RuntimeError("EpochInterruption")

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.batch_count += 1
        if self.steps_int is not None and self.batch_count == self.steps_int:
            raise RuntimeError("StepsInterruption")


@pytest.mark.parametrize("save_freq", ["batch", 0.15])
def test_save_freq_unknown_error(tmp_path: Path, save_freq: Any) -> None:
    """test_save_freq_unknown_error"""
    with pytest.raises(ValueError, match="Invalid value"):
        BackupAndRestore(backup_dir=tmp_path, save_freq=save_freq)


@pytest.mark.anyio
async def test_best_case_step(tmp_path: Path) -> None:
    """test_best_case_step: a backup every batch; interrupted at the second batch, the run resumes at
    epoch 0's first batch with the weights of that backup (17 steps in all, as Keras's counter says)."""
    backup_dir = tmp_path / "subdir"
    model = regression()
    x, y = data()
    cbk = BackupAndRestore(backup_dir, save_freq=1)
    with pytest.raises(RuntimeError, match="StepsInterruption"):
        await model.fit_async(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[cbk, InterruptingCallback(2, None)])
    assert (backup_dir / BACKUP_FILE).exists()
    assert model.optimizer.iterations == 2
    history = await model.fit_async(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[cbk])
    assert history.epoch == [0, 1, 2, 3, 4]
    assert model.optimizer.iterations == 17


@pytest.mark.anyio
async def test_best_case_epoch(tmp_path: Path) -> None:
    """test_best_case_epoch: interrupted in the second epoch's end by a callback after the backup,
    the run resumes at epoch 2 (Keras backs up in its own on_epoch_end) and trains [2, 3, 4]."""
    backup_dir = tmp_path / "subdir"
    model = regression()
    x, y = data()
    cbk = BackupAndRestore(backup_dir=backup_dir, save_freq="epoch")
    with pytest.raises(RuntimeError, match="EpochInterruption"):
        await model.fit_async(x, y, batch_size=4, epochs=6, verbose=0, callbacks=[cbk, InterruptingCallback(None, 2)])
    assert (backup_dir / EPOCH_END_FILE).exists()
    assert model.optimizer.iterations == 6
    history = await model.fit_async(x, y, batch_size=4, epochs=5, verbose=0, callbacks=[cbk])
    assert history.epoch == [2, 3, 4]
    assert model.optimizer.iterations == 5 * 3


@pytest.mark.anyio
async def test_model_deleted_case_epoch(tmp_path: Path) -> None:
    """test_model_deleted_case_epoch: a run that ends normally removes its backups."""
    backup_dir = tmp_path / "subdir"
    model = regression()
    x, y = data()
    await model.fit_async(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[BackupAndRestore(backup_dir)])
    assert not backup_dir.exists()


@pytest.mark.parametrize("backup_dir", ["", None])
def test_backup_dir_empty_error(backup_dir: Any) -> None:
    """test_backup_dir_empty_error, test_backup_dir_none_error"""
    with pytest.raises(ValueError, match="Empty `backup_dir` argument passed"):
        BackupAndRestore(backup_dir=backup_dir, save_freq="epoch")


@pytest.mark.anyio
async def test_an_epoch_end_backup_that_a_later_one_superseded_is_never_resumed_from(tmp_path: Path) -> None:
    """Ours (no Keras twin): the epoch-end backup is gone once the next epoch begins, so a run that
    fails later resumes from the complete backup taken at that epoch's start, never from the
    epoch-end one (which lacks what callbacks after BackupAndRestore changed at that end)."""

    class DecayAtEpochEnd(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.model.optimizer.learning_rate = self.model.optimizer.learning_rate * 0.5

    class FailAtEpochThree(Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if epoch == 3:
                raise RuntimeError("crash")

    x, y = data()
    reference = regression()
    await reference.fit_async(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[DecayAtEpochEnd()])
    model = regression()
    callbacks = [BackupAndRestore(tmp_path), DecayAtEpochEnd(), FailAtEpochThree()]
    with pytest.raises(RuntimeError, match="crash"):
        await model.fit_async(x, y, batch_size=4, epochs=5, verbose=0, callbacks=callbacks)
    assert not (tmp_path / EPOCH_END_FILE).exists()
    resumed = regression()
    history = await resumed.fit_async(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert history.epoch == []  # the backup taken as epoch 3 began: every epoch of 0..2 is done
    assert resumed.optimizer.learning_rate == reference.optimizer.learning_rate == pytest.approx(0.01 * 0.5**3)
