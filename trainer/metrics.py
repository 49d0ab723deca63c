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

from trainer.float32_rounding import to_float32
from trainer.lookup import lookup
from trainer.losses import mean_absolute_error, mean_squared_error

__all__ = [
    "Metric",
    "Mean",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "AUC",
    "Precision",
    "Recall",
    "RootMeanSquaredError",
    "F1Score",
    "TopKCategoricalAccuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
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

    def _logs_value(self) -> float:
        """``float(self.result())``, what ``logs`` hold, made at every batch someone listens to."""
        return float(self.result())

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
        # Python floats holding float32 values, updated with float32 rounding (trainer.float32_rounding):
        # Keras's float32 totals, bit for bit, without a numpy scalar operation at every step.
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values: Any, sample_weight: Any = None) -> None:  # type: ignore[override]
        values = np.asarray(values, dtype=np.float32)
        if sample_weight is None:
            self.add(values.sum(dtype=np.float32), values.size)
        else:
            weights = np.broadcast_to(np.asarray(sample_weight, dtype=np.float32), values.shape)
            self.add((values * weights).sum(dtype=np.float32), weights.sum(dtype=np.float32))

    def add(self, weighted_total: float | np.floating, weight: float | np.floating) -> None:
        """Add a pre-weighted total (rounded to float32 first) and its weight."""
        self.total = to_float32(self.total + to_float32(float(weighted_total)))
        self.count = to_float32(self.count + to_float32(float(weight)))

    def add_weighted(self, value: float | np.floating, weight: int) -> None:
        """Add ``value * weight`` (their float32 product) and ``weight``: the engine's call at every
        step, Keras's loss tracker fed the batch's mean loss weighted by the batch size."""
        self.total = to_float32(self.total + to_float32(float(value) * weight))
        self.count = to_float32(self.count + weight)

    def result(self) -> np.float32:
        return np.float32(self.total / self.count) if self.count else np.float32(0)

    def _logs_value(self) -> float:
        if type(self).result is not Mean.result:  # a subclass's own result() is what its logs hold
            return float(self.result())
        # The same float32 quotient as result(), without a numpy scalar (see reset_state).
        return to_float32(self.total / self.count) if self.count else 0.0


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


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """Per-sample 1.0 where the one-hot label's class scores among the `k` highest (ties count), else 0.0."""
    y_pred = np.asarray(y_pred, np.float32)
    if k > y_pred.shape[-1]:
        raise ValueError(f"top-{k} accuracy needs at least {k} classes; the predictions have {y_pred.shape[-1]}.")
    target = np.take_along_axis(y_pred, np.argmax(y_true, axis=-1)[:, None], axis=-1)
    kth = -np.partition(-y_pred, k - 1, axis=-1)[:, k - 1 : k]
    matches: np.ndarray = (target >= kth)[:, 0].astype(np.float32)
    return matches


def _positive_int(owner: str, argument: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner} `{argument}` must be a positive integer, got {value!r}.")
    return int(value)


def _thresholds(owner: str, value: Any, default: float) -> tuple[list[float], bool]:
    """The thresholds as a list, and whether one number was given (so the result is a scalar)."""
    if value is None:
        return [default], True
    single = isinstance(value, (int, float)) and not isinstance(value, bool)
    values = [value] if single else value
    if not isinstance(values, (list, tuple)) or not values or not all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1 for t in values
    ):
        raise ValueError(f"{owner} `thresholds` must be a number in [0, 1] or a list of them, got {value!r}.")
    return [float(t) for t in values], single


def _entry_weights(sample_weight: Any, shape: tuple[int, ...]) -> np.ndarray:
    """One weight per prediction entry: a per-sample weight repeated along the other axes."""
    if sample_weight is None:
        return np.ones(shape, np.float32)
    weights = np.asarray(sample_weight, np.float32)
    weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
    return np.broadcast_to(weights, shape)


