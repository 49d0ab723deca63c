"""Optimizers with Keras 3's names, parameters, defaults and update rules."""

from __future__ import annotations

from trainer.lookup import lookup
from trainer.optimizers.adagrad import Adagrad
from trainer.optimizers.adam import Adam
from trainer.optimizers.adamw import AdamW
from trainer.optimizers.optimizer import Optimizer
from trainer.optimizers.rmsprop import RMSprop
from trainer.optimizers.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get"]

CLASSES: dict[str, type[Optimizer]] = {"SGD": SGD, "Adam": Adam, "AdamW": AdamW, "RMSprop": RMSprop, "Adagrad": Adagrad}
_BY_NAME: dict[str, type[Optimizer]] = {name.lower(): cls for name, cls in CLASSES.items()}


def get(identifier: str | Optimizer) -> Optimizer:
    """Resolve a name (`"adam"`, case-insensitive, as Keras) or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("optimizer", identifier.lower(), _BY_NAME)()
    raise TypeError(f"optimizer must be a name or a trainer.optimizers.Optimizer, got {identifier!r}.")
