"""Float32 arithmetic on Python floats, bit for bit, at a fraction of numpy scalars' cost.

A numpy float32 scalar operation costs about a microsecond in the interpreter; a running mean
updated at every step makes several. A sum, difference, product or quotient of two float32 values
computed in double precision and then rounded to float32 is the correctly rounded float32 result
(double has more than twice float32's 24 significant bits plus two, so the double rounding is
innocuous), so Python floats rounded by :func:`to_float32` after each operation give exactly what
float32 arithmetic gives, overflow to infinity included.
"""

from __future__ import annotations

import math
import struct

__all__ = ["to_float32"]

_FLOAT32 = struct.Struct("f")


def to_float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (ties to even), as a Python float; beyond float32's
    range, an infinity of its sign."""
    try:
        return _FLOAT32.unpack(_FLOAT32.pack(value))[0]  # type: ignore[no-any-return]
    except OverflowError:
        return math.copysign(math.inf, value)
