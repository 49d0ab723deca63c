"""Configs of the engine's objects as JSON-ready dicts, and their safe reconstruction.

`serialize(obj)` gives `{"class_name": ..., "config": {...}}`; `deserialize(kind, config)` rebuilds
it, instantiating only the classes registered here for that kind: a config can never name
arbitrary code. (Layers have their own registry in `trainer.layers`.)
"""

from __future__ import annotations

from typing import Any, Protocol

from trainer import initializers, losses, metrics, optimizers, regularizers
from trainer.lookup import unknown_name_message

__all__ = ["serialize", "deserialize", "REGISTRY"]


class Configurable(Protocol):
    """What a registered class has: `get_config()`, and `from_config` to rebuild from its output."""

    def get_config(self) -> dict[str, Any]: ...

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> object: ...


REGISTRY: dict[str, dict[str, type[Configurable]]] = {
    "initializer": {cls.__name__: cls for cls in initializers.CLASSES},
    "regularizer": {cls.__name__: cls for cls in (regularizers.L1L2, regularizers.L1, regularizers.L2)},
    "loss": {cls.__name__: cls for cls in losses.CLASSES},
    "metric": {
        cls.__name__: cls
        for cls in (
            metrics.MeanSquaredError,
            metrics.MeanAbsoluteError,
            metrics.BinaryAccuracy,
            metrics.CategoricalAccuracy,
            metrics.SparseCategoricalAccuracy,
            metrics.AUC,
            metrics.Precision,
            metrics.Recall,
            metrics.RootMeanSquaredError,
            metrics.F1Score,
            metrics.TopKCategoricalAccuracy,
        )
    },
    "optimizer": dict(optimizers.CLASSES),
}


def serialize(obj: Any) -> dict[str, Any] | None:
    """`{"class_name", "config"}` for a registered object; None stays None."""
    if obj is None:
        return None
    class_name = type(obj).__name__
    if not any(registry.get(class_name) is type(obj) for registry in REGISTRY.values()):
        raise TypeError(f"{class_name} is not a built-in class of the engine, so it cannot be serialized.")
    return {"class_name": class_name, "config": obj.get_config()}


def deserialize(kind: str, config: dict[str, Any] | None) -> Any:
    """Rebuild an object of `kind` from `serialize` output; unknown class names raise ValueError."""
    if config is None:
        return None
    registry = REGISTRY[kind]
    class_name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(class_name, str) or class_name not in registry:
        raise ValueError(unknown_name_message(f"{kind} class", str(class_name), list(registry)))
    return registry[class_name].from_config(dict(config.get("config", {})))
