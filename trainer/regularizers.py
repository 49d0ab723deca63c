"""Weight regularizers (L1, L2, L1L2) with Keras 3's definitions.

`regularizer(w)` is the penalty added to the loss (no factor 1/2 on L2, as in Keras);
`regularizer.gradient(w)` is its derivative, which the layers add to the weight's gradient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trainer.lookup import lookup

__all__ = ["Regularizer", "L1L2", "L1", "L2", "get"]


def _factor(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Regularizer factor `{name}` must be a finite non-negative number, got {value!r}.")
    return float(value)


class Regularizer:
    """Base class: `__call__(w) -> float32 penalty`, `gradient(w) -> float32 array like w`."""

    def __call__(self, weight: np.ndarray) -> np.float32:
        raise NotImplementedError

    def gradient(self, weight: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)


class L1L2(Regularizer):
    """l1 * sum(|w|) + l2 * sum(w**2)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("l1", l1)
        self.l2 = _factor("l2", l2)

    def __call__(self, weight: np.ndarray) -> np.float32:
        penalty = np.float32(0)
        if self.l1:
            penalty += np.float32(self.l1) * np.abs(weight).sum()
        if self.l2:
            penalty += np.float32(self.l2) * np.square(weight).sum()
        return np.float32(penalty)

    def gradient(self, weight: np.ndarray) -> np.ndarray:
        grad = np.zeros_like(weight)
        if self.l1:
            grad += np.float32(self.l1) * np.sign(weight)
        if self.l2:
            grad += np.float32(2 * self.l2) * weight
        return grad

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|w|)."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=l1)

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """l2 * sum(w**2)."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=l2)

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


_BY_NAME: dict[str, type[Regularizer]] = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier: str | Regularizer | None) -> Regularizer | None:
    """Resolve None, a name (`"l1"`, `"l2"`, `"l1_l2"`) or a Regularizer instance."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("regularizer", identifier, _BY_NAME)()
    raise TypeError(f"A regularizer must be None, a name or a trainer.regularizers.Regularizer, got {identifier!r}.")
