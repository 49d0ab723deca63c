"""Quickstart: the R keras3 reference page's example in Python, then a small real model.

    python examples/quickstart.py [--epochs N]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import trainer
from trainer import Callback, Input, Sequential
from trainer.layers import Dense


def seed_example() -> None:
    """A callback made by the factory sets a flag when training ends."""
    finished = {"yes": False}

    def on_train_end(self: Callback, logs: dict[str, Any] | None = None) -> None:
        finished["yes"] = True

    callback_mark_finished = Callback("MarkFinished", on_train_end=on_train_end)
    model = Sequential([Input(shape=(1,)), Dense(1)])
    model.compile(loss="mean_squared_error")
    model.fit(np.ones((1, 1)), np.ones((1, 1)), callbacks=[callback_mark_finished()], verbose=0)
    print(f"MarkFinished saw training end: {finished['yes']}")


def spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spirals: a small problem a linear model cannot solve."""
    angle = rng.uniform(0.5, 3.5 * np.pi, n)
    label = rng.integers(0, 2, n)
    radius = angle / (3.5 * np.pi)
    sign = np.where(label == 1, 1.0, -1.0)
    x = np.stack([sign * radius * np.cos(angle), sign * radius * np.sin(angle)], axis=1)
    return (x + rng.normal(0, 0.02, x.shape)).astype(np.float32), label


class BestEpoch(Callback):
    """An inline callback that remembers the epoch with the best validation accuracy."""

    def __init__(self) -> None:
        super().__init__()
        self.best = (-1, 0.0)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs and logs["val_accuracy"] > self.best[1]:
            self.best = (epoch, logs["val_accuracy"])


def real_model(epochs: int) -> None:
    trainer.set_random_seed(42)
    x, y = spirals(2000, np.random.default_rng(0))
    model = Sequential([Input(shape=(2,)), Dense(64, activation="relu"), Dense(64, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer=trainer.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy", metrics=["accuracy"])
    best = BestEpoch()
    history = model.fit(x, y, batch_size=64, epochs=epochs, validation_split=0.2, callbacks=[best], verbose=2)
    print(f"best validation accuracy {best.best[1]:.3f} at epoch {best.best[0] + 1}; "
          f"final training loss {history.history['loss'][-1]:.4f}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    seed_example()
    real_model(args.epochs)
