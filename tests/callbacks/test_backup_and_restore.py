"""BackupAndRestore: a run stopped mid-training and started again ends as if never stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

from trainer.callbacks.backup_and_restore import BACKUP_FILE, BackupAndRestore
from trainer.callbacks.callback import Callback
from trainer.callbacks.early_stopping import EarlyStopping
from trainer.callbacks.model_checkpoint import ModelCheckpoint

from .training_run import BatchCounter, DecayLearningRate, ScriptedLogs, build_model, dataset

REPOSITORY = Path(__file__).resolve().parents[2]
EPOCHS = 4


class Crash(Callback):
    """Raises at one batch of one epoch (a crash, within the process), once a backup is on disk."""

    delivery = "inline"

    def __init__(self, epoch: int, batch: int, backup_dir: Path) -> None:
        super().__init__()
        self.at, self.epoch, self.backup = (epoch, batch), -1, backup_dir / BACKUP_FILE

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if (self.epoch, batch) == self.at:
            with anyio.fail_after(30):
                while not self.backup.exists():
                    await anyio.sleep(0.005)
            raise RuntimeError("crash")


class WeightsAt(Callback):
    """Records the model's weights at each epoch's start and each batch's end."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = -1
        self.at_epoch_begin: dict[int, list[np.ndarray]] = {}
        self.at_batch_end: dict[tuple[int, int], list[np.ndarray]] = {}

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch
        self.at_epoch_begin[epoch] = self.model.get_weights()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.at_batch_end[(self.epoch, batch)] = self.model.get_weights()


def assert_same_weights(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a, e)


async def fit(callbacks: list[Callback], epochs: int = EPOCHS, **kwargs: Any) -> tuple[Any, Any]:
    x, y = dataset()
    model = build_model()
    history = await model.fit_async(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks, **kwargs)
    return model, history


async def crashed_fit(callbacks: list[Callback], **kwargs: Any) -> None:
    with pytest.raises(RuntimeError, match="crash"):
        await fit(callbacks, **kwargs)


def assert_resumed_before(history: Any, crash_epoch: int) -> None:
    """Resumed from a backup, and trained on to the end. Which backup depends on how far the writes,
    which run concurrently with training, had got when it crashed: the latest one finished."""
    assert 1 <= history.epoch[0] <= crash_epoch
    assert history.epoch == list(range(history.epoch[0], EPOCHS))


@pytest.mark.anyio
async def test_a_run_resumed_after_a_crash_ends_with_the_weights_of_one_never_stopped(tmp_path: Path) -> None:
    reference, _ = await fit([], shuffle=True)
    await crashed_fit([BackupAndRestore(tmp_path), Crash(epoch=2, batch=3, backup_dir=tmp_path)], shuffle=True)
    assert (tmp_path / BACKUP_FILE).exists()  # kept: the run raised
    resumed, history = await fit([BackupAndRestore(tmp_path)], shuffle=True)
    assert_resumed_before(history, 2)
    assert_same_weights(resumed.get_weights(), reference.get_weights())  # Dropout masks and shuffling included
    assert resumed.optimizer.iterations == reference.optimizer.iterations
    assert not tmp_path.exists()  # delete_checkpoint: removed once training ended normally


@pytest.mark.anyio
async def test_callback_state_and_learning_rate_survive_their_own_reset_and_later_changes(tmp_path: Path) -> None:
    # Listed after BackupAndRestore: the counter resets itself in on_train_begin, the decay changes
    # the learning rate at epoch end; both after BackupAndRestore has had those hooks.
    reference_counter = BatchCounter()
    reference, _ = await fit([reference_counter, DecayLearningRate()])
    await crashed_fit([BackupAndRestore(tmp_path), BatchCounter(), DecayLearningRate(), Crash(epoch=3, batch=1, backup_dir=tmp_path)])
    counter = BatchCounter()
    resumed, history = await fit([BackupAndRestore(tmp_path), counter, DecayLearningRate()])
    assert_resumed_before(history, 3)
    assert counter.batches == reference_counter.batches == EPOCHS * 12
    assert counter.loss_sum == reference_counter.loss_sum
    assert resumed.optimizer.learning_rate == reference.optimizer.learning_rate
    assert_same_weights(resumed.get_weights(), reference.get_weights())


@pytest.mark.anyio
async def test_early_stopping_and_save_best_only_carry_on_from_their_backed_up_state(tmp_path: Path) -> None:
    # val_loss is best (3.0) at epoch 2; with patience 2, training stops after epoch 4 and the
    # weights of epoch 2 come back. A run crashed in epoch 3 must do the same, and ModelCheckpoint
    # must not save epoch 4 (3.5) as a "best" after the resume.
    val_loss = [5.0, 4.0, 3.0, 3.2, 3.5, 2.0, 1.0, 0.5]

    def callbacks(backup: Path, checkpoints: Path) -> list[Callback]:
        return [
            ScriptedLogs("val_loss", val_loss),
            BackupAndRestore(backup),
            EarlyStopping(patience=2, restore_best_weights=True),
            ModelCheckpoint(checkpoints / "{epoch}.weights.npz", save_best_only=True, save_weights_only=True),
        ]

    reference, reference_history = await fit(callbacks(tmp_path / "b0", tmp_path / "c0"), epochs=8)
    assert reference_history.epoch == [0, 1, 2, 3, 4]
    backup = tmp_path / "b1"
    await crashed_fit([*callbacks(backup, tmp_path / "c1"), Crash(epoch=3, batch=2, backup_dir=backup)], epochs=8)
    resumed, history = await fit(callbacks(backup, tmp_path / "c1"), epochs=8)
    assert 1 <= history.epoch[0] <= 3 and history.epoch[-1] == 4
    assert_same_weights(resumed.get_weights(), reference.get_weights())
    assert sorted(path.name for path in (tmp_path / "c1").iterdir()) == ["1.weights.npz", "2.weights.npz", "3.weights.npz"]


