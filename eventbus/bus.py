"""The event bus: subscribe handlers or objects, publish events, drain, stream."""

from __future__ import annotations

import difflib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.abc

from .errors import BusClosedError, DeliveryError, HandlerFailure, QueueFullError, UndeliveredEventsError
from .event import Event, check_event_type, check_event_types, check_publishable, known_event_types
from .handlers import check_handler, is_noop_hook
from .handoff import ThreadHandoff
from .mailbox import OVERFLOW_POLICIES, Mailbox, Overflow
from .stream import EventStream
from .subscription import Mode, OnError, Subscription

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["DEFAULT_MAXSIZE", "THREAD_HANDOFF_MAXSIZE", "EventBus"]

E = TypeVar("E", bound=Event)

DEFAULT_MAXSIZE = 1024
"""Queue length of a queued subscriber or stream unless ``maxsize`` says otherwise."""

THREAD_HANDOFF_MAXSIZE = 256
"""How many events worker threads may hand over without waiting before they wait for the loop."""

logger = logging.getLogger("eventbus")

_NEW, _RUNNING, _CLOSING, _CLOSED = "new", "running", "closing", "closed"
_INLINE_DEF, _INLINE_ASYNC, _QUEUED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Plan:
    """How one event type is delivered, worked out once and reused until subscriptions change."""

    calls: tuple[Callable[[Any], Any], ...] | None  # set when every subscriber is an inline def
    steps: tuple[tuple[Subscription, Callable[[Any], Any], int], ...]
    awaited: tuple[Subscription, ...]  # inline async def subscribers
    waits_for_room: tuple[Subscription, ...]  # queued with overflow="block" or "keep_latest"
    refuses_when_full: tuple[Subscription, ...]  # queued with overflow="error"
    keeps_places: tuple[Subscription, ...]  # queued but drop_oldest: a place is kept while delivering
    only_queued: bool  # no inline subscriber: nothing runs between the steps of a delivery
    filtered: bool  # a subscriber has a where filter
    snapshots: bool  # the event type overrides Event.snapshot


