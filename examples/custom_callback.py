"""The Callback factory: def and async def methods, public, private and inherit.

    python examples/custom_callback.py [--epochs N]
"""

from __future__ import annotations

import argparse
from typing import Any

import anyio
import numpy as np

import trainer
from trainer import Callback, Input, Sequential
from trainer.layers import Dense


# A base class: counts epochs in its private state and reports through a public method.
def count_epoch(self: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
    self.private.epochs += 1


def report(self: Any) -> str:
    return f"{self.label}: {self.private.epochs} epochs"


def __init__(self: Any, label: str = "counter") -> None:
    Callback.__init__(self)
    self.label = label


EpochCounter = Callback(
    "EpochCounter",
    on_epoch_end=count_epoch,
    public={"__init__": __init__, "report": report},
    private={"epochs": 0},  # every instance starts from its own fresh copy
)


# A subclass: extends the inherited hook, and adds an async one that runs queued.
def count_and_watch(self: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
    EpochCounter.on_epoch_end(self, epoch, logs)  # the inherited method
    self.private.losses.append(logs["loss"])


async def announce(self: Any, logs: dict[str, Any] | None = None) -> None:
    await anyio.sleep(0)  # e.g. post a message; runs concurrently with training
    print(f"{self.report()}, losses {[round(v, 4) for v in self.private.losses]}")


LossWatcher = Callback(
    "LossWatcher",
    on_epoch_end=count_and_watch,
    on_train_end=announce,
    private={"losses": []},
    inherit=EpochCounter,
)


def main(epochs: int) -> None:
    trainer.set_random_seed(1)
    x = np.random.default_rng(1).normal(size=(512, 8)).astype(np.float32)
    y = x @ np.arange(8, dtype=np.float32).reshape(8, 1)
    model = Sequential([Input(shape=(8,)), Dense(16, activation="tanh"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    counter, watcher = EpochCounter("plain"), LossWatcher("watcher")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=[counter, watcher])
    print(counter.report())
    print(f"the two instances keep separate private state: {counter.private.epochs} and {watcher.private.epochs}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    main(parser.parse_args().epochs)
