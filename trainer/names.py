"""Automatic object names, unique within the process as Keras makes them: dense, dense_1, ..."""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["unique_name", "snake_case"]

_used: Counter[str] = Counter()


def snake_case(class_name: str) -> str:
    """`Dense` -> `dense`, `InputLayer` -> `input_layer`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name).lower()


def unique_name(base: str) -> str:
    """`base` the first time, then `base_1`, `base_2`, ..."""
    count = _used[base]
    _used[base] += 1
    return base if count == 0 else f"{base}_{count}"
