"""Job templates of a team's own, served by the tests with ``--app tests.service.templates:TEMPLATES``."""

from __future__ import annotations

import os
from typing import Annotated, Any

import numpy as np
from pydantic import Field

import trainer
from trainer.callbacks import Callback
from trainer.jobs import TrainingSpec
from trainer.layers import Dense

WEIGHTS_DIR = "TEST_WEIGHTS_DIR"  # where SavesWeights writes; the test sets it for the service


class SavesWeights(Callback):
    """Writes the model's weights when training ends, for the test to compare runs."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.model.save_weights(os.path.join(os.environ[WEIGHTS_DIR], f"{self.tag}.weights.npz"))


def regression(
    tag: Annotated[str, Field(pattern=r"^[a-z0-9]{1,16}$")],
    epochs: Annotated[int, Field(ge=1, le=200)] = 10,
    samples: Annotated[int, Field(ge=8, le=20_000)] = 2048,
    seed: int = 0,
) -> TrainingSpec:
    """A small regression, its final weights written to $TEST_WEIGHTS_DIR/<tag>.weights.npz."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 8)).astype(np.float32)
    y = (x @ rng.normal(size=(8, 1))).astype(np.float32)
    trainer.set_random_seed(seed)
    model = trainer.Sequential([trainer.Input(shape=(8,)), Dense(16, activation="tanh"), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return TrainingSpec(model, x, y, epochs=epochs, batch_size=8, callbacks=[SavesWeights(tag)])


TEMPLATES = {"regression": regression}
