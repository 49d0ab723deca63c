"""ModelCheckpoint: Keras's file names and choices; copies taken at the hook, written off the compute path."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer
from eventbus import DeliveryError
from trainer import saving
from trainer.callbacks.callback import Callback
from trainer.callbacks.model_checkpoint import ModelCheckpoint

from .training_run import ScriptedLogs, build_model, dataset

REPOSITORY = Path(__file__).resolve().parents[2]


class Timeline(Callback):
    """Appends the hooks it hears, with their index, to a list shared with the test."""

    def __init__(self, events: list[tuple[str, int | None]]) -> None:
        super().__init__()
        self.events = events

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.events.append(("epoch_end", epoch))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.events.append(("train_end", None))


async def fit(callbacks: list[Callback], epochs: int = 3, **kwargs: Any) -> tuple[trainer.Sequential, Any]:
    x, y = dataset()
    model = build_model(dropout=0)
    history = await model.fit_async(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks, **kwargs)
    return model, history


def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


@pytest.mark.anyio
async def test_file_names_fill_the_template_with_the_1_based_epoch_and_the_logs(tmp_path: Path) -> None:
    template = tmp_path / "w-{epoch:02d}-{loss:.4f}-{val_accuracy:.3f}.weights.npz"
    _, history = await fit([ModelCheckpoint(template, save_weights_only=True)], validation_split=0.25)
    logs = history.history
    expected = [f"w-{e + 1:02d}-{logs['loss'][e]:.4f}-{logs['val_accuracy'][e]:.3f}.weights.npz" for e in range(3)]
    assert names(tmp_path) == expected


@pytest.mark.anyio
async def test_save_best_only_saves_when_the_monitored_value_improves(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path / "{epoch}.weights.npz", save_best_only=True, save_weights_only=True)
    await fit([ScriptedLogs("val_loss", [3.0, 2.0, 2.5, 2.0, 1.0]), checkpoint], epochs=5)
    assert names(tmp_path) == ["1.weights.npz", "2.weights.npz", "5.weights.npz"]  # a tie is no improvement
    assert checkpoint.best == 1.0


@pytest.mark.anyio
async def test_auto_mode_maximizes_accuracy_and_initial_value_threshold_is_the_first_best(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(
        tmp_path / "{epoch}.model.npz", monitor="val_accuracy", save_best_only=True, initial_value_threshold=0.5
    )
    await fit([ScriptedLogs("val_accuracy", [0.4, 0.6, 0.55, 0.7]), checkpoint], epochs=4)
    assert names(tmp_path) == ["2.model.npz", "4.model.npz"]


@pytest.mark.anyio
async def test_an_integer_save_freq_counts_batches_across_epochs_and_fills_batch(tmp_path: Path) -> None:
    # 12 batches an epoch, a save every 5: after overall batches 5, 10, 15, 20, 25, 30, 35.
    await fit([ModelCheckpoint(tmp_path / "e{epoch}-b{batch:02d}.weights.npz", save_weights_only=True, save_freq=5)])
    assert names(tmp_path) == [
        "e1-b05.weights.npz", "e1-b10.weights.npz", "e2-b03.weights.npz", "e2-b08.weights.npz",
        "e3-b01.weights.npz", "e3-b06.weights.npz", "e3-b11.weights.npz",
    ]  # fmt: skip


class WeightsAtBatchEnd(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.weights.append(self.model.get_weights())


@pytest.mark.anyio
async def test_each_file_holds_the_weights_of_the_moment_of_its_hook(tmp_path: Path) -> None:
    # Written while training goes on, yet each file is the copy taken at its batch.
    seen = WeightsAtBatchEnd()
    checkpoint = ModelCheckpoint(tmp_path / "b{batch:02d}.weights.npz", save_weights_only=True, save_freq=1)
    model, _ = await fit([checkpoint, seen], epochs=1)
    for batch, expected in enumerate(seen.weights):
        model.load_weights(tmp_path / f"b{batch + 1:02d}.weights.npz")
        for loaded, weight in zip(model.get_weights(), expected):
            np.testing.assert_array_equal(loaded, weight)


@pytest.mark.anyio
@pytest.mark.parametrize("weights_only", [True, False])
async def test_a_checkpoint_loads_back_and_predicts_bit_identically(tmp_path: Path, weights_only: bool) -> None:
    path = tmp_path / ("last.weights.npz" if weights_only else "last.model.npz")
    model, _ = await fit([ModelCheckpoint(path, save_weights_only=weights_only)])
    x, _ = dataset()
    if weights_only:
        loaded = build_model(dropout=0)
        loaded.load_weights(path)
    else:
        loaded = trainer.load_model(path)
        assert loaded.optimizer.iterations == model.optimizer.iterations == 36
        for name, value in model.optimizer.get_state().items():
            np.testing.assert_array_equal(loaded.optimizer.get_state()[name], value)
    np.testing.assert_array_equal(loaded.predict_on_batch(x), model.predict_on_batch(x))


@pytest.mark.anyio
async def test_a_template_naming_a_key_the_logs_lack_fails_the_first_save_clearly(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path / "{epoch}-{val_loss:.2f}.weights.npz", save_weights_only=True)
    with pytest.raises(KeyError, match=r"names 'val_loss'.*it has epoch, accuracy, loss"):
        await fit([checkpoint])  # no validation, so no val_loss
    assert names(tmp_path) == []


@pytest.mark.anyio
async def test_batch_in_the_template_needs_an_integer_save_freq(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="names 'batch'"):
        await fit([ModelCheckpoint(tmp_path / "{batch}.weights.npz", save_weights_only=True)])


@pytest.mark.anyio
async def test_a_slow_write_does_not_hold_training_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every write waits until training has ended: were the writes on the compute path, training
    # could never end, and the writer would give up and fail the fit.
    events: list[tuple[str, int | None]] = []
    training_ended = threading.Event()
    write = saving.write_contents

    def slow_write(path: str, contents: saving.Contents) -> None:
        if not training_ended.wait(timeout=30):
            raise AssertionError("training waited for a checkpoint write")
        events.append(("written", int(Path(path).name.split(".")[0])))
        write(path, contents)

    class TrainingEnded(Timeline):
        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            super().on_train_end(logs)
            training_ended.set()

    monkeypatch.setattr(saving, "write_contents", slow_write)
    checkpoint = ModelCheckpoint(tmp_path / "{epoch}.model.npz")
    await fit([checkpoint, TrainingEnded(events)], epochs=3)
    assert events == [
        ("epoch_end", 0), ("epoch_end", 1), ("epoch_end", 2), ("train_end", None),
        ("written", 1), ("written", 2), ("written", 3),
    ]  # fmt: skip
    assert names(tmp_path) == ["1.model.npz", "2.model.npz", "3.model.npz"]  # fit waited for them


@pytest.mark.anyio
async def test_a_failed_write_fails_the_fit_naming_the_callback(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the directory would go")
    with pytest.raises(DeliveryError, match=r"ModelCheckpoint.*for_hook='on_epoch_end'.*FileExistsError") as raised:
        await fit([ModelCheckpoint(tmp_path / "taken" / "{epoch}.weights.npz", save_weights_only=True)])
    assert isinstance(raised.value.__cause__, FileExistsError)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"mode": "maxx"}, r"Unknown mode: 'maxx'. Did you mean 'max'\?"),
        ({"save_freq": 0}, "save_freq must be 'epoch' or a positive integer"),
        ({"save_freq": "batch"}, "save_freq must be 'epoch' or a positive integer"),
        ({"save_freq": True}, "save_freq must be 'epoch' or a positive integer"),
        ({"filepath": "w.h5"}, r"must end in '\.model\.npz'"),
        ({"filepath": "w.model.npz", "save_weights_only": True}, r"must end in '\.weights\.npz'"),
        ({"filepath": "w-{epoch.model.npz"}, "not a valid template"),
        ({"initial_value_threshold": "low"}, "initial_value_threshold must be a finite number"),
        ({"monitor": ""}, "monitor must be the name"),
    ],
)
def test_bad_arguments_are_refused_at_construction(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelCheckpoint(**{"filepath": "w.model.npz", **arguments})


@pytest.mark.anyio
async def test_auto_mode_refuses_a_quantity_whose_direction_it_cannot_tell(tmp_path: Path) -> None:
    checkpoint = ModelCheckpoint(tmp_path / "w.model.npz", monitor="f1", save_best_only=True)
    with pytest.raises(ValueError, match="mode='max'"):
        await fit([ScriptedLogs("f1", [0.5, 0.6, 0.7]), checkpoint])


def test_killing_a_process_that_checkpoints_every_batch_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """Killed at random moments while it writes a checkpoint every batch, over and over: every
    file under a final name is whole; only hidden temporary files may be cut short."""
    command = [sys.executable, "-m", "tests.callbacks.training_run", "checkpoint", str(tmp_path)]
    generator = random.Random(5)
    for _ in range(5):
        with subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("first epoch")
            threading.Event().wait(generator.uniform(0.05, 0.4))  # let it get into its writes
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
        final = [path for path in tmp_path.iterdir() if not path.name.startswith(".")]
        assert final, "the process was killed before its first checkpoint"
        model = build_model(hidden=512)
        for path in final:
            if path.name.endswith(saving.WEIGHTS_SUFFIX):
                model.load_weights(path)
            else:
                trainer.load_model(path).predict(np.zeros((1, 8), np.float32), verbose=0)
