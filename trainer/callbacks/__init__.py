"""Callbacks: the base class and factory, and the built-in callbacks, one module each."""

from .callback import HOOKS, Callback
from .history import History
from .progbar_logger import ProgbarLogger

__all__ = ["HOOKS", "Callback", "History", "ProgbarLogger"]
