"""Job templates: the user's functions ``f(**params) -> TrainingSpec`` that the service can run.

A template's parameters are its request schema: each needs a type hint (``int``, ``float``,
``Literal[...]``, ``tuple[int, ...]``, ``Annotated[int, pydantic.Field(ge=1, le=100)]`` ...) and may
have a default. The service validates ``params`` against them with pydantic (a 422 names each bad
field) and publishes them in its OpenAPI document.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import sys
import threading
import typing
from collections.abc import Callable, Mapping
from typing import Any

import pydantic
import pydantic_core

from trainer.jobs import TrainingSpec

__all__ = ["Template", "load_templates", "templates_from"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")

# Templates seed trainer's global random state (trainer.set_random_seed) before they build, so
# two builds at once, in two threads, would make different models than each alone.
_BUILDING = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Template:
    """A named job template: ``function``, and the pydantic model of its parameters."""

    name: str
    function: Callable[..., TrainingSpec]
    params: type[pydantic.BaseModel]

    @classmethod
    def from_function(cls, name: str, function: Callable[..., TrainingSpec]) -> Template:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"a template name must match {_NAME.pattern}; got {name!r}")
        if not callable(function):
            raise TypeError(f"template {name!r} must be a function returning a TrainingSpec; got {function!r}")
        return cls(name, function, _params_model(name, function))

    @property
    def description(self) -> str:
        return inspect.getdoc(self.function) or ""

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the template's parameters."""
        return self.params.model_json_schema()

    def validate(self, params: Any) -> dict[str, Any]:
        """``params`` checked and completed with the defaults, as JSON values (what the job stores).
        Raises :class:`pydantic.ValidationError`."""
        return self._parse(params).model_dump(mode="json")

    def _parse(self, params: Any) -> pydantic.BaseModel:
        # Through JSON, as a request holds them: strict types (no "5" for 5), arrays for tuples.
        return self.params.model_validate_json(pydantic_core.to_json(params))

    def build(self, params: Mapping[str, Any]) -> TrainingSpec:
        """Call the template with ``params`` (as :meth:`validate` returned them); one build at a time."""
        values = dict(self._parse(params))
        with _BUILDING:
            spec = self.function(**values)
        if not isinstance(spec, TrainingSpec):
            raise TypeError(f"template {self.name!r} returned {type(spec).__name__}, not a trainer.jobs.TrainingSpec")
        return spec


def _params_model(name: str, function: Callable[..., Any]) -> type[pydantic.BaseModel]:
    hints = typing.get_type_hints(function, include_extras=True)
    fields: dict[str, Any] = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise TypeError(f"template {name!r}: parameter {parameter.name!r} must be a plain or keyword-only parameter")
        if parameter.name not in hints:
            raise TypeError(f"template {name!r}: parameter {parameter.name!r} needs a type hint (it is the request schema)")
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (hints[parameter.name], default)
    config = pydantic.ConfigDict(extra="forbid", strict=True)
    return pydantic.create_model(f"{_title(name)}Params", __config__=config, **fields)


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]", name) if part) or "Template"


def templates_from(mapping: Mapping[str, Callable[..., TrainingSpec]]) -> dict[str, Template]:
    """Templates from a mapping of names to functions."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"templates must be a mapping of names to functions; got {type(mapping).__name__}")
    return {name: Template.from_function(name, function) for name, function in mapping.items()}


def load_templates(reference: str) -> dict[str, Template]:
    """The templates named by ``"module:attribute"`` (a mapping of names to functions), imported as
    ``python -m`` would, with the current directory first on the path."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--app must be 'module:attribute' (for example 'myjobs:TEMPLATES'); got {reference!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    module = importlib.import_module(module_name)
    try:
        mapping = getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"--app {reference!r}: module {module_name!r} has no attribute {attribute!r}") from None
    return templates_from(mapping)
