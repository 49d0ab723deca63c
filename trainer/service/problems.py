"""The service's answers: always strict JSON, errors as ``{"error": ..., "details": [{"field": ..., "reason": ...}]}``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pydantic
from starlette.responses import JSONResponse

from trainer.json_values import jsonable
from trainer.lookup import unknown_name_message

__all__ = ["Answer", "Detail", "problem", "validation_details"]

Detail = dict[str, Any]
"""One thing wrong with a request: ``field`` (a dotted path such as ``params.epochs``, or None) and ``reason``."""


class Answer(JSONResponse):
    """A JSON answer that any content can take: ASCII-escaped (a lone surrogate a client sent, echoed
    back in an error, is no encoding error), non-finite numbers as the strings ``"nan"``, ``"inf"``."""

    def render(self, content: Any) -> bytes:
        return json.dumps(jsonable(content), ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def problem(status: int, error: str, details: Sequence[Detail] = (), headers: dict[str, str] | None = None) -> Answer:
    return Answer({"error": error, "details": list(details)}, status_code=status, headers=headers)


def validation_details(error: pydantic.ValidationError, *, prefix: str = "", known: Sequence[str] = ()) -> list[Detail]:
    """pydantic's errors as details: ``field`` the dotted path under ``prefix``; a field that is not
    one of ``known`` suggests the nearest known ones."""
    details: list[Detail] = []
    for found in error.errors(include_url=False, include_input=False, include_context=False):
        path = [prefix, *map(str, found["loc"])] if prefix else list(map(str, found["loc"]))
        reason = found["msg"]
        if found["type"] == "extra_forbidden" and known:
            reason = unknown_name_message("field", path[-1], list(known))
        details.append({"field": ".".join(path) or None, "reason": reason})
    return details
