"""LambdaCallback: a callback made on the fly from functions."""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Mapping
from typing import Any

from eventbus.handlers import is_async_handler
from .callback import ALIASES, Callback
from .hook_names import HOOK_NAMES, check_member_name

__all__ = ["LambdaCallback"]


class LambdaCallback(Callback):
    """A callback whose hooks are the functions given, as Keras 3's ``LambdaCallback``.

    Each function takes the hook's arguments without ``self``: ``on_epoch_end=lambda epoch, logs: ...``,
    ``on_train_begin=lambda logs: ...``, ``on_train_batch_end=lambda batch, logs: ...``. Any of the 14
    hooks may be given (the ones Keras names in its signature, and the others by keyword), and Keras's
    older ``on_batch_begin``/``on_batch_end``, called for training batches unless
    ``on_train_batch_begin``/``on_train_batch_end`` is given too (as in Keras).

    Other keyword arguments become attributes, as in Keras (``delivery="inline"`` among them), except
    a name that looks like a misspelt hook (``on_epoch_ends``, ``onEpochEnd``, ``epoch_end``), which is
    a ``ValueError`` naming the nearest hook, and a name of Callback's own methods and properties.

    Functions may be ``def`` or ``async def``. As for any callback, a LambdaCallback with an
    ``async def`` function is queued (runs concurrently with training, on read-only logs), else inline.
    A function may return a mapping to add to ``logs`` (seen by later callbacks, when inline); any other
    return value is ignored, as Keras ignores it.
    """

    def __init__(
        self,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_train_batch_begin: Callable[..., Any] | None = None,
        on_train_batch_end: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
            **{name: value for name, value in kwargs.items() if name in HOOK_NAMES},
        }
        attributes = {name: value for name, value in kwargs.items() if name not in HOOK_NAMES}
        for name, function in hooks.items():
            _check(name, function)
        for name in attributes:
            _check_attribute(name)
        for alias, hook in ALIASES.items():
            if hooks.get(hook) is None and hooks.get(alias) is not None:
                hooks[hook] = hooks[alias]  # what the default hook would call
        for name, value in attributes.items():
            setattr(self, name, value)
        for name, function in hooks.items():
            if function is not None:
                # An instance attribute shadows the base class's no-op, so the hook gets subscribed.
                setattr(self, name, _as_hook(function))


def _check_attribute(name: str) -> None:
    check_member_name("LambdaCallback", name)
    if isinstance(getattr(Callback, name, None), (property, types.FunctionType)):
        raise ValueError(f"LambdaCallback: {name!r} is a method or property of every Callback; choose another name")


def _check(name: str, function: object) -> None:
    if inspect.iscoroutine(function):
        function.close()  # spares a 'never awaited' warning
        raise TypeError(f"LambdaCallback: {name} must be a function, not a coroutine object; pass the function itself")
    if function is not None and not callable(function):
        raise TypeError(f"LambdaCallback: {name} must be a function or None; got {function!r}")


def _as_hook(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, keeping a returned mapping and dropping any other return value; async stays async."""
    if is_async_handler(function):

        @functools.wraps(function)
        async def async_hook(*args: Any) -> Mapping[str, Any] | None:
            return _mapping_or_none(await function(*args))

        return async_hook

    @functools.wraps(function)
    def hook(*args: Any) -> Mapping[str, Any] | None:
        return _mapping_or_none(function(*args))

    return hook


def _mapping_or_none(returned: object) -> Mapping[str, Any] | None:
    return returned if isinstance(returned, Mapping) else None
