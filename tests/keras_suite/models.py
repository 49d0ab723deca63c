"""The small models and data Keras's callback tests use, on this engine."""

from __future__ import annotations

import numpy as np

import trainer
from trainer import layers


def regression(inputs: int = 3, metrics: list[object] | None = None, optimizer: str = "sgd", loss: str = "mse") -> trainer.Sequential:
    """Keras's ``make_model``: Input, Dense(1), compiled with mse."""
    trainer.set_random_seed(0)
    model = trainer.Sequential([trainer.Input(shape=(inputs,)), layers.Dense(1)])
    model.compile(loss=loss, optimizer=optimizer, metrics=["mse"] if metrics is None else metrics)
    return model


def data(samples: int = 10, inputs: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((samples, inputs)).astype(np.float32), rng.random((samples, 1)).astype(np.float32)
