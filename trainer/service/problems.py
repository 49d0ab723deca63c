"""The service's error answers: always JSON, ``{"error": ..., "details": [{"field": ..., "reason": ...}]}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["Detail", "problem"]

Detail = dict[str, Any]
"""One thing wrong with a request: ``field`` (a dotted path such as ``params.epochs``, or None) and ``reason``."""


def problem(status: int, error: str, details: Sequence[Detail] = (), headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "details": list(details)}, status_code=status, headers=headers)
