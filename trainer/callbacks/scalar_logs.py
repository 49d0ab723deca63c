"""The entries of ``logs`` that a time-series logger can plot: the real numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["scalar_logs"]


def scalar_logs(logs: Mapping[str, Any]) -> dict[str, float]:
    """The real-number entries of ``logs`` (Python or numpy numbers, 0-d numeric arrays) as floats,
    in their order; booleans, strings, arrays and the rest are left out."""
    scalars = {}
    for name, value in logs.items():
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            scalars[name] = float(value)
    return scalars
