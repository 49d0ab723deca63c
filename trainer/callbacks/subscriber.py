"""How a callback becomes a subscriber of a run's event bus."""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import anyio

from eventbus import EventBus, Subscription
from eventbus.handlers import is_async_handler, is_noop_hook
from trainer.events import LIFECYCLE_EVENTS, DeferredWork, LifecycleEvent

from .callback import HOOKS, Callback

__all__ = ["current_event", "delivery_of", "finish_deferred_work", "subscribe_callback"]

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
    """``"inline"`` or ``"queued"``: the callback's own choice, else queued if any hook is ``async def``."""
    delivery = callback.delivery
    if delivery == "auto":
        hooks = overridden_hooks(callback).values()
        return "queued" if any(is_async_handler(method) for method in hooks) else "inline"
    if delivery not in ("inline", "queued"):
        raise ValueError(
            f"{type(callback).__name__}.delivery must be 'auto', 'inline' or 'queued'; got {delivery!r}"
        )
    return delivery


def subscribe_callback(bus: EventBus, callback: Callback, run: str) -> Subscription:
    """Subscribe ``callback``'s overridden hooks to the lifecycle events on ``bus``, as one subscriber.

    Each event reaches its hook as Keras calls it, ``hook(index, logs)`` or ``hook(logs)``. What an
    inline hook returns: a mapping is merged into the live ``logs``; an awaitable (from an ``async
    def`` hook) is the hook's slow part, run on the callback's own queued lane, in order. A queued
    hook's return value is dropped, since what it could add would reach nobody.
    """
    mode = delivery_of(callback)
    name = type(callback).__name__
    hooks = overridden_hooks(callback)
    adapter = _HookCalls()
    defer = None
    if mode == "inline" and any(is_async_handler(method) for method in hooks.values()):
        defer = _open_lane(bus, name, run, adapter, callback.queue_size)
    for hook, method in hooks.items():
        setattr(adapter, hook, _call(name, hook, method, inline=mode == "inline", defer=defer))
    return bus.subscribe_object(
        adapter,
        LIFECYCLE_EVENTS,
        mode=mode,  # type: ignore[arg-type]
        maxsize=callback.queue_size,
        overflow=callback.queue_overflow,
        name=name,
    )


class _HookCalls:
    """An object whose attributes, named by hooks, take an event and call the callback's hook."""


Defer = Callable[[str, Awaitable[Any]], Awaitable[None]]


def _open_lane(bus: EventBus, name: str, run: str, owner: object, maxsize: int) -> Defer:
    """A queued subscription that runs the work ``owner``'s inline hooks hand over, in order.

    It holds at most ``maxsize`` pieces of work (the callback's ``queue_size``): past that, the hook
    handing over more waits, and training with it. Once a piece of work fails, the run fails: work
    still waiting is closed, never started.
    """

    async def run_work(event: DeferredWork) -> None:
        try:
            with anyio.CancelScope(shield=True):  # a write once begun ends whole, even in a cancelled run
                await event.work
        except Exception:
            for waiting in lane.unhandled():
                _close(waiting.work)  # type: ignore[attr-defined]
            raise

    lane = bus.subscribe(
        DeferredWork, run_work, mode="queued", maxsize=maxsize, name=f"{name} (deferred)", where=lambda e: e.owner is owner
    )

    async def defer(hook: str, work: Awaitable[Any]) -> None:
        if not lane.active:
            _close(work)
            return
        await bus.publish(DeferredWork(run=run, callback=name, for_hook=hook, work=work, owner=owner))

    return defer


async def finish_deferred_work(bus: EventBus) -> list[Exception]:
    """When a run ends in an error or is cancelled: see the work its hooks handed over to the end,
    and return what failed.

    A hook has done its part once it returns, as in Keras, whose hooks write before they return: a
    checkpoint saved before a crash is on disk, and a backup that records it as saved never points at
    a file that is not there. Each lane's work runs in order, shielded from the cancellation; a lane
    stops at its first failure, and what waits behind that is closed, never started. A piece of work
    that never ends keeps the run from ending.
    """
    failures: list[Exception] = []
    with anyio.CancelScope(shield=True):
        for lane in bus.subscriptions:
            if lane.event_types != (DeferredWork,):
                continue  # not a lane: nothing else takes DeferredWork
            # Taken from its consumer, which a cancellation stops; the work under way it finishes.
            waiting = [event.work for event in lane.discard_unhandled() if isinstance(event, DeferredWork)]
            failed_before = lane.failed
            await lane.wait_settled(lane.accepted)
            if lane.failed > failed_before:
                waiting = []  # the lane's failure is the bus's to report
            for position, work in enumerate(waiting):
                try:
                    await work
                except Exception as exc:
                    failures.append(exc)
                    for never_started in waiting[position + 1 :]:
                        _close(never_started)
                    break
    return failures


def _close(work: Awaitable[Any]) -> None:
    """Close a coroutine that will never run, sparing a 'never awaited' warning. One already
    running belongs to its task, which finishes or cancels it."""
    if inspect.iscoroutine(work) and inspect.getcoroutinestate(work) == inspect.CORO_CREATED:
        work.close()


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
                    _close(returned)  # never handed over: it will never run
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
        if inline:
            _merge(name, hook, event.logs, returned)

    return call


def _merge(name: str, hook: str, logs: Any, returned: object) -> None:
    if returned is None:
        return
    if inspect.isawaitable(returned):
        _close(returned)
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
