"""A tiny model and data for the callback tests, and a callback that scripts what later callbacks see."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import trainer
from trainer import layers
from trainer.callbacks.lambda_callback import LambdaCallback

X = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)).astype(np.float32)


def small_model(learning_rate: float = 0.01) -> trainer.Sequential:
    """Input(3) -> Dense(4, relu) -> Dense(1), SGD, mse with mae; the same weights on every call."""
    trainer.set_random_seed(0)
    model = trainer.Sequential([trainer.Input(shape=(3,)), layers.Dense(4, activation="relu"), layers.Dense(1)])
    model.compile(optimizer=trainer.optimizers.SGD(learning_rate=learning_rate), loss="mse", metrics=["mae"])
    return model


def scripted(key: str, values: Sequence[float]) -> LambdaCallback:
    """Sets ``logs[key] = values[epoch]`` at each epoch end, for the callbacks listed after it.

    It is inline (a ``def`` hook returning a mapping), so what it returns is merged into the live
    logs before the next callback runs: a real ``fit`` then drives a callback with crafted values.
    """
    return LambdaCallback(on_epoch_end=lambda epoch, logs: {key: values[epoch]})
