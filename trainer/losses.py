"""Losses with Keras 3's names, definitions, probability clipping and reductions.

A loss maps `(y_true, y_pred)` to one float32 value per sample (`call`), then reduces them,
weighted by `sample_weight`, to a scalar (`__call__`). The default reduction,
"sum_over_batch_size", is the weighted sum divided by the number of samples.

For backprop each loss also gives `gradient(y_true, y_pred)`: d(per-sample value)/d(y_pred),
row by row. The crossentropies on probabilities also give `softmax_gradient`, the gradient with
respect to the logits of a softmax output: algebraically the same chain, in fewer operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trainer.activations import sigmoid
from trainer.lookup import lookup

__all__ = [
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "mse",
    "mae",
    "get",
    "EPSILON",
]

EPSILON = np.float32(1e-7)  # keras.config.epsilon(): probabilities are clipped to [EPSILON, 1 - EPSILON]
_ONE_MINUS_EPSILON = np.float32(1) - EPSILON
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none")


class Loss:
    """Base class. Subclasses define `call` and `gradient` on float32 arrays."""

    sparse_labels = False
    """True when `y_true` holds class indices rather than arrays shaped like `y_pred`."""

    fuses_softmax = False
    """True when `softmax_gradient` is available (a crossentropy on probabilities)."""

    def __init__(self, name: str, reduction: str = "sum_over_batch_size") -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"Unknown reduction {reduction!r}; expected one of {', '.join(REDUCTIONS)}.")
        self.name = name
        self.reduction = reduction

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> np.ndarray | np.float32:
        """The reduced loss (a float32 scalar, or per-sample values for reduction "none")."""
        y_pred = np.asarray(y_pred, dtype=np.float32)
        y_true = np.asarray(y_true, dtype=np.int64 if self.sparse_labels else np.float32)
        values = self.call(y_true, y_pred)
        weights = None if sample_weight is None else np.asarray(sample_weight, np.float32).reshape(values.shape)
        if self.reduction == "none":
            return values if weights is None else values * weights
        return reduce_values(values, weights, self.reduction)

    def call(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def softmax_gradient(self, y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
        """d(per-sample value)/d(logits) when y_pred = softmax(logits); only where `fuses_softmax`."""
        raise NotImplementedError(f"{type(self).__name__} does not fuse with softmax.")

    def softmax_values_and_gradient(self, y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``call`` and ``softmax_gradient`` at once (the training step's need), the same numbers; a loss
        may share their common work."""
        return self.call(y_true, probs), self.softmax_gradient(y_true, probs)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


def reduce_values(values: np.ndarray, sample_weight: np.ndarray | None, reduction: str) -> np.float32:
    """Weight the per-sample values and reduce them to one float32 scalar, as Keras does."""
    weighted = values if sample_weight is None else values * sample_weight
    total = np.add.reduce(weighted, axis=None, dtype=np.float32)
    if reduction == "sum":
        return np.float32(total)
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = sample_weight.sum(dtype=np.float32)
    else:
        divisor = np.float32(values.size)
    return np.float32(total / divisor) if divisor else np.float32(0)


