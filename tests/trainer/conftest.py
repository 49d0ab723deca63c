"""Shared small models and data for the trainer tests."""

from __future__ import annotations

import numpy as np
import pytest

import trainer
from trainer import layers


@pytest.fixture
def classifier() -> trainer.Sequential:
    """Input(4) -> Dense(8, relu) -> Dense(3, softmax), compiled for sparse labels with accuracy."""
    trainer.set_random_seed(0)
    model = trainer.Sequential([trainer.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=trainer.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 4)).astype(np.float32), rng.integers(0, 3, 32)
