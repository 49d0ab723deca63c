"""Optimizers with Keras 3's names, parameters, defaults and update rules."""

from __future__ import annotations

from collections.abc import Callable

from trainer.lookup import lookup
from trainer.optimizers.adagrad import Adagrad
from trainer.optimizers import schedules
from trainer.optimizers.adam import Adam
from trainer.optimizers.adamax import Adamax
from trainer.optimizers.adamw import AdamW
from trainer.optimizers.lion import Lion
from trainer.optimizers.nadam import Nadam
from trainer.optimizers.optimizer import Optimizer
from trainer.optimizers.rmsprop import RMSprop
from trainer.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "Adamax", "Lion", "schedules", "get"]

_BUILT_INS = (SGD, Adam, AdamW, RMSprop, Adagrad, Nadam, Adamax, Lion)
CLASSES: dict[str, type[Optimizer]] = {cls.__name__: cls for cls in _BUILT_INS}
# Every built-in has a default for each argument, so its name alone makes one (the base class has none).
_BY_NAME: dict[str, Callable[[], Optimizer]] = {cls.__name__.lower(): cls for cls in _BUILT_INS}


def get(identifier: str | Optimizer) -> Optimizer:
    """Resolve a name (`"adam"`, case-insensitive, as Keras) or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("optimizer", identifier.lower(), _BY_NAME)()
    raise TypeError(f"optimizer must be a name or a trainer.optimizers.Optimizer, got {identifier!r}.")
