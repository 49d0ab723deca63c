"""How a callback becomes a subscriber of a run's event bus."""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from eventbus import Subscription
from eventbus.handlers import is_async_handler, is_noop_hook
from trainer.events import LIFECYCLE_EVENTS, LifecycleEvent

from .callback import HOOKS, Callback
from .lanes import Defer, Lanes, close_unstarted

__all__ = ["current_event", "delivery_of", "overridden_hooks", "subscribe_callback", "thread_calls"]

_handling: contextvars.ContextVar[LifecycleEvent | None] = contextvars.ContextVar("trainer_hook_event", default=None)


def current_event() -> LifecycleEvent | None:
    """The lifecycle event the calling hook is handling (inside a hook, and in what it calls), else None.

    Its ``time`` says when the event happened, which a queued hook handles a while later, and its
    ``run`` which run it belongs to.
    """
    return _handling.get()


def overridden_hooks(callback: Callback) -> dict[str, Callable[..., Any]]:
    """The hook methods ``callback`` really has: the base class's no-ops left out."""
    methods = {hook: getattr(callback, hook) for hook in HOOKS}
    return {hook: method for hook, method in methods.items() if not is_noop_hook(method)}


def delivery_of(callback: Callback) -> str:
    """``"inline"``, ``"queued"`` or ``"thread"``: the callback's own choice, else queued if any hook is
    ``async def``, inline otherwise. ``"thread"`` is refused for a callback with an ``async def`` hook."""
    delivery = callback.delivery
    hooks = overridden_hooks(callback)
    if delivery == "auto":
        return "queued" if any(is_async_handler(method) for method in hooks.values()) else "inline"
    if delivery not in ("inline", "queued", "thread"):
        raise ValueError(
            f"{type(callback).__name__}.delivery must be 'auto', 'inline', 'queued' or 'thread'; got {delivery!r}"
        )
    if delivery == "thread":
        coroutines = [hook for hook, method in hooks.items() if is_async_handler(method)]
        if coroutines:
            raise TypeError(
                f"{type(callback).__name__}.delivery is 'thread', which calls hooks in the compute thread, "
                f"but {', '.join(coroutines)} is async def; make it def, or choose 'inline' or 'queued'"
            )
    return delivery


def thread_calls(callback: Callback) -> dict[str, Callable[[LifecycleEvent], None]]:
    """For a ``delivery = "thread"`` callback: each overridden hook as a call taking the event, to be
    made in the compute thread (a returned mapping is merged into the live ``logs``, as inline)."""
    name = type(callback).__name__
    return {hook: _call(name, hook, method, inline=True, defer=None) for hook, method in overridden_hooks(callback).items()}


def subscribe_callback(
    callback: Callback, lanes: Lanes, event_types: Iterable[type[LifecycleEvent]] = LIFECYCLE_EVENTS
) -> Subscription | None:
    """Subscribe ``callback``'s overridden hooks to ``event_types`` on the run's bus (``lanes.bus``),
    as one subscriber; None if it takes none of them.

    Each event reaches its hook as Keras calls it, ``hook(index, logs)`` or ``hook(logs)``. What an
    inline hook returns: a mapping is merged into the live ``logs``; an awaitable (from an ``async
    def`` hook) is the hook's slow part, run on the callback's own lane (see :class:`Lanes`). A
    queued hook's return value is dropped, since what it could add would reach nobody. A
    ``"thread"`` callback is inline here: on the bus, its hooks run on the loop's thread.
    """
    delivery = delivery_of(callback)
    mode = "queued" if delivery == "queued" else "inline"
    name = type(callback).__name__
    event_types = tuple(event_types)
    hooks = {hook: method for hook, method in overridden_hooks(callback).items()
             if any(event_type.hook == hook for event_type in event_types)}  # fmt: skip
    if not hooks:
        return None
    adapter = _HookCalls()
    defer = None
    if mode == "inline" and any(is_async_handler(method) for method in hooks.values()):
        defer = lanes.open(name, adapter, callback.queue_size)
    for hook, method in hooks.items():
        setattr(adapter, hook, _call(name, hook, method, inline=mode == "inline", defer=defer))
    return lanes.bus.subscribe_object(
        adapter,
        event_types,
        mode=mode,  # type: ignore[arg-type]
        maxsize=callback.queue_size,
        overflow=callback.queue_overflow,
        name=name,
    )


class _HookCalls:
    """An object whose attributes, named by hooks, take an event and call the callback's hook."""


def _call(
    name: str, hook: str, method: Callable[..., Any], *, inline: bool, defer: Defer | None
) -> Callable[[LifecycleEvent], Any]:
    if is_async_handler(method):

        async def call_async(event: LifecycleEvent) -> None:
            token = _handling.set(event)
            try:
                returned = await method(*event.hook_args())
            finally:
                _handling.reset(token)
            if inline and defer is not None and inspect.isawaitable(returned):
                try:
                    await defer(hook, returned)
                except BaseException:
                    close_unstarted(returned)  # never handed over: it will never run
                    raise
            elif inline:
                _merge(name, hook, event.logs, returned)

        return call_async

    def call(event: LifecycleEvent) -> None:
        token = _handling.set(event)
        try:
            returned = method(*event.hook_args())
        finally:
            _handling.reset(token)
        if inline and returned is not None:
            _merge(name, hook, event.logs, returned)

    return call


def _merge(name: str, hook: str, logs: Any, returned: object) -> None:
    if returned is None:
        return
    if inspect.isawaitable(returned):
        close_unstarted(returned)
        raise TypeError(
            f"{name}.{hook} returned an awaitable; only an inline `async def` hook can hand its slow part "
            "to a queued lane by returning one"
        )
    if not isinstance(returned, Mapping):
        raise TypeError(
            f"{name}.{hook} returned {type(returned).__name__}; a hook returns None, or a mapping to add to logs"
        )
    if isinstance(logs, MutableMapping):
        logs.update(returned)
