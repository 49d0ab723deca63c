"""The jobs ``bench_ray`` trains: their builds, imported by every Ray worker that trains one.

A module of its own, importing only the engine, so that a worker's start costs what a user's job
module would (``bench_ray`` itself imports the service, its HTTP client and the other benchmarks).
"""

from __future__ import annotations

import numpy as np

import trainer
from trainer.jobs import TrainingSpec
from trainer.layers import Dense

from .bench_step import CLASSES, FEATURES, HIDDEN

Shape = tuple[int, tuple[int, ...], int, int, int, int]  # features, hidden, classes, samples, batch, epochs
SHAPES: dict[str, Shape] = {
    # Jobs long enough (seconds) that a job's start on Ray, seconds too, is not most of it.
    "mlp_16_64_64_4 batch 32": (16, (64, 64), 4, 8192, 32, 64),
    f"mlp_{FEATURES}_{HIDDEN}_{CLASSES} batch 128": (FEATURES, (HIDDEN,), CLASSES, 12_800, 128, 8),
}


def bench_spec(name: str, epoch_factor: int = 1) -> TrainingSpec:
    """A job's build (module level, so it pickles by reference to a Ray worker): ``name``'s job,
    ``epoch_factor`` times as many epochs."""
    features, hidden, classes, samples, batch_size, epochs = SHAPES[name]
    epochs *= epoch_factor
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(samples, features)).astype(np.float32), rng.integers(0, classes, samples)
    trainer.set_random_seed(0)
    stack = [trainer.Input(shape=(features,)), *(Dense(size, activation="relu") for size in hidden)]
    model = trainer.Sequential([*stack, Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return TrainingSpec(model, x, y, epochs=epochs, batch_size=batch_size)
