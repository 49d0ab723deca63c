"""Metrics with Keras 3's names, definitions and running-mean state.

A metric accumulates over batches until `reset_state()`: `update_state` adds a batch, `result()`
gives the running mean so far as a float32 scalar. Totals are kept in float32, as Keras keeps them,
so the running means round as Keras's do.

`Mean` is also the model's loss tracker: Keras feeds it each batch's loss weighted by the batch
size, so the reported loss is the per-sample mean over the batches seen since the last reset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trainer.losses import mean_absolute_error, mean_squared_error
from trainer.lookup import lookup

__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "mse",
    "mae",
    "get",
]


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """Per-sample fraction of entries where (y_pred > threshold) equals y_true."""
    predicted = (np.asarray(y_pred) > threshold).astype(np.float32)
    matches: np.ndarray = (np.asarray(y_true, np.float32) == predicted).mean(axis=-1, dtype=np.float32)
    return matches


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample 1.0 where argmax(y_pred) equals argmax(y_true), else 0.0."""
    matches: np.ndarray = (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)
    return matches


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample 1.0 where argmax(y_pred) equals the integer label, else 0.0."""
    labels = np.asarray(y_true).reshape(len(y_pred))
    matches: np.ndarray = (labels == np.argmax(y_pred, axis=-1)).astype(np.float32)
    return matches


mse = mean_squared_error
mae = mean_absolute_error


class Metric:
    """Base class: `update_state`, `result`, `reset_state`, and a `name` used as the logs key."""

    def __init__(self, name: str) -> None:
        self.name = name

    def update_state(self, y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        raise NotImplementedError

    def result(self) -> np.float32:
        raise NotImplementedError

    def reset_state(self) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)


class Mean(Metric):
    """Weighted running mean of the values it is given: sum(v * w) / sum(w)."""

    def __init__(self, name: str = "mean") -> None:
        super().__init__(name)
        self.reset_state()

    def reset_state(self) -> None:
        self.total = np.float32(0)
        self.count = np.float32(0)

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = np.asarray(values, dtype=np.float32)
        if sample_weight is None:
            self.add(values.sum(dtype=np.float32), values.size)
        else:
            weights = np.broadcast_to(np.asarray(sample_weight, dtype=np.float32), values.shape)
            self.add((values * weights).sum(dtype=np.float32), weights.sum(dtype=np.float32))

    def add(self, weighted_total: float | np.floating, weight: float | np.floating) -> None:
        """Add a pre-weighted total and its weight: the cheap path the engine calls every batch."""
        self.total = np.float32(self.total + np.float32(weighted_total))
        self.count = np.float32(self.count + np.float32(weight))

    def result(self) -> np.float32:
        return np.float32(self.total / self.count) if self.count else np.float32(0)


class MeanMetricWrapper(Mean):
    """Running mean of a per-sample function `fn(y_true, y_pred)`, optionally sample-weighted."""

    def __init__(self, fn: Callable[..., np.ndarray], name: str | None = None, **fn_kwargs: Any) -> None:
        super().__init__(name or fn.__name__)
        self._fn = fn
        self._fn_kwargs = fn_kwargs

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        weights = None if sample_weight is None else np.asarray(sample_weight, np.float32).reshape(values.shape)
        super().update_state(values, weights)


class MeanSquaredError(MeanMetricWrapper):
    """Running mean of the per-sample mean squared error."""

    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name=name)


class MeanAbsoluteError(MeanMetricWrapper):
    """Running mean of the per-sample mean absolute error."""

    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, name=name)


class BinaryAccuracy(MeanMetricWrapper):
    """How often thresholded predictions equal binary labels."""

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5) -> None:
        super().__init__(binary_accuracy, name=name, threshold=threshold)
        self.threshold = float(threshold)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """How often the predicted class equals the one-hot label's class."""

    def __init__(self, name: str = "categorical_accuracy") -> None:
        super().__init__(categorical_accuracy, name=name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often the predicted class equals the integer label."""

    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        super().__init__(sparse_categorical_accuracy, name=name)


_BY_NAME: dict[str, Callable[[], Metric]] = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MeanSquaredError": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MeanAbsoluteError": MeanAbsoluteError,
    "binary_accuracy": BinaryAccuracy,
    "BinaryAccuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "CategoricalAccuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "SparseCategoricalAccuracy": SparseCategoricalAccuracy,
}
_CLASS_OF_FUNCTION: dict[Callable[..., np.ndarray], Callable[[], Metric]] = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    binary_accuracy: BinaryAccuracy,
    categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy,
}
ACCURACY_NAMES = ("accuracy", "acc")


def get(identifier: str | Metric | Callable[..., np.ndarray]) -> Metric:
    """Resolve a name, a Metric, or a function, to a fresh or given Metric.

    A function ``fn(y_true, y_pred)`` returning per-sample values (one of this module's, or the user's)
    becomes the running mean of those values, named ``fn.__name__``, as Keras wraps it.

    A name keeps that name as its logs key ("mae" logs as "mae"), as Keras's compile does.
    "accuracy"/"acc" depend on the data: the model resolves them with `resolve_accuracy`.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        metric = lookup("metric", identifier, _BY_NAME)()
        metric.name = identifier
        return metric
    if identifier in _CLASS_OF_FUNCTION:
        return _CLASS_OF_FUNCTION[identifier]()
    if isinstance(identifier, type):
        raise TypeError(f"A metric must be a name, a Metric instance or a function; got the class {identifier.__name__} (call it: {identifier.__name__}()).")
    if callable(identifier):
        # As Keras: any function (y_true, y_pred) -> per-sample values is the running mean of its values.
        return MeanMetricWrapper(identifier)
    raise TypeError(f"A metric must be a name, a trainer.metrics.Metric or a function (y_true, y_pred) -> values, got {identifier!r}.")


def resolve_accuracy(name: str, y_true_shape: tuple[int, ...], y_pred_shape: tuple[int | None, ...]) -> Metric:
    """Pick binary, sparse categorical or categorical accuracy from the shapes, as Keras does.

    `y_pred_shape` is a model's output shape: its batch dimension may be None, never its last.
    """
    classes = y_pred_shape[-1]
    assert classes is not None
    if classes == 1:
        return BinaryAccuracy(name=name)
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and classes > 1):
        return SparseCategoricalAccuracy(name=name)
    return CategoricalAccuracy(name=name)
