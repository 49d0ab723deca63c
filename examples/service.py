"""Serve your own job templates: a team's models, trained by the service, their parameters its API.

    python -m pip install -e ".[service]" && python examples/service.py --workdir my-service
    # or, the same: python -m trainer.service --workdir my-service --app examples.service:TEMPLATES

A template is a function whose type-hinted parameters are the request schema (validated, with a 422
per bad field, and published in /openapi.json); it returns a TrainingSpec: a compiled model, its data
and its fit arguments. The service adds BackupAndRestore, so a cancelled, failed or interrupted job
trains on from its last epoch.

    curl -H "Authorization: Bearer $(cat my-service/token)" -H 'content-type: application/json' \
         -d '{"template": "digits", "params": {"hidden": [64, 32], "epochs": 30}}' localhost:8000/jobs
"""

from __future__ import annotations

import sys
from typing import Annotated

import numpy as np
from pydantic import Field
from sklearn.datasets import load_digits

import trainer
from trainer.callbacks import EarlyStopping
from trainer.jobs import TrainingSpec
from trainer.layers import Dense, Dropout
from trainer.service.cli import main


def digits(
    hidden: Annotated[tuple[Annotated[int, Field(ge=8, le=512)], ...], Field(min_length=1, max_length=4)] = (64,),
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1,
    epochs: Annotated[int, Field(ge=1, le=500)] = 50,
    patience: Annotated[int, Field(ge=1, le=50)] = 5,
    seed: int = 0,
) -> TrainingSpec:
    """An MLP on the handwritten digits (8x8 images, 10 classes), stopped early on validation loss."""
    x, y = load_digits(return_X_y=True)
    trainer.set_random_seed(seed)
    layers = [layer for size in hidden for layer in (Dense(size, activation="relu"), Dropout(dropout))]
    model = trainer.Sequential([trainer.Input(shape=(64,)), *layers, Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    stop = EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    return TrainingSpec(
        model, (x / 16.0).astype(np.float32), y, epochs=epochs, batch_size=32,
        callbacks=[stop], fit_kwargs={"validation_split": 0.2},
    )  # fmt: skip


TEMPLATES = {"digits": digits}

if __name__ == "__main__":
    main(["--app", "__main__:TEMPLATES", *sys.argv[1:]])