def reduction_weights(sample_weight: np.ndarray | None, n: int, reduction: str) -> np.ndarray | np.float32:
    """d(reduced loss)/d(per-sample value): what `reduce_values` multiplies each value by."""
    if reduction == "sum":
        return np.float32(1) if sample_weight is None else sample_weight
    divisor: np.float32
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = sample_weight.sum(dtype=np.float32)
    else:
        divisor = np.float32(n)
    if not divisor:
        return np.float32(0)
    return np.float32(1) / divisor if sample_weight is None else sample_weight / divisor


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)**2) over the last axis."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "mean_squared_error") -> None:
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        values: np.ndarray = np.square(y_pred - y_true).mean(axis=-1)
        return values

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        grad: np.ndarray = (y_pred - y_true) * np.float32(2 / y_pred.shape[-1])
        return grad


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|) over the last axis."""

    def __init__(self, reduction: str = "sum_over_batch_size", name: str = "mean_absolute_error") -> None:
        super().__init__(name=name, reduction=reduction)

    def call(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        values: np.ndarray = np.abs(y_pred - y_true).mean(axis=-1)
        return values

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        grad: np.ndarray = np.sign(y_pred - y_true) * np.float32(1 / y_pred.shape[-1])
        return grad


class Huber(Loss):
    """Quadratic for |error| <= delta, linear beyond; mean over the last axis."""

    def __init__(self, delta: float = 1.0, name: str = "huber_loss", reduction: str = "sum_over_batch_size") -> None:
        super().__init__(name=name, reduction=reduction)
        self.delta = float(delta)

    def call(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        error = y_pred - y_true
        abs_error = np.abs(error)
        delta = np.float32(self.delta)
        quadratic = np.float32(0.5) * np.square(error)
        linear = delta * abs_error - np.float32(0.5) * delta * delta
        values: np.ndarray = np.where(abs_error <= delta, quadratic, linear).mean(axis=-1)
        return values

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        error = y_pred - y_true
        delta = np.float32(self.delta)
        grad: np.ndarray = np.where(np.abs(error) <= delta, error, delta * np.sign(error)) * np.float32(1 / y_pred.shape[-1])
        return grad

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


class BinaryCrossentropy(Loss):
    """Elementwise binary crossentropy, mean over the last axis; probabilities clipped unless from_logits."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        name: str = "binary_crossentropy",
        reduction: str = "sum_over_batch_size",
    ) -> None:
        super().__init__(name=name, reduction=reduction)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def _smoothed(self, y_true: np.ndarray) -> np.ndarray:
        if not self.label_smoothing:
            return y_true
        return y_true * np.float32(1 - self.label_smoothing) + np.float32(0.5 * self.label_smoothing)

    def call(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        target = self._smoothed(y_true)
        if self.from_logits:
            elementwise = np.maximum(y_pred, 0) - y_pred * target + np.log1p(np.exp(-np.abs(y_pred)))
        else:
            p = np.clip(y_pred, EPSILON, _ONE_MINUS_EPSILON)
            elementwise = -(target * np.log(p) + (1 - target) * np.log(1 - p))
        values: np.ndarray = elementwise.mean(axis=-1)
        return values

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        target = self._smoothed(y_true)
        scale = np.float32(1 / y_pred.shape[-1])
        grad: np.ndarray
        if self.from_logits:
            grad = (sigmoid(y_pred) - target) * scale
            return grad
        p = np.clip(y_pred, EPSILON, _ONE_MINUS_EPSILON)
        unclipped = (y_pred >= EPSILON) & (y_pred <= _ONE_MINUS_EPSILON)
        grad = (p - target) / (p * (1 - p)) * unclipped * scale
        return grad

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    """-sum(y_true * log(p)) over the last axis, with p = y_pred normalised and clipped unless from_logits."""

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        name: str = "categorical_crossentropy",
        reduction: str = "sum_over_batch_size",
    ) -> None:
        super().__init__(name=name, reduction=reduction)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.fuses_softmax = not self.from_logits

    def _smoothed(self, y_true: np.ndarray) -> np.ndarray:
        if not self.label_smoothing:
            return y_true
        classes = y_true.shape[-1]
        return y_true * np.float32(1 - self.label_smoothing) + np.float32(self.label_smoothing / classes)

    def call(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        target = self._smoothed(y_true)
        values: np.ndarray
        if self.from_logits:
            values = -(target * _log_softmax(y_pred)).sum(axis=-1)
            return values
        q = _normalised(y_pred)
        values = -(target * np.log(np.clip(q, EPSILON, _ONE_MINUS_EPSILON))).sum(axis=-1)
        return values

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        target = self._smoothed(y_true)
        grad: np.ndarray
        if self.from_logits:
            grad = _softmax(y_pred) * target.sum(axis=-1, keepdims=True) - target
            return grad
        total = y_pred.sum(axis=-1, keepdims=True)
        q = y_pred / total
        grad_q = -target / np.clip(q, EPSILON, _ONE_MINUS_EPSILON) * _inside_clip(q)
        # Through q = p / sum(p): dL/dp_k = (g_k - sum_j g_j q_j) / sum(p).
        grad = (grad_q - (grad_q * q).sum(axis=-1, keepdims=True)) / total
        return grad

    def softmax_gradient(self, y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
        # With p = softmax(z) the chain collapses to dL/dz = q * sum(t * m) - t * m, where m masks
        # the clipped entries (whose gradient is zero) and q = p / sum(p).
        target = self._smoothed(y_true)
        q = probs / probs.sum(axis=-1, keepdims=True)
        live_target = target * _inside_clip(q)
        grad: np.ndarray = q * live_target.sum(axis=-1, keepdims=True) - live_target
        return grad

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(Loss):
    """-log(p[label]) with integer labels, p normalised and clipped unless from_logits."""

    sparse_labels = True

    def __init__(
        self,
        from_logits: bool = False,
        name: str = "sparse_categorical_crossentropy",
        reduction: str = "sum_over_batch_size",
    ) -> None:
        super().__init__(name=name, reduction=reduction)
        self.from_logits = bool(from_logits)
        self.fuses_softmax = not self.from_logits

    def call(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        labels = _labels(y_true)
        rows = np.arange(len(labels))
        values: np.ndarray
        if self.from_logits:
            values = -_log_softmax(y_pred)[rows, labels]
            return values
        picked = y_pred[rows, labels] / np.add.reduce(y_pred, axis=-1)
        values = -np.log(_clipped(picked))
        return values

    def gradient(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        labels = _labels(y_true)
        rows = np.arange(len(labels))
        if self.from_logits:
            grad = _softmax(y_pred)
            grad[rows, labels] -= 1
            return grad
        total = y_pred.sum(axis=-1)
        picked = y_pred[rows, labels]
        live = _inside_clip(picked / total)
        # d(-log(p_y / s))/dp_k = -[k == y] / p_y + 1 / s, where the clip is inactive.
        grad = np.empty_like(y_pred)
        grad[...] = (live / total)[:, None]
        grad[rows, labels] -= live / picked
        return grad

    def softmax_gradient(self, y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
        return self.softmax_values_and_gradient(y_true, probs)[1]

    def softmax_values_and_gradient(self, y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels = _labels(y_true)
        rows = np.arange(len(labels))
        total = np.add.reduce(probs, axis=-1, keepdims=True)
        picked = probs[rows, labels] / total[:, 0]
        live = _inside_clip(picked)
        grad: np.ndarray = probs * (live[:, None] / total)
        grad[rows, labels] -= live
        return -np.log(_clipped(picked)), grad

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


def _labels(y_true: np.ndarray) -> np.ndarray:
    labels = y_true if y_true.ndim == 1 else y_true.reshape(len(y_true))  # reshape costs even when it is a no-op
    return labels if labels.dtype.kind in "iu" else labels.astype(np.intp)


def _clipped(q: np.ndarray) -> np.ndarray:
    """``np.clip(q, EPSILON, 1 - EPSILON)`` as two ufunc calls: np.clip's Python layers cost more than
    the clipping on a batch of a small model."""
    clipped: np.ndarray = np.minimum(np.maximum(q, EPSILON), _ONE_MINUS_EPSILON)
    return clipped


def _inside_clip(q: np.ndarray) -> np.ndarray:
    """1 where EPSILON <= q <= 1 - EPSILON (the clip passes the gradient), else 0."""
    return ((q >= EPSILON) & (q <= _ONE_MINUS_EPSILON)).astype(np.float32)


def _normalised(y_pred: np.ndarray) -> np.ndarray:
    q: np.ndarray = y_pred / y_pred.sum(axis=-1, keepdims=True)
    return q


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return log_probs


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return probs


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample mean squared error."""
    return MeanSquaredError().call(np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32))


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per-sample mean absolute error."""
    return MeanAbsoluteError().call(np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32))


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> np.ndarray:
    """Per-sample Huber loss."""
    return Huber(delta=delta).call(np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32))


def binary_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> np.ndarray:
    """Per-sample binary crossentropy."""
    loss = BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    return loss.call(np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32))


def categorical_crossentropy(
    y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0
) -> np.ndarray:
    """Per-sample categorical crossentropy."""
    loss = CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    return loss.call(np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32))


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> np.ndarray:
    """Per-sample sparse categorical crossentropy."""
    loss = SparseCategoricalCrossentropy(from_logits=from_logits)
    return loss.call(np.asarray(y_true, np.int64), np.asarray(y_pred, np.float32))


mse = mean_squared_error
mae = mean_absolute_error

_BY_NAME: dict[str, Callable[[], Loss]] = {
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MeanSquaredError": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MeanAbsoluteError": MeanAbsoluteError,
    "huber": Huber,
    "Huber": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "BinaryCrossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "CategoricalCrossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "SparseCategoricalCrossentropy": SparseCategoricalCrossentropy,
}
_CLASS_OF_FUNCTION: dict[Callable[..., np.ndarray], Callable[[], Loss]] = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}
CLASSES = (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)


def get(identifier: str | Loss | Callable[..., np.ndarray]) -> Loss:
    """Resolve a name (`"mse"`, `"CategoricalCrossentropy"`), a Loss, or one of this module's functions.

    Unlike Keras, a name always resolves to a Loss instance: the engine needs its gradient.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        return lookup("loss", identifier, _BY_NAME)()
    if identifier in _CLASS_OF_FUNCTION:
        return _CLASS_OF_FUNCTION[identifier]()
    if callable(identifier) and not isinstance(identifier, type):
        raise TypeError(
            f"loss={getattr(identifier, '__name__', identifier)!r} is a plain function; this engine cannot train "
            "with it, because it has no gradient to follow (numpy cannot derive one, as Keras's backends do). "
            "Subclass trainer.losses.Loss instead, with call(y_true, y_pred) -> per-sample values and "
            "gradient(y_true, y_pred) -> their derivative with respect to y_pred (see the README, "
            "'Your own loss and metrics'); or pass a name such as 'mse'."
        )
    raise TypeError(
        f"loss must be a name, a trainer.losses.Loss or a function from trainer.losses, got {identifier!r}."
    )
