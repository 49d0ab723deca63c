"""Checks of the built-in callbacks' constructor arguments, with errors naming the callback and the argument."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from trainer.lookup import unknown_name_message

__all__ = ["choice", "count", "flag", "number"]


def count(owner: str, name: str, value: object) -> int:
    """A non-negative integer, such as a patience or a verbosity."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{owner}: {name} must be a non-negative integer; got {value!r}")
    return int(value)


def number(owner: str, name: str, value: object, *, minimum: float | None = None, below: float | None = None) -> float:
    """A finite real number, at least ``minimum`` and less than ``below`` when they are given."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number; got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} must be at least {minimum}; got {value!r}")
    if below is not None and value >= below:
        raise ValueError(f"{owner}: {name} must be less than {below}; got {value!r}")
    return float(value)


def flag(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False; got {value!r}")
    return bool(value)


def choice(owner: str, name: str, value: object, choices: Sequence[str]) -> str:
    """One of ``choices``; a miss suggests the nearest."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: {unknown_name_message(name, str(value), list(choices))}")
    return value
