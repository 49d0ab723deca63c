"""Automatic object names, unique within the process as Keras makes them: dense, dense_1, ..."""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["unique_name", "snake_case"]

_used: Counter[str] = Counter()


def snake_case(class_name: str) -> str:
    """`Dense` -> `dense`, `InputLayer` -> `input_layer`, `Conv2D` -> `conv2d`, `AUC` -> `auc`, as Keras's
    `to_snake_case`: an underscore before each capitalised word, and between a lower-case letter and a capital."""
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()


def unique_name(base: str) -> str:
    """`base` the first time, then `base_1`, `base_2`, ..."""
    count = _used[base]
    _used[base] += 1
    return base if count == 0 else f"{base}_{count}"
