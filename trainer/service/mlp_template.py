"""The built-in ``mlp`` template: a multi-layer perceptron on the digits or on synthetic data."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

import trainer
from trainer.jobs import TrainingSpec
from trainer.layers import Dense

__all__ = ["mlp"]

Activation = Literal["relu", "tanh", "sigmoid", "elu", "selu", "gelu", "leaky_relu", "softplus", "linear"]
LayerSize = Annotated[int, Field(ge=1, le=1024)]


def mlp(
    dataset: Literal["synthetic", "digits"] = "synthetic",
    layers: Annotated[tuple[LayerSize, ...], Field(min_length=1, max_length=8)] = (32,),
    activation: Activation = "relu",
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"] = "adam",
    learning_rate: Annotated[float, Field(gt=0, le=10)] = 1e-3,
    epochs: Annotated[int, Field(ge=1, le=10_000)] = 10,
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 32,
    validation_split: Annotated[float, Field(ge=0, le=0.5)] = 0.0,
    samples: Annotated[int, Field(ge=16, le=200_000, description="synthetic data only")] = 1024,
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0,
) -> TrainingSpec:
    """A multi-layer perceptron classifier: scikit-learn's handwritten digits (8x8 images, 10 classes),
    or synthetic data (16 features, 4 classes told apart by the signs of two sums)."""
    x, y = _digits() if dataset == "digits" else _synthetic(samples, seed)
    trainer.set_random_seed(seed)
    hidden = [Dense(size, activation=activation) for size in layers]
    model = trainer.Sequential([trainer.Input(shape=(x.shape[1],)), *hidden, Dense(int(y.max()) + 1, activation="softmax")])
    chosen = trainer.optimizers.get(optimizer)
    chosen.learning_rate = learning_rate
    model.compile(optimizer=chosen, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return TrainingSpec(
        model, x, y, epochs=epochs, batch_size=batch_size, fit_kwargs={"validation_split": validation_split}
    )


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    # The service extra has scikit-learn; only this data set needs it.
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y


def _synthetic(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 16)).astype(np.float32)
    y = (x[:, :8].sum(axis=1) > 0).astype(np.int64) * 2 + (x[:, 8:].sum(axis=1) > 0)
    return x, y
