"""The layer classes a config may name: the built-ins, and the user's own once registered.

`deserialize` instantiates only classes found here, so a model file can never name arbitrary code:
a user's Layer subclass is rebuilt from a file only after `register_serializable` has put it here,
under `"package>Name"` (Keras's `register_keras_serializable` convention).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from trainer.layers.layer import Layer
from trainer.lookup import unknown_name_message

__all__ = ["CLASSES", "register_built_in", "register_serializable", "registered_name", "serialize", "deserialize"]

CLASSES: dict[str, type[Layer]] = {}
"""Registered name -> class: a built-in under its class name, a user's class under "package>Name"."""

L = TypeVar("L", bound=type[Layer])


def register_built_in(*classes: type[Layer]) -> None:
    for cls in classes:
        CLASSES[cls.__name__] = cls


def register_serializable(package: str = "Custom", name: str | None = None) -> Callable[[L], L]:
    """Class decorator: save and load this Layer subclass by the name `"package>name"` (name: the class's).

    The class needs `get_config()` returning JSON-ready values (start from `super().get_config()`),
    and a constructor that takes them back (or its own `from_config`). Registering under a name already
    taken replaces the class registered there, as in Keras (so a notebook cell can be run again).
    """
    for argument, value in (("package", package), ("name", name)):
        if value is not None and (not isinstance(value, str) or not value or ">" in value):
            raise ValueError(f"register_serializable `{argument}` must be a non-empty string without '>', got {value!r}.")

    def decorate(cls: L) -> L:
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(f"register_serializable registers trainer Layer subclasses, got {cls!r}.")
        CLASSES[f"{package}>{name or cls.__name__}"] = cls
        return cls

    return decorate


def registered_name(cls: type[Layer]) -> str | None:
    """The name `cls` is registered under, or None."""
    return next((key for key, value in CLASSES.items() if value is cls), None)


def serialize(layer: Layer) -> dict[str, Any]:
    """`{"class_name", "config"}` for a layer of a registered class; its config must be JSON-ready."""
    key = registered_name(type(layer))
    if key is None:
        raise TypeError(
            f"{type(layer).__name__} is not a registered layer class, so it cannot be saved: decorate it with "
            "@trainer.saving.register_serializable()."
        )
    config = layer.get_config()
    try:
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"The config of layer {layer.name!r} ({key}) is not JSON-ready: {error}") from None
    return {"class_name": key, "config": config}


def deserialize(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from `serialize` output; only registered classes are ever instantiated."""
    class_name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(class_name, str) or class_name not in CLASSES:
        raise ValueError(unknown_name_message("layer class", str(class_name), list(CLASSES)))
    layer_config = config.get("config", {})
    if not isinstance(layer_config, dict):
        raise ValueError(f"The config of a {class_name} layer must be a mapping, got {type(layer_config).__name__}.")
    return CLASSES[class_name].from_config(dict(layer_config))