@pytest.mark.anyio
async def test_without_delete_checkpoint_the_final_state_is_kept_and_the_same_call_has_nothing_left(tmp_path: Path) -> None:
    finished, _ = await fit([BackupAndRestore(tmp_path, delete_checkpoint=False)])
    assert (tmp_path / BACKUP_FILE).exists()
    again, history = await fit([BackupAndRestore(tmp_path, delete_checkpoint=False)])
    assert history.epoch == []
    assert_same_weights(again.get_weights(), finished.get_weights())


@pytest.mark.anyio
async def test_an_integer_save_freq_restarts_the_interrupted_epoch_with_the_last_backup(tmp_path: Path) -> None:
    # 12 batches an epoch, a backup every 5 counted across epochs: after batches (0, 4), (0, 9),
    # (1, 2) and (1, 7) before the crash. As in Keras, the epoch of the backup starts again, with its weights.
    crashed = WeightsAt()
    await crashed_fit([BackupAndRestore(tmp_path, save_freq=5), crashed, Crash(epoch=1, batch=9, backup_dir=tmp_path)])
    resumed = WeightsAt()
    _, history = await fit([BackupAndRestore(tmp_path, save_freq=5), resumed])
    start = history.epoch[0]
    assert history.epoch == list(range(start, EPOCHS))
    restored = resumed.at_epoch_begin[start]
    backed_up_at = [at for at, weights in crashed.at_batch_end.items() if all(map(np.array_equal, weights, restored))]
    assert len(backed_up_at) == 1
    assert backed_up_at[0] in {(0, 4), (0, 9), (1, 2), (1, 7)}
    assert backed_up_at[0][0] == start


@pytest.mark.anyio
async def test_a_backup_made_with_other_callbacks_warns_and_restores_the_rest(tmp_path: Path) -> None:
    await crashed_fit([BackupAndRestore(tmp_path), BatchCounter(), Crash(epoch=2, batch=0, backup_dir=tmp_path)])
    with pytest.warns(UserWarning, match="BatchCounter at position 1"):
        _, history = await fit([BackupAndRestore(tmp_path), WeightsAt()])
    assert_resumed_before(history, 2)


@pytest.mark.anyio
async def test_a_damaged_backup_is_refused_by_name(tmp_path: Path) -> None:
    await crashed_fit([BackupAndRestore(tmp_path), Crash(epoch=2, batch=0, backup_dir=tmp_path)])
    backup = tmp_path / BACKUP_FILE
    backup.write_bytes(backup.read_bytes()[:100])
    with pytest.raises(ValueError, match="latest.backup.npz"):
        await fit([BackupAndRestore(tmp_path)])


@pytest.mark.parametrize("save_freq", [0, -3, "batch", 2.5, True, None])
def test_save_freq_must_be_epoch_or_a_positive_integer(tmp_path: Path, save_freq: Any) -> None:
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive integer"):
        BackupAndRestore(tmp_path, save_freq=save_freq)


def test_backup_dir_must_be_given() -> None:
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore("")


def run_training(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tests.callbacks.training_run", "backup", *args]
    return subprocess.run(command, cwd=REPOSITORY, check=False, capture_output=True, text=True, timeout=120)


def test_a_process_killed_mid_epoch_resumes_and_ends_like_one_never_killed(tmp_path: Path) -> None:
    uninterrupted = run_training(str(tmp_path / "reference.npz"), str(tmp_path / "reference_backup"))
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    backup_dir = tmp_path / "backup"
    killed = run_training(str(tmp_path / "never.npz"), str(backup_dir), "--kill-at", "3", "5")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (backup_dir / BACKUP_FILE).exists()
    restarted = run_training(str(tmp_path / "resumed.npz"), str(backup_dir))
    assert restarted.returncode == 0, restarted.stderr
    resumed_at = int(restarted.stdout.split("first epoch ")[1].split()[0])
    assert 1 <= resumed_at <= 3  # from the latest backup written before the kill
    with np.load(tmp_path / "reference.npz") as reference, np.load(tmp_path / "resumed.npz") as resumed:
        assert sorted(resumed.files) == sorted(reference.files)
        for name in reference.files:  # weights, learning rate, and the counter's state, exactly
            np.testing.assert_array_equal(resumed[name], reference[name], err_msg=name)
    assert not backup_dir.exists()