class EventBus:
    """A typed publish/subscribe bus for one anyio application (asyncio or trio).

    Use it as ``async with EventBus() as bus:``; it owns the tasks that feed queued subscribers.

    Guarantees:

    * Each subscriber receives the events of its types in publication order, each once, and all
      subscribers see one order (a total order per bus), whatever mix of tasks and threads publish.
    * A delivery that awaits an inline ``async def`` handler is the only one under way until it
      ends (other publishers wait their turn), so no inline handler is entered while it is already
      running; an event a handler publishes during its own delivery is delivered at once, depth first.
    * *Inline* subscribers are called inside :meth:`publish`, in subscription order; their
      exceptions propagate to the publisher, and later subscribers do not receive that event.
    * *Queued* subscribers each have a bounded queue and a consumer task; :meth:`publish` returns
      once the event is queued (or its overflow policy has acted), so a slow subscriber slows
      neither the publisher (while its queue has room) nor other subscribers. ``maxsize`` bounds
      what one holds: events waiting plus those its consumer has taken and not yet handled. Their
      exceptions are raised at the next barrier, :meth:`drain` or leaving the bus, as
      :class:`DeliveryError`.
    * An event an ``overflow="error"`` queue refuses (:class:`QueueFullError`) reaches nobody.
    * A publish waiting for room in a ``block`` queue, if cancelled, has delivered the event to
      nobody. (With inline ``async def`` subscribers a publish can be cancelled part-way.)
    * Leaving the bus without an exception drains it within ``drain_timeout`` seconds, else raises
      :class:`UndeliveredEventsError` listing what was not handled; leaving with an exception
      cancels the consumers at once.

    :meth:`publish` is not a checkpoint when nothing needs to wait: a publisher that must let queued
    subscribers run should await something (compute in a worker thread does).
    """

    def __init__(self, *, drain_timeout: float | None = 30.0) -> None:
        if drain_timeout is not None and drain_timeout < 0:
            raise ValueError(f"drain_timeout must be a number of seconds >= 0 or None; got {drain_timeout!r}")
        self.drain_timeout = drain_timeout
        self._state = _NEW
        self._subscriptions: list[Subscription] = []
        self._subscriptions_now: tuple[Subscription, ...] = ()  # the same, as one object until they change
        self._consumers: list[Subscription] = []
        self._plans: dict[type, _Plan] = {}
        self._failures: list[HandlerFailure] = []
        self._task_group: anyio.abc.TaskGroup | None = None
        self._handoff: ThreadHandoff | None = None
        self._loop_thread: int | None = None
        self._turn: object | None = None  # the task whose delivery may await; others wait their turn
        self._turn_waiters: deque[tuple[object, anyio.Event]] = deque()

    def __repr__(self) -> str:
        return f"<EventBus {self._state}, {len(self._subscriptions)} subscription(s)>"

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The active subscriptions, in subscription order: the same tuple until they change, so a
        reader in another thread can tell a change by identity."""
        return self._subscriptions_now

    # -- subscribing ---------------------------------------------------------------------------

    def subscribe(
        self,
        event_type: type[E] | tuple[type[E], ...],
        handler: Callable[[E], Any],
        *,
        mode: Mode = "inline",
        maxsize: int = DEFAULT_MAXSIZE,
        overflow: Overflow = "block",
        on_error: OnError = "raise",
        name: str | None = None,
        where: Callable[[E], bool] | None = None,
    ) -> Subscription:
        """Call ``handler(event)`` for every event of ``event_type`` or a subclass.

        ``event_type`` may be a (flat) tuple of types: the subscriber takes each. Types are matched once per
        published type and remembered, so a subscriber costs nothing for the types it does not take;
        prefer them to a ``where`` filter, which is called for every event.

        ``handler`` may be ``def`` or ``async def``. ``mode="inline"`` calls it inside
        :meth:`publish`; ``mode="queued"`` gives it a queue of ``maxsize`` events and a task of its
        own, and runs a ``def`` handler in a worker thread, one call at a time, in order.
        The queue is full when it holds ``maxsize`` events, waiting or taken by the consumer and not
        yet handled; ``overflow`` says what happens then: ``"block"`` the publisher waits,
        ``"drop_oldest"`` the oldest waiting event is discarded (the newcomer, if the handler has all
        ``maxsize`` in hand: the publisher never waits), ``"keep_latest"`` coalesces (the
        oldest waiting event of the same type is discarded, else the oldest one that a younger event
        of its type supersedes; the publisher waits only if every waiting event is the only one of its
        type), ``"error"`` publish raises :class:`QueueFullError`. ``on_error="log"`` logs a queued
        handler's exception and goes on. ``where(event)``, if given, is called inside ``publish``; the
        subscriber receives only the events for which it returns true (one run's events, say).
        """
        check_handler(handler)
        types = check_event_types(event_type)

        def route(published: type[Event]) -> Callable[[Any], Any] | None:
            return handler if issubclass(published, types) else None

        return self._add(name or _name_of(handler), types, route, mode, maxsize, overflow, on_error, where=where)

    def subscribe_object(
        self,
        obj: object,
        event_types: Iterable[type[Event]] | None = None,
        *,
        mode: Mode = "inline",
        maxsize: int = DEFAULT_MAXSIZE,
        overflow: Overflow = "block",
        on_error: OnError = "raise",
        name: str | None = None,
        where: Callable[[Event], bool] | None = None,
    ) -> Subscription:
        """Subscribe the hook methods of ``obj``: an event goes to the method named by its ``hook``.

        Only methods ``obj`` really has count: a method still marked :func:`noop_hook` (a base
        class's placeholder) is skipped and costs nothing. ``event_types`` defaults to every
        :class:`Event` subclass defined so far. All of the object's hooks share one subscription,
        so with ``mode="queued"`` they run one at a time, in publication order, whether ``def`` or
        ``async def``. The other options are as for :meth:`subscribe`.
        """
        types = tuple(
            check_event_type(t) for t in (known_event_types() if event_types is None else event_types)
        )

        def route(published: type[Event]) -> Callable[[Any], Any] | None:
            return _hook_method(obj, published.hook) if issubclass(published, types) else None

        for known in known_event_types():
            route(known)  # a hook attribute that cannot be called is refused now, not at publish
        return self._add(name or type(obj).__name__, types, route, mode, maxsize, overflow, on_error, where=where)

    def stream(
        self,
        event_type: type[E] | tuple[type[E], ...],
        *,
        maxsize: int = DEFAULT_MAXSIZE,
        overflow: Overflow = "block",
        where: Callable[[E], bool] | None = None,
    ) -> EventStream[E]:
        """An async iterator of the events of ``event_type`` (a type or a tuple of types) published
        from now on; see :class:`EventStream`."""
        types = check_event_types(event_type)

        def route(published: type[Event]) -> Callable[[Any], Any] | None:
            return _read_by_stream if issubclass(published, types) else None

        names = [t.__qualname__ for t in types]
        label = f"stream({', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''})"
        subscription = self._add(label, types, route, "queued", maxsize, overflow, "raise", where=where, consumer=False)
        return EventStream(subscription)

    def _add(
        self,
        name: str,
        event_types: tuple[type[Event], ...],
        route: Callable[[type[Event]], Callable[[Any], Any] | None],
        mode: str,
        maxsize: int,
        overflow: str,
        on_error: str,
        *,
        where: Callable[[Any], bool] | None = None,
        consumer: bool = True,
    ) -> Subscription:
        _check_choice("mode", mode, ("inline", "queued"))
        _check_choice("overflow", overflow, OVERFLOW_POLICIES)
        _check_choice("on_error", on_error, ("raise", "log"))
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize must be an int >= 1; got {maxsize!r}")
        if where is not None:
            check_handler(where, "where")
        if self._state in (_CLOSING, _CLOSED):
            raise BusClosedError(f"cannot subscribe {name!r}: the bus has been left")
        subscription = Subscription(
            name=name,
            event_types=event_types,
            route=route,
            mode=mode,  # type: ignore[arg-type]
            mailbox=Mailbox(maxsize, overflow) if mode == "queued" else None,  # type: ignore[arg-type]
            on_error=on_error,  # type: ignore[arg-type]
            on_failure=self._failures.append,
            on_close=self._remove,
            where=where,
        )
        self._subscriptions.append(subscription)
        self._subscriptions_now = tuple(self._subscriptions)
        self._plans.clear()
        if mode == "queued" and consumer:
            self._consumers.append(subscription)
            if self._state == _RUNNING:
                self._start_consumer(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        self._subscriptions.remove(subscription)
        self._subscriptions_now = tuple(self._subscriptions)
        self._plans.clear()

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber of its type, in subscription order.

        Returns when inline subscribers have handled it and queued ones have it in their queue.
        Raises what an inline handler raised, or :class:`QueueFullError` (before delivering to
        anyone) if an ``overflow="error"`` subscriber's queue is full.
        """
        try:
            plan = self._plans[type(event)]
        except KeyError:
            plan = self._plan(type(event))
        if plan.calls is not None and self._turn is None:
            for call in plan.calls:
                call(event)
            return
        await self._deliver(plan, event)

    def publish_nowait(self, event: Event) -> None:
        """Deliver ``event`` at once, from plain ``def`` code running on the event loop.

        Delivers exactly as :meth:`publish` does, without ever waiting: inline ``def`` subscribers
        are called in subscription order, queued ones get the event in their queue. With only
        inline ``def`` subscribers (or none) it is a plain call of each. Raises, before delivering
        to anyone, :class:`anyio.WouldBlock` if a ``block`` or ``keep_latest`` queue has no room
        for the event (as ``send_nowait`` on a full anyio stream), :class:`QueueFullError` as
        :meth:`publish` does, or :class:`TypeError` if an inline ``async def`` subscriber receives it
        (it can only be awaited: use ``await bus.publish(event)``). An inline handler that publishes
        to a queue meanwhile can fill it; then the subscribers after it get nothing and
        :class:`anyio.WouldBlock` is raised.
        """
        # The plan lookup and the plain-call path are written out here as in publish(): a shared
        # helper would cost another call, as much as the whole delivery to one subscriber.
        try:
            plan = self._plans[type(event)]
        except KeyError:
            plan = self._plan(type(event))
        if self._turn is not None and self._turn != _current_task():
            raise anyio.WouldBlock  # another task's delivery is under way: this event comes after it
        if plan.calls is not None:
            for call in plan.calls:
                call(event)
            return
        if plan.awaited:
            names = ", ".join(repr(subscription.name) for subscription in plan.awaited)
            raise TypeError(
                f"publish_nowait() cannot await the inline async def subscriber {names} of "
                f"{type(event).__qualname__}; use 'await bus.publish(event)'"
            )
        if _first_without_room(plan.waits_for_room, event) is not None:
            raise anyio.WouldBlock
        if plan.only_queued:
            _enqueue_everywhere(plan, event)
            return
        reserved = _reserve_places(plan, event)
        try:
            snapshot = None
            for subscription, handler, kind in plan.steps:
                if kind == _INLINE_DEF:
                    if _takes(subscription, event):
                        handler(event)
                        snapshot = None
                    continue
                if snapshot is None:
                    snapshot = _snapshot(plan, event)
                if not _enqueue_reserved(subscription, snapshot, reserved, event):
                    if not subscription.mailbox.has_room_for(snapshot):  # type: ignore[union-attr]
                        raise anyio.WouldBlock  # an inline handler filled it meanwhile
                    subscription.enqueue(snapshot)
        finally:
            _unreserve(reserved)

    def publish_threadsafe(
        self, event: Event, *, wait: bool = True, before_waiting: Callable[[], object] | None = None
    ) -> None:
        """Publish from a worker thread (any thread but the event loop's own).

        Events from threads are published on the event loop in the order they were handed over.
        With ``wait=True`` this returns once they are published, raising what an inline handler
        raised for this event. With ``wait=False`` it returns at once (it waits only if
        :data:`THREAD_HANDOFF_MAXSIZE` events are already pending), and an inline handler's
        exception is raised at the next barrier; the cheap way to feed queued subscribers from a
        compute thread. :meth:`drain` first waits until what is pending is published. Raises
        :class:`BusClosedError` once the bus is being left.

        ``before_waiting()``, if given, is called in this thread just before it waits for the loop
        (whenever ``wait=True``, and when the hand-over queue is full): the moment to release what
        the loop's side may need meanwhile, such as a lock other threads wait for.

        A waiting thread started by :func:`anyio.to_thread.run_sync` whose task is cancelled stops
        waiting within :data:`~eventbus.handoff.CANCEL_POLL_SECONDS` and raises the cancellation; its
        event, if no handler has it yet, is never published. Threads still waiting when the bus is
        left on an error raise :class:`BusClosedError`.
        """
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError(
                "publish_threadsafe() was called from the event loop's own thread, where it would "
                "deadlock; use 'await bus.publish(event)' there"
            )
        if self._handoff is None:
            raise BusClosedError("cannot publish: the bus is not running (use 'async with EventBus() as bus:')")
        self._handoff.hand_over(event, wait=wait, before_waiting=before_waiting)

    def subscribers_of(self, event_type: type[Event]) -> tuple[Subscription, ...]:
        """The subscriptions an event of ``event_type`` published now would reach, in order.

        A publisher may skip making events nobody receives, or choose ``wait=False`` for events only
        queued subscribers receive. Call it on the event loop's thread.
        """
        try:
            plan = self._plans[event_type]
        except KeyError:
            plan = self._plan(event_type)
        return tuple(subscription for subscription, _, _ in plan.steps)

    def _plan(self, event_type: type) -> _Plan:
        if not (isinstance(event_type, type) and issubclass(event_type, Event)):
            raise TypeError(f"can only publish instances of eventbus.Event subclasses; got {event_type.__qualname__}")
        if self._state != _RUNNING:
            raise BusClosedError(
                "cannot publish: the bus is not running (use 'async with EventBus() as bus:')"
                if self._state == _NEW
                else "cannot publish: the bus has been left"
            )
        check_publishable(event_type)
        steps = []
        for subscription in self._subscriptions:
            handler, is_async = subscription.handler_for(event_type)
            if handler is None:
                continue
            kind = _QUEUED if subscription.mode == "queued" else _INLINE_ASYNC if is_async else _INLINE_DEF
            steps.append((subscription, handler, kind))
        queued = [s for s, _, kind in steps if kind == _QUEUED]
        plan = _Plan(
            calls=tuple(h for _, h, _ in steps)
            if all(k == _INLINE_DEF and s.where is None for s, _, k in steps)
            else None,
            steps=tuple(steps),
            awaited=tuple(s for s, _, kind in steps if kind == _INLINE_ASYNC),
            waits_for_room=tuple(s for s in queued if s.mailbox.overflow in ("block", "keep_latest")),  # type: ignore[union-attr]
            refuses_when_full=tuple(s for s in queued if s.mailbox.overflow == "error"),  # type: ignore[union-attr]
            keeps_places=tuple(s for s in queued if s.mailbox.overflow != "drop_oldest"),  # type: ignore[union-attr]
            only_queued=len(queued) == len(steps),
            filtered=any(s.where is not None for s, _, _ in steps),
            snapshots=event_type.snapshot is not Event.snapshot,
        )
        self._plans[event_type] = plan
        return plan

    def _deliver_at_once(self, events: list[Event], start: int) -> int:
        """Deliver ``events[start]`` and the events of its type right after it in one go, if that
        needs neither a wait nor a handler: their only subscribers are queued, unfiltered, none with
        ``overflow="error"``, and those that wait for room have room for them. Returns how many it
        delivered, at most all of them; 0 if ``events[start]`` must be published the usual way.

        What each subscriber receives is what :meth:`publish` of each event in turn would give it,
        in the same order; only the per-event work is done once per subscriber for the lot. The
        thread handoff calls it with the events that threads handed over without waiting.
        """
        event_type = type(events[start])
        plan = self._plans.get(event_type)
        if plan is None or not plan.only_queued or plan.filtered or plan.refuses_when_full or self._turn is not None:
            return 0
        end = start + 1
        while end < len(events) and type(events[end]) is event_type:
            end += 1
        for subscription in plan.waits_for_room:
            mailbox = subscription.mailbox
            assert mailbox is not None
            if _takes(subscription, events[start]):
                end = min(end, start + mailbox.maxsize - mailbox.held)
        if end <= start:
            return 0
        group = [event.snapshot() for event in events[start:end]] if plan.snapshots else events[start:end]
        for subscription, _, _ in plan.steps:
            if _takes(subscription, group[0]):
                subscription.enqueue_all(group)
        return end - start

    async def _deliver(self, plan: _Plan, event: Event) -> None:
        """Deliver ``event`` in its turn: one delivery at a time may await (an inline ``async def``
        handler), and no other delivery begins until it is over, so every subscriber sees one order
        and no inline handler is entered twice at once. A delivery that never awaits after it has room
        needs no turn: nothing can come between its steps."""
        if self._turn is None and not plan.awaited:
            if _first_without_room(plan.waits_for_room, event) is not None:
                await _wait_for_room(plan.waits_for_room, event)
            if self._turn is None:
                if plan.only_queued:
                    _enqueue_everywhere(plan, event)
                else:
                    await self._hand_out(plan, event, holds_turn=False)
                return
        me = _current_task()
        if self._turn == me:
            # Published by a handler of the delivery under way (or code it awaits): delivered now,
            # depth first, as a nested call would be; waiting for the turn would wait for itself.
            await _wait_for_room(plan.waits_for_room, event)
            await self._hand_out(plan, event, holds_turn=True)
            return
        while True:
            # Room first, then the turn: a turn is never held while waiting for a consumer, which
            # may itself be waiting to publish.
            await _wait_for_room(plan.waits_for_room, event)
            await self._take_turn(me)
            if _first_without_room(plan.waits_for_room, event) is None:
                break
            self._pass_turn()
        try:
            await self._hand_out(plan, event, holds_turn=True)
        finally:
            self._pass_turn()

    async def _hand_out(self, plan: _Plan, event: Event, *, holds_turn: bool) -> None:
        """Give ``event`` to each subscriber in order; every queue that takes it has room (or its
        policy makes some). ``overflow="error"`` queues are checked, and a place kept in each queue
        with room, before anyone receives it, so a refusal delivers to nobody."""
        reserved = _reserve_places(plan, event)
        took_turn = False
        try:
            snapshot = None
            for subscription, handler, kind in plan.steps:
                if kind == _INLINE_DEF:
                    if _takes(subscription, event):
                        handler(event)
                        snapshot = None  # the handler may have added to what the event carries
                    continue
                if kind == _INLINE_ASYNC:
                    if _takes(subscription, event):
                        await handler(event)
                        snapshot = None
                    continue
                if snapshot is None:
                    snapshot = _snapshot(plan, event)
                if _enqueue_reserved(subscription, snapshot, reserved, event):
                    continue
                mailbox = subscription.mailbox
                assert mailbox is not None
                if not mailbox.has_room_for(snapshot):
                    # A keep_latest queue that was full but could coalesce, and a handler's nested
                    # publish or its consumer took away what it could coalesce.
                    if not holds_turn and not took_turn:
                        self._turn, took_turn = _current_task(), True
                    await _wait_for_room((subscription,), snapshot)
                    if not _takes(subscription, event):
                        continue
                subscription.enqueue(snapshot)
        finally:
            _unreserve(reserved)
            if took_turn:
                self._pass_turn()

    async def _take_turn(self, me: object) -> None:
        if self._turn is None:
            self._turn = me
            return
        called = anyio.Event()
        entry = (me, called)
        self._turn_waiters.append(entry)
        try:
            await called.wait()
        except BaseException:
            if self._turn is me:
                self._pass_turn()  # it was passed to us as we were cancelled: pass it on
            else:
                self._turn_waiters.remove(entry)
            raise

    def _pass_turn(self) -> None:
        if self._turn_waiters:
            self._turn, called = self._turn_waiters.popleft()
            called.set()
        else:
            self._turn = None

    # -- barriers ------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Wait until every queued subscriber has handled every event published so far.

        Then raises :class:`DeliveryError` if queued handlers failed since the last barrier (each
        failure is reported once). Streams are not waited for.
        """
        await self._wait_for_consumers()
        self._raise_failures()

    @property
    def has_failures(self) -> bool:
        """Whether queued handlers failed since the last barrier. Cheap, and safe to read from any
        thread: a publisher may poll it to stop early, then call :meth:`drain` to raise the failures."""
        return bool(self._failures)

    async def _wait_for_consumers(self) -> None:
        if self._handoff is not None:
            await self._handoff.wait_published()
        targets = [(subscription, subscription.accepted) for subscription in self._consumers]
        for subscription, target in targets:
            await subscription.wait_settled(target)

    def _raise_failures(self) -> None:
        if self._failures:
            failures, self._failures = self._failures, []
            raise DeliveryError(failures) from failures[0].error

    # -- lifetime ------------------------------------------------------------------------------

    async def __aenter__(self) -> EventBus:
        if self._state != _NEW:
            raise RuntimeError("an EventBus can be entered only once; make a new one")
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._loop_thread = threading.get_ident()
        self._handoff = ThreadHandoff(
            self.publish, self._record_inline_failure, THREAD_HANDOFF_MAXSIZE, deliver_at_once=self._deliver_at_once
        )
        self._task_group.start_soon(self._handoff.pump, name="eventbus thread handoff")
        self._state = _RUNNING
        for subscription in self._consumers:
            self._start_consumer(subscription)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        undelivered: dict[str, list[object]] = {}
        try:
            if exc_type is None:
                undelivered = await self._drain_before_leaving()
        finally:
            self._state = _CLOSED
            self._plans.clear()
            if self._handoff is not None:
                self._handoff.close()
            for subscription in self._subscriptions:
                if subscription.mailbox is not None:
                    subscription.mailbox.close()
            assert self._task_group is not None
            self._task_group.cancel_scope.cancel()
            # The body's own exception propagates unwrapped; the consumers never raise.
            await self._task_group.__aexit__(None, None, None)
        if undelivered:
            failures, self._failures = self._failures, []
            raise UndeliveredEventsError(self.drain_timeout or 0.0, undelivered, failures)
        if exc_type is None:
            self._raise_failures()
        for failure in self._failures:
            logger.error("while leaving the bus on an exception: %s", failure, exc_info=failure.error)

    async def _drain_before_leaving(self) -> dict[str, list[object]]:
        with anyio.move_on_after(self.drain_timeout):
            assert self._handoff is not None
            self._handoff.close()  # threads may publish no more; what they handed over still goes out
            await self._handoff.wait_published()
            self._state = _CLOSING
            self._plans.clear()
            await self._wait_for_consumers()
            return {}
        return {s.name: list(s.unhandled()) for s in self._consumers if s.settled < s.accepted}

    def _record_inline_failure(self, event: Event, exc: Exception) -> None:
        self._failures.append(HandlerFailure("an inline subscriber", event.hook or "handler", event, exc))

    def _start_consumer(self, subscription: Subscription) -> None:
        assert self._task_group is not None

        async def consume() -> None:
            try:
                await subscription.consume()
            finally:
                self._consumers.remove(subscription)

        self._task_group.start_soon(consume, name=f"eventbus consumer {subscription.name!r}")


async def _wait_for_room(subscriptions: tuple[Subscription, ...], event: Event) -> None:
    """Wait until every one of ``subscriptions`` can take ``event`` (checked all at once, no await between)."""
    while (full := _first_without_room(subscriptions, event)) is not None:
        await full.mailbox.wait_for_room()  # type: ignore[union-attr]


def _first_without_room(subscriptions: tuple[Subscription, ...], event: Event) -> Subscription | None:
    """The first of ``subscriptions`` (queued ones) that would take ``event`` but has no room for it."""
    for subscription in subscriptions:
        mailbox = subscription.mailbox
        assert mailbox is not None
        # The count first: it settles the common case, a queue with room, without a call.
        if mailbox.held >= mailbox.maxsize and _takes(subscription, event) and not mailbox.has_room_for(event):
            return subscription
    return None


def _snapshot(plan: _Plan, event: Event) -> Event:
    return event.snapshot() if plan.snapshots else event


def _takes(subscription: Subscription, event: Event) -> bool:
    """Whether ``subscription`` still takes events (active, its queue open) and its ``where`` filter,
    if any, lets ``event`` through."""
    if not subscription.active or (subscription.mailbox is not None and subscription.mailbox.closed):
        return False
    return subscription.where is None or bool(subscription.where(event))


def _enqueue_everywhere(plan: _Plan, event: Event) -> None:
    """Deliver ``event`` when every subscriber is queued and each that waits for room has it: no
    handler runs in between, so nothing can take a place, and no place need be kept."""
    for subscription in plan.refuses_when_full:
        mailbox = subscription.mailbox
        assert mailbox is not None
        if mailbox.full and _takes(subscription, event):
            subscription.reject()
            raise QueueFullError(subscription.name, mailbox.maxsize, event)
    snapshot = _snapshot(plan, event)
    for subscription, _, _ in plan.steps:
        if _takes(subscription, event):
            subscription.enqueue(snapshot)


def _reserve_places(plan: _Plan, event: Event) -> list[Subscription]:
    """Keep a place for ``event`` in every queue of ``plan`` that takes it and has room; raise
    :class:`QueueFullError`, having kept none, if an ``overflow="error"`` queue that takes it is full."""
    for subscription in plan.refuses_when_full:
        mailbox = subscription.mailbox
        assert mailbox is not None
        if mailbox.full and _takes(subscription, event):
            subscription.reject()
            raise QueueFullError(subscription.name, mailbox.maxsize, event)
    reserved = []
    for subscription in plan.keeps_places:
        mailbox = subscription.mailbox
        assert mailbox is not None
        if not mailbox.full and _takes(subscription, event):
            mailbox.reserve()
            reserved.append(subscription)
    return reserved


def _enqueue_reserved(subscription: Subscription, snapshot: Event, reserved: list[Subscription], event: Event) -> bool:
    """Put ``snapshot`` in the place kept for it in ``subscription``'s queue, if one was; return
    whether the queue is dealt with (an ``error`` queue without a place did not take the event)."""
    if subscription in reserved:
        reserved.remove(subscription)
        mailbox = subscription.mailbox
        assert mailbox is not None
        mailbox.unreserve()  # the place it frees is this event's: nothing runs before the put
        if _takes(subscription, event):
            subscription.enqueue(snapshot)
        return True
    if subscription.mailbox is not None and subscription.mailbox.overflow == "error":
        return True
    return not _takes(subscription, event)


def _unreserve(reserved: list[Subscription]) -> None:
    for subscription in reserved:
        subscription.mailbox.unreserve()  # type: ignore[union-attr]


def _current_task() -> object:
    return anyio.get_current_task().id


def _hook_method(obj: object, hook: str) -> Callable[[Any], Any] | None:
    """The method of ``obj`` named ``hook`` if it really defines one (not a :func:`noop_hook`)."""
    method = getattr(obj, hook, None) if hook else None
    if method is None or is_noop_hook(method):
        return None
    return check_handler(method, f"{type(obj).__name__}.{hook}")


def _name_of(handler: Callable[..., Any]) -> str:
    qualname = getattr(handler, "__qualname__", None)
    return qualname.rpartition("<locals>.")[2] if qualname else repr(handler)


def _read_by_stream(event: Event) -> None:
    raise AssertionError("a stream's events are read by its iterator, never handled by the bus")


def _check_choice(parameter: str, value: object, allowed: tuple[str, ...]) -> None:
    if value in allowed:
        return
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    options = ", ".join(repr(a) for a in allowed)
    raise ValueError(f"{parameter} must be one of {options}; got {value!r}{hint}")
