"""A numpy model engine with Keras 3's names and numbers, whose training loop publishes its lifecycle on an event bus.

Build with `Sequential([Input(shape=(d,)), layers.Dense(...)])`, `compile`, then `fit`, `evaluate` and
`predict` (or their `_async` twins) with `callbacks=[...]`; files are written with `model.save` /
`save_weights` and read back with `load_model` / `load_weights`. Several runs in one application
can take turns at the CPU inside `taking_turns(ComputeTurns())`.
"""

from importlib.metadata import PackageNotFoundError, version

from trainer import activations, callbacks, events, initializers, layers, losses, metrics, optimizers, regularizers
from trainer.callbacks import Callback
from trainer.layers import Input
from trainer.model import Sequential
from trainer.random import set_random_seed
from trainer.saving import load_model
from trainer.turns import ComputeTurns, taking_turns

try:
    __version__ = version("eventbus-trainer")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "Callback",
    "Sequential",
    "Input",
    "set_random_seed",
    "load_model",
    "ComputeTurns",
    "taking_turns",
    "layers",
    "activations",
    "callbacks",
    "events",
    "losses",
    "metrics",
    "optimizers",
    "initializers",
    "regularizers",
]
