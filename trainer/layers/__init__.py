"""Layers with Keras 3's names, parameters and defaults, and the registry that rebuilds them from config."""

from __future__ import annotations

from typing import Any

from trainer.layers.activation import Activation
from trainer.layers.dense import Dense
from trainer.layers.dropout import Dropout
from trainer.layers.flatten import Flatten
from trainer.layers.input_layer import Input, InputLayer
from trainer.layers.layer import Layer
from trainer.lookup import unknown_name_message

__all__ = ["Layer", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "serialize", "deserialize"]

CLASSES: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (InputLayer, Dense, Activation, Dropout, Flatten)
}


def serialize(layer: Layer) -> dict[str, Any]:
    """`{"class_name", "config"}` for a layer of a known class."""
    if CLASSES.get(type(layer).__name__) is not type(layer):
        raise TypeError(f"Only the built-in layers can be serialized, not {type(layer).__name__}.")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from `serialize` output; only the known layer classes are ever instantiated."""
    class_name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(class_name, str) or class_name not in CLASSES:
        raise ValueError(unknown_name_message("layer class", str(class_name), list(CLASSES)))
    return CLASSES[class_name].from_config(config.get("config", {}))
