"""Checking and converting user data before it reaches the numerical core.

Everything the core assumes is established here, once per call (once per `fit` for the training
loop): float32 features of the model's per-sample shape, targets shaped like the outputs (or
integer labels within range for sparse crossentropy), a sample weight per sample, and equal
lengths. Errors name the argument, what was received and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = ["DataSpec", "Batch", "validate_inputs", "validate_data", "class_weight_to_sample_weight"]


@dataclass(frozen=True)
class DataSpec:
    """What the model expects: per-sample input and output shapes, and whether labels are sparse."""

    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]
    sparse_labels: bool
    input_dtype: str = "float32"


class Batch(NamedTuple):
    """Validated arrays: float32 x; float32 y, or intp labels when sparse; float32 (n,) weights or None."""

    x: np.ndarray
    y: np.ndarray | None
    sample_weight: np.ndarray | None


def _numeric(name: str, value: Any) -> np.ndarray:
    if value is None:
        raise ValueError(f"`{name}` is required, got None.")
    try:
        array = np.asarray(value)
    except ValueError as error:
        batches = isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], (list, tuple))
        hint = "; a list of (x, y) batches? Pass a generator of them, or a PyDataset" if batches else ""
        raise ValueError(f"`{name}` must be a numeric array: {error}{hint}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be a numeric array, got dtype {array.dtype} ({type(value).__name__}).")
    if array.ndim == 0:
        raise ValueError(f"`{name}` must have a leading batch axis, got a scalar.")
    return array


def validate_inputs(x: Any, spec: DataSpec) -> np.ndarray:
    """`x` of the model's input dtype (float32 unless its Input says otherwise) whose per-sample shape fits
    the model's input; integer inputs must hold whole numbers."""
    array = _numeric("x", x)
    expected = spec.input_shape
    if len(array.shape) - 1 != len(expected) or any(e is not None and e != a for e, a in zip(expected, array.shape[1:])):
        raise ValueError(
            f"`x` has per-sample shape {array.shape[1:]} (full shape {array.shape}), "
            f"but the model's input expects per-sample shape {expected}."
        )
    if spec.input_dtype == "float32":
        return np.ascontiguousarray(array, dtype=np.float32)
    integers = np.ascontiguousarray(array, dtype=spec.input_dtype)
    if array.dtype.kind == "f" and not np.array_equal(integers, array):
        raise ValueError(f"`x` must hold whole numbers for an Input of dtype {spec.input_dtype}, got fractional values.")
    return integers


def _validate_labels(y: np.ndarray, classes: int | None) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"Sparse crossentropy takes integer class labels of shape (n,) or (n, 1), got `y` of shape {y.shape}; "
            "for one-hot targets use categorical_crossentropy."
        )
    labels = y.astype(np.intp)
    if y.dtype.kind == "f" and not np.array_equal(labels, y):
        raise ValueError("Sparse crossentropy labels must be whole numbers (class indices), got fractional values.")
    bad = (labels < 0) | (labels >= classes) if classes is not None else labels < 0
    if bad.any():
        raise ValueError(
            f"Labels must lie in [0, {classes}) for a model with {classes} output classes; "
            f"got {labels[bad][:5].tolist()} (first out-of-range values, at indices {np.flatnonzero(bad)[:5].tolist()})."
        )
    return labels


def _validate_targets(y: np.ndarray, spec: DataSpec) -> np.ndarray:
    if spec.sparse_labels:
        return _validate_labels(y, spec.output_shape[-1])
    if y.ndim == 1 and spec.output_shape == (1,):
        y = y[:, None]  # Keras treats (n,) targets of a one-unit output as (n, 1)
    expected = spec.output_shape
    if y.shape[1:] != expected:
        raise ValueError(f"`y` has per-sample shape {y.shape[1:]}, but the model's output has per-sample shape {expected}.")
    return np.ascontiguousarray(y, dtype=np.float32)


def _validate_sample_weight(sample_weight: Any, n: int) -> np.ndarray:
    weights = _numeric("sample_weight", sample_weight)
    if weights.ndim == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.shape != (n,):
        raise ValueError(f"`sample_weight` must have shape ({n},) (one weight per sample), got {weights.shape}.")
    return np.ascontiguousarray(weights, dtype=np.float32)


def class_weight_to_sample_weight(y: np.ndarray, class_weight: dict[int, float]) -> np.ndarray:
    """One weight per sample from its class (argmax of one-hot rows, else the rounded label), default 1."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"`class_weight` must be a dict mapping class index to weight, got {type(class_weight).__name__}.")
    classes = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] != 1 else np.round(y.reshape(len(y)))
    classes = classes.astype(np.int64)
    weights = np.ones(len(y), dtype=np.float32)
    for label, weight in class_weight.items():
        weights[classes == int(label)] = weight
    return weights


def validate_data(
    x: Any, y: Any, sample_weight: Any, class_weight: dict[int, float] | None, spec: DataSpec
) -> Batch:
    """Check and convert one call's data; see the module docstring for the guarantees."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError("Arguments `sample_weight` and `class_weight` cannot be specified at the same time.")
    inputs = validate_inputs(x, spec)
    targets = _numeric("y", y)
    if len(targets) != len(inputs):
        raise ValueError(
            f"`x` and `y` must have the same number of samples, got {len(inputs)} in x and {len(targets)} in y."
        )
    if class_weight is not None:
        sample_weight = class_weight_to_sample_weight(targets, class_weight)
    weights = None if sample_weight is None else _validate_sample_weight(sample_weight, len(inputs))
    return Batch(inputs, _validate_targets(targets, spec), weights)
