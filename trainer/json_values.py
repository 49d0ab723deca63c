"""Turning logs and event fields into strict JSON values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: numpy arrays and scalars become lists and numbers, mappings
    and sequences are converted through, and NaN and infinities become the strings ``"nan"``,
    ``"inf"`` and ``"-inf"`` (strict JSON has no such numbers)."""
    if isinstance(value, (np.ndarray, np.generic)):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    return value
