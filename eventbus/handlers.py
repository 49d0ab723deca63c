"""What the bus accepts as a handler, and how it tells ``def`` from ``async def``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["check_handler", "is_async_handler", "noop_hook", "is_noop_hook"]

_NOOP_MARK = "__eventbus_noop_hook__"


def check_handler(handler: object, what: str = "handler") -> Callable[..., Any]:
    """Return ``handler`` if it can be called with an event, else raise :class:`TypeError`."""
    if inspect.iscoroutine(handler):
        handler.close()  # it will never run; closing it spares the user a 'never awaited' warning
        raise TypeError(
            f"{what} must be a function or method, not a coroutine object; "
            "pass the function itself (handler), not the result of calling it (handler(...))"
        )
    if not callable(handler):
        raise TypeError(f"{what} must be callable; got {type(handler).__name__} {handler!r}")
    return handler


def is_async_handler(handler: Callable[..., Any]) -> bool:
    """True if calling ``handler`` returns a coroutine: an ``async def`` function, method, partial
    of one, or an object whose ``__call__`` is ``async def``."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(type(handler), "__call__", None)
    return not inspect.isfunction(handler) and inspect.iscoroutinefunction(call)


def noop_hook(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a base class's do-nothing hook method.

    :meth:`EventBus.subscribe_object` skips a hook that is still the marked function, so a class
    can offer every hook as an overridable no-op and pay nothing for the ones a subclass leaves alone.
    """
    setattr(function, _NOOP_MARK, True)
    return function


def is_noop_hook(method: object) -> bool:
    """True if ``method`` is (bound to) a function marked with :func:`noop_hook`."""
    return getattr(getattr(method, "__func__", method), _NOOP_MARK, False)
