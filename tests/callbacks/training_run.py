"""A small, seeded training run: imported by the callback tests, and run as a process by the crash tests.

    python -m tests.callbacks.training_run backup RESULT.npz BACKUP_DIR [--epochs N] [--kill-at EPOCH BATCH]
    python -m tests.callbacks.training_run checkpoint CHECKPOINT_DIR

``backup`` trains with BackupAndRestore (and two callbacks with state, listed after it) and saves the
final weights, learning rate and callback state to RESULT.npz; ``--kill-at`` sends itself SIGKILL
mid-epoch, once a backup is on disk. ``checkpoint`` trains for a long time, checkpointing every batch,
until the test kills it. Each prints ``first epoch N`` when its first epoch begins.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np

import trainer
from trainer import layers
from trainer.callbacks.backup_and_restore import BACKUP_FILE, BackupAndRestore
from trainer.callbacks.callback import Callback
from trainer.callbacks.model_checkpoint import ModelCheckpoint

FEATURES, CLASSES = 8, 3


def dataset(samples: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(samples, FEATURES)).astype(np.float32), rng.integers(0, CLASSES, samples)


def build_model(hidden: int = 16, dropout: float = 0.25) -> trainer.Sequential:
    """The same initial weights and dropout masks on every call: it seeds the engine first."""
    trainer.set_random_seed(0)
    stack = [trainer.Input(shape=(FEATURES,)), layers.Dense(hidden, activation="relu")]
    stack += [layers.Dropout(dropout)] if dropout else []
    model = trainer.Sequential([*stack, layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer=trainer.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class BatchCounter(Callback):
    """State for BackupAndRestore to carry over: the batches trained, and the sum of their losses."""

    def __init__(self) -> None:
        super().__init__()
        self.batches = 0
        self.loss_sum = 0.0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.batches, self.loss_sum = 0, 0.0  # as Keras's stateful callbacks reset themselves

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.batches += 1
        self.loss_sum += (logs or {})["loss"]

    def get_state(self) -> dict[str, Any]:
        return {"batches": self.batches, "loss_sum": self.loss_sum, "history": [np.float32(self.loss_sum)]}

    def set_state(self, state: dict[str, Any]) -> None:
        self.batches, self.loss_sum = state["batches"], state["loss_sum"]


class ScriptedLogs(Callback):
    """Sets ``logs[key]`` at each epoch end from a script, for the callbacks after it (an inline hook's
    returned mapping is merged into the live logs)."""

    def __init__(self, key: str, values: list[float]) -> None:
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> dict[str, float]:
        return {self.key: self.values[epoch]}


class DecayLearningRate(Callback):
    """Changes the learning rate at each epoch's end, after BackupAndRestore has seen that epoch end."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.optimizer.learning_rate = self.model.optimizer.learning_rate * 0.9


class FirstEpoch(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self.seen:
            self.seen = True
            print(f"first epoch {epoch}", flush=True)


class KillAt(Callback):
    """SIGKILL at a batch of an epoch, once a backup is on disk (so the restart has one to resume from)."""

    delivery = "inline"  # async only so that its wait lets the event loop go on writing the backup

    def __init__(self, epoch: int, batch: int, backup: Path) -> None:
        super().__init__()
        self.at, self.backup, self.epoch = (epoch, batch), backup, -1

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if (self.epoch, batch) == self.at:
            deadline = time.monotonic() + 30
            while not self.backup.exists() and time.monotonic() < deadline:
                await anyio.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)


def run_with_backup(result: Path, backup_dir: Path, epochs: int, kill_at: list[int] | None) -> None:
    x, y = dataset()
    model = build_model()
    counter = BatchCounter()
    callbacks: list[Callback] = [FirstEpoch(), BackupAndRestore(backup_dir), counter, DecayLearningRate()]
    if kill_at:
        callbacks.append(KillAt(kill_at[0], kill_at[1], backup_dir / BACKUP_FILE))
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=callbacks)
    arrays = {f"weight_{i}": w for i, w in enumerate(model.get_weights())}
    state = counter.get_state()
    np.savez(result, **arrays, learning_rate=model.optimizer.learning_rate, batches=state["batches"], loss_sum=state["loss_sum"])


def run_checkpointing(directory: Path) -> None:
    x, y = dataset(samples=256)
    model = build_model(hidden=512)
    callbacks = [
        FirstEpoch(),
        ModelCheckpoint(directory / "latest.weights.npz", save_weights_only=True, save_freq=1),
        ModelCheckpoint(directory / "model-{batch}.model.npz", save_freq=1),
    ]
    model.fit(x, y, batch_size=32, epochs=10_000, verbose=0, callbacks=callbacks)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    backup = commands.add_parser("backup")
    backup.add_argument("result", type=Path)
    backup.add_argument("backup_dir", type=Path)
    backup.add_argument("--epochs", type=int, default=6)
    backup.add_argument("--kill-at", type=int, nargs=2)
    checkpoint = commands.add_parser("checkpoint")
    checkpoint.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "backup":
        run_with_backup(args.result, args.backup_dir, args.epochs, args.kill_at)
    else:
        run_checkpointing(args.directory)


if __name__ == "__main__":
    main(sys.argv[1:])