def _positives_above(
    y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted (tp, fp, tn, fn) at each threshold (prediction > threshold is positive), summed over
    the first axis of 2-d inputs: shape (thresholds, columns)."""
    count = len(thresholds)
    above = np.searchsorted(thresholds, y_pred, side="left")  # how many thresholds each prediction exceeds
    positive = y_true > 0.5
    columns = y_pred.shape[1]
    offsets = above + (count + 1) * np.arange(columns)
    totals = []
    for mask in (positive, ~positive):
        binned = np.bincount(offsets[mask], weights[mask], minlength=(count + 1) * columns)
        binned = binned.reshape(columns, count + 1).T
        totals.append(np.cumsum(binned[::-1], axis=0)[::-1][1:])  # weight exceeding threshold i
    tp, fp = totals
    true_total = np.where(positive, weights, 0).sum(axis=0)
    false_total = np.where(positive, 0, weights).sum(axis=0)
    return tp, fp, false_total - fp, true_total - tp


def _shaped_like(owner: str, y_true: Any, y_pred: np.ndarray) -> np.ndarray:
    """`y_true` as float32 of `y_pred`'s shape: these metrics take binary or one-hot labels, not class indices."""
    labels = np.asarray(y_true, np.float32)
    if labels.size != y_pred.size:
        raise ValueError(
            f"{owner} takes labels shaped like the predictions {y_pred.shape} (binary or one-hot), "
            f"got shape {labels.shape}; for integer class labels one-hot encode them first."
        )
    return labels.reshape(y_pred.shape)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (Keras's divide_no_nan)."""
    safe = np.where(denominator == 0, 1, denominator)
    result: np.ndarray = np.where(denominator == 0, 0, numerator / safe)
    return result


class _ConfusionCounts(Metric):
    """Weighted true/false positives/negatives at some thresholds, over every prediction entry."""

    def __init__(
        self, thresholds: Any, default: float, top_k: int | None, class_id: int | None, name: str
    ) -> None:
        owner = type(self).__name__
        super().__init__(name)
        self.init_thresholds = thresholds
        self.thresholds, self._single = _thresholds(owner, thresholds, default)
        self.top_k = None if top_k is None else _positive_int(owner, "top_k", top_k)
        if class_id is not None and (isinstance(class_id, bool) or not isinstance(class_id, (int, np.integer)) or class_id < 0):
            raise ValueError(f"{owner} `class_id` must be a non-negative integer, got {class_id!r}.")
        self.class_id = class_id
        self.reset_state()

    @property
    def scalar(self) -> bool:
        """Whether `result()` is one number (one threshold) rather than one per threshold."""
        return self._single

    def reset_state(self) -> None:
        size = len(self.thresholds)
        self.true_positives = np.zeros(size, np.float32)
        self.false_positives = np.zeros(size, np.float32)
        self.true_negatives = np.zeros(size, np.float32)
        self.false_negatives = np.zeros(size, np.float32)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = np.array(y_pred, np.float32, ndmin=2)
        y_true = _shaped_like(type(self).__name__, y_true, y_pred)
        weights = _entry_weights(sample_weight, y_pred.shape)
        if self.top_k is not None:
            if self.top_k > y_pred.shape[-1]:
                raise ValueError(f"{type(self).__name__}(top_k={self.top_k}) needs at least that many classes, "
                                 f"got predictions of shape {y_pred.shape}.")
            kth = -np.partition(-y_pred, self.top_k - 1, axis=-1)[..., self.top_k - 1 : self.top_k]
            y_pred = np.where(y_pred >= kth, y_pred, -np.inf).astype(np.float32)
        if self.class_id is not None:
            y_true, y_pred, weights = (a[..., self.class_id] for a in (y_true, y_pred, weights))
        counts = _positives_above(
            y_true.reshape(-1, 1), y_pred.reshape(-1, 1), weights.reshape(-1, 1), np.asarray(self.thresholds, np.float32)
        )
        for total, batch in zip(
            (self.true_positives, self.false_positives, self.true_negatives, self.false_negatives), counts
        ):
            total += batch[:, 0].astype(np.float32)

    def _shaped(self, values: np.ndarray) -> Any:
        return np.float32(values[0]) if self._single else values.astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "thresholds": self.init_thresholds, "top_k": self.top_k, "class_id": self.class_id}


class Precision(_ConfusionCounts):
    """tp / (tp + fp) over every prediction entry, a prediction above `thresholds` (default 0.5) being
    positive; with `top_k`, only each row's k highest can be; with `class_id`, only that column counts.
    A list of thresholds gives one precision per threshold."""

    def __init__(
        self, thresholds: Any = None, top_k: int | None = None, class_id: int | None = None, name: str = "precision"
    ) -> None:
        super().__init__(thresholds, 0.5, top_k, class_id, name)

    def result(self) -> Any:
        return self._shaped(_divide(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ConfusionCounts):
    """tp / (tp + fn), counted as Precision counts."""

    def __init__(
        self, thresholds: Any = None, top_k: int | None = None, class_id: int | None = None, name: str = "recall"
    ) -> None:
        super().__init__(thresholds, 0.5, top_k, class_id, name)

    def result(self) -> Any:
        return self._shaped(_divide(self.true_positives, self.true_positives + self.false_negatives))


_AUC_EPSILON = 1e-7  # Keras's backend.epsilon(): the end thresholds lie just outside [0, 1]


class AUC(Metric):
    """Area under the ROC or precision-recall curve, from confusion counts at `num_thresholds`
    evenly spaced thresholds (or the given `thresholds`), with Keras 3's summation methods:
    "interpolation" (trapezoids; for PR, Davis & Goadrich's interpolation), "minoring", "majoring".

    `multi_label`: one curve per label column, their areas averaged (weighted by `label_weights`);
    otherwise every entry counts towards one curve. `from_logits`: predictions pass a sigmoid first.
    """

    def __init__(
        self,
        num_thresholds: int = 200,
        curve: str = "ROC",
        summation_method: str = "interpolation",
        name: str = "auc",
        thresholds: list[float] | None = None,
        multi_label: bool = False,
        num_labels: int | None = None,
        label_weights: list[float] | None = None,
        from_logits: bool = False,
    ) -> None:
        super().__init__(name)
        if not isinstance(curve, str) or curve.upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC `curve` must be 'ROC' or 'PR', got {curve!r}.")
        if not isinstance(summation_method, str) or summation_method.lower() not in ("interpolation", "minoring", "majoring"):
            raise ValueError(
                f"AUC `summation_method` must be 'interpolation', 'minoring' or 'majoring', got {summation_method!r}."
            )
        if thresholds is not None:
            inner, _ = _thresholds("AUC", list(thresholds), 0.5)
            inner = sorted(inner)
            self.num_thresholds = len(inner) + 2
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(f"AUC `num_thresholds` must be an integer > 1, got {num_thresholds!r}.")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self._init_thresholds = thresholds
        self._edges = np.asarray([0.0 - _AUC_EPSILON, *inner, 1.0 + _AUC_EPSILON], np.float32)
        self.curve = curve.upper()
        self.summation_method = summation_method.lower()
        self.multi_label = bool(multi_label)
        self.num_labels = None if num_labels is None else _positive_int("AUC", "num_labels", num_labels)
        self.label_weights = None if label_weights is None else np.asarray(label_weights, np.float32)
        if self.label_weights is not None and (self.label_weights.ndim != 1 or (self.label_weights < 0).any()):
            raise ValueError(f"AUC `label_weights` must be a list of non-negative numbers, got {label_weights!r}.")
        self.from_logits = bool(from_logits)
        self.reset_state()

    @property
    def thresholds(self) -> list[float]:
        return [float(t) for t in self._edges]

    def reset_state(self) -> None:
        columns = self.num_labels if self.multi_label and self.num_labels else 1
        shape = (self.num_thresholds, columns) if self.multi_label else (self.num_thresholds, 1)
        self._counts = [np.zeros(shape, np.float32) for _ in range(4)]  # tp, fp, tn, fn
        self._fresh = True

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = np.array(y_pred, np.float32, ndmin=2)
        if self.from_logits:
            y_pred = (1 / (1 + np.exp(-y_pred))).astype(np.float32)
        y_true = _shaped_like(type(self).__name__, y_true, y_pred)
        weights = _entry_weights(sample_weight, y_pred.shape)
        if not self.multi_label:
            if self.label_weights is not None:
                weights = weights * np.broadcast_to(self.label_weights, y_pred.shape)
            y_true, y_pred, weights = y_true.reshape(-1, 1), y_pred.reshape(-1, 1), weights.reshape(-1, 1)
        else:
            y_true, y_pred = y_true.reshape(len(y_pred), -1), y_pred.reshape(len(y_pred), -1)
            weights = np.ascontiguousarray(weights).reshape(len(y_pred), -1)
            if self._fresh and self._counts[0].shape[1] != y_pred.shape[1]:
                self._counts = [np.zeros((self.num_thresholds, y_pred.shape[1]), np.float32) for _ in range(4)]
        self._fresh = False
        for total, batch in zip(self._counts, _positives_above(y_true, y_pred, weights.astype(np.float64), self._edges)):
            total += batch.astype(np.float32)

    def result(self) -> np.float32:
        tp, fp, tn, fn = (c.astype(np.float64) for c in self._counts)
        if self.curve == "PR" and self.summation_method == "interpolation":
            areas = self._interpolated_pr_area(tp, fp, fn)
        else:
            recall = _divide(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide(fp, fp + tn), recall
            else:
                x, y = recall, _divide(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            areas = ((x[:-1] - x[1:]) * heights).sum(axis=0)
        if not self.multi_label:
            return np.float32(areas.sum())
        if self.label_weights is None:
            return np.float32(areas.mean())
        return np.float32(np.sum(areas * self.label_weights) / max(float(np.sum(self.label_weights)), 1e-30))

    @staticmethod
    def _interpolated_pr_area(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        """Davis & Goadrich's interpolation: precision varies as tp / p with tp and p linear in between."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increments = _divide(slope * (dtp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))
        result: np.ndarray = increments.sum(axis=0)
        return result

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "thresholds": self._init_thresholds,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
            "from_logits": self.from_logits,
        }


class RootMeanSquaredError(MeanSquaredError):
    """sqrt of the running mean of the per-sample mean squared error."""

    def __init__(self, name: str = "root_mean_squared_error") -> None:
        super().__init__(name=name)

    def result(self) -> np.float32:
        return np.float32(np.sqrt(super().result()))


class F1Score(Metric):
    """2 precision recall / (precision + recall) per class (the last axis), from running weighted counts.

    A prediction is positive above `threshold`; with `threshold=None`, each row's highest prediction
    (ties included, zeros never) is. `average`: None (one score per class), "micro" (counts pooled over
    classes), "macro" (the mean of the class scores), "weighted" (weighted by each class's true count).
    """

    def __init__(self, average: str | None = None, threshold: float | None = None, name: str = "f1_score") -> None:
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"F1Score `average` must be None, 'micro', 'macro' or 'weighted', got {average!r}.")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1
        ):
            raise ValueError(f"F1Score `threshold` must be a number in (0, 1] or None, got {threshold!r}.")
        super().__init__(name)
        self.average = average
        self.threshold = None if threshold is None else float(threshold)
        self.reset_state()

    @property
    def scalar(self) -> bool:
        """Whether `result()` is one number: with `average=None` it is one per class."""
        return self.average is not None

    def reset_state(self) -> None:
        self._counts: list[np.ndarray] | None = None  # tp, fp, fn, true weight; sized at the first batch

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = np.array(y_pred, np.float32, ndmin=2)
        y_true = _shaped_like(type(self).__name__, y_true, y_pred)
        if self.threshold is None:
            predicted = (y_pred >= y_pred.max(axis=-1, keepdims=True)) & (np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        positive = predicted.astype(np.float32)
        weights = np.float32(1) if sample_weight is None else np.asarray(sample_weight, np.float32).reshape(-1, 1)
        axis = None if self.average == "micro" else 0
        batch = [
            (values * weights).sum(axis=axis, dtype=np.float32)
            for values in (positive * y_true, positive * (1 - y_true), (1 - positive) * y_true, y_true)
        ]
        if self._counts is None:
            self._counts = [np.zeros(np.shape(b), np.float32) for b in batch]
        for total, value in zip(self._counts, batch):
            total += value

    def result(self) -> Any:
        if self._counts is None:
            return np.float32(0)
        tp, fp, fn, true_weight = self._counts
        epsilon = np.float32(1e-7)
        precision = tp / (tp + fp + epsilon)
        recall = tp / (tp + fn + epsilon)
        f1 = np.float32(2) * (precision * recall) / (precision + recall + epsilon)
        if self.average == "weighted":
            return np.float32(np.sum(f1 * (true_weight / (np.sum(true_weight) + epsilon))))
        if self.average is not None:
            return np.float32(np.mean(f1))
        return f1.astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "average": self.average, "threshold": self.threshold}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the `k` highest predictions (ties count)."""

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy") -> None:
        super().__init__(top_k_categorical_accuracy, name=name, k=_positive_int("TopKCategoricalAccuracy", "k", k))
        self.k = int(k)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "k": self.k}


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
    **{
        name: cls
        for cls in (AUC, Precision, Recall, RootMeanSquaredError, F1Score, TopKCategoricalAccuracy)
        for name in (cls.__name__, cls().name)
    },
}
_CLASS_OF_FUNCTION: dict[Callable[..., np.ndarray], Callable[[], Metric]] = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    binary_accuracy: BinaryAccuracy,
    categorical_accuracy: CategoricalAccuracy,
    sparse_categorical_accuracy: SparseCategoricalAccuracy,
    top_k_categorical_accuracy: TopKCategoricalAccuracy,
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
