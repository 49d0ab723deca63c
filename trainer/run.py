"""A run: one ``fit``, ``evaluate`` or ``predict`` call, its callbacks on a bus, and its compute thread."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from time import monotonic
from types import MappingProxyType
from typing import Any, TypeVar

import anyio
import anyio.from_thread

from eventbus import EventBus, Subscription

from .callbacks.callback import Callback
from .callbacks.lanes import FINISH_SECONDS, Lanes
from .events import LifecycleEvent
from .routes import HAND_OVER, WAIT, Route, plan_routes
from .turns import current_turns

__all__ = ["Run", "open_run"]

T = TypeVar("T")

_run_numbers = itertools.count(1)

logger = logging.getLogger("trainer")


class QueuedCallbackFailed(Exception):
    """Raised in the compute thread to stop at once; the run then raises the bus's DeliveryError."""


class Run:
    """What the compute thread of a run uses to publish its lifecycle.

    An event nobody receives is never made. An event of a type that only the application's bus
    (``forward_to``) would take from the run is made only if, when it happens, a subscription of that
    bus takes its type: asked at every event, from the compute thread, so a subscriber that comes in
    the middle of a run receives the events of its types from the next one on, and a batch event
    nobody listens to costs a step nothing. Each event type goes as its :class:`~trainer.routes.Route`
    says: ``delivery = "thread"`` callbacks are called right here, in the compute thread; what the
    bus gets, if anything, is handed to the event loop without waiting when only queued subscribers
    receive it there, else waited for, so that what inline callbacks do (``stop_training``, a new
    learning rate, keys added to ``logs``) takes effect before the next step.

    Started inside :func:`~trainer.turns.taking_turns`, the run computes its steps only in its
    turn (:meth:`take_turn`), passes it on before a step when its slice is over, and gives it up
    whenever its thread waits for the event loop.
    """

    def __init__(
        self,
        bus: EventBus,
        run_id: str,
        routes: dict[type[LifecycleEvent], Route],
        forward_to: EventBus | None = None,
        forwarded_only: frozenset[type[LifecycleEvent]] = frozenset(),
    ) -> None:
        self.bus = bus
        self.id = run_id
        self._routes = {event_type: None if route.silent else route for event_type, route in routes.items()}
        self._forward_to = forward_to
        self._forwarded_only = forwarded_only  # the types that nobody but forward_to takes
        self._seen: tuple[Subscription, ...] | None = None  # forward_to's subscriptions when last asked
        self._taken_downstream: dict[type[LifecycleEvent], bool] = {}  # by those subscriptions
        self._next_due: dict[type[LifecycleEvent], float] = {}  # for sampled events: when the next may be made
        turns = current_turns()
        self._turn = None if turns is None else turns._turn()

    def compute(self, loop: Callable[[], T]) -> T:
        """Call ``loop`` in the compute thread; whatever happens, it holds no turn afterwards."""
        try:
            return loop()
        finally:
            if self._turn is not None:
                self._turn.give_back()

    def wants(self, event_type: type[LifecycleEvent]) -> bool:
        """Whether anyone receives ``event_type`` now; if not, there is no need to compute its logs."""
        route = self._routes[event_type]
        if route is None or (route.every and monotonic() < self._next_due.get(event_type, 0.0)):
            return False
        return event_type not in self._forwarded_only or self._taken_by_application(event_type)

    def emit(self, event_type: type[LifecycleEvent], logs: dict[str, Any], *index: int) -> None:
        """Publish from the compute thread: ``event_type(run, logs, *index)``, ``index`` the epoch or
        batch of the events that have one. ``logs`` must not change afterwards unless it waited.

        Nothing is published once the run is cancelled: no hook starts after the cancellation. One
        that comes while the thread waits for inline hooks stops the wait within
        :data:`~eventbus.handoff.CANCEL_POLL_SECONDS`; the hooks, on the run's own bus, are cancelled too.
        """
        route = self._routes[event_type]
        if route is None or (event_type in self._forwarded_only and not self._taken_by_application(event_type)):
            return
        if route.every:  # its takers only sample it: at most one every so often
            now = monotonic()
            if now < self._next_due.get(event_type, 0.0):
                return
            self._next_due[event_type] = now + route.every
        anyio.from_thread.check_cancelled()
        if route.queued_only:
            self._hand_over(event_type, logs, index)
            return
        event = event_type(self.id, logs, *index)  # positional: keywords cost a batch event 30% more
        for call in route.before:
            call(event)
        if route.bus == WAIT:
            # Waiting for the loop with the turn held could wait for another run that needs the turn;
            # take_turn() takes it back before the next step.
            self.bus.publish_threadsafe(event, wait=True, before_waiting=None if self._turn is None else self._turn.lend)
        elif route.bus == HAND_OVER:
            # The queued subscribers' copy is taken now, at their place in line: before `after` runs,
            # and before hooks of later events, which run while the loop takes this one, could
            # change the same logs (on_train_end's are on_epoch_end's). The bus needs no other copy.
            self.bus.publish_threadsafe(event.snapshot(), wait=False, before_waiting=self._lend)
            for call in route.after:
                call(event)

    def _hand_over(self, event_type: type[LifecycleEvent], logs: dict[str, Any], index: tuple[int, ...]) -> None:
        """Publish, when queued subscribers alone receive ``event_type``, its read-only copy: made
        as the event itself, since no hook in this thread is given the live one."""
        event = event_type(self.id, MappingProxyType(dict(logs)), *index)
        self.bus.publish_threadsafe(event, wait=False, before_waiting=self._lend)

    def checkpoint(self) -> None:
        """Between steps: raise if the awaiting task was cancelled or a queued callback failed."""
        anyio.from_thread.check_cancelled()
        if self.bus.has_failures:
            raise QueuedCallbackFailed

    def _taken_by_application(self, event_type: type[LifecycleEvent]) -> bool:
        # Asked from the compute thread, so the bus's own (loop-side) plans are not touched: its
        # subscriptions are read as one copy, and what a subscription takes depends on the type alone.
        assert self._forward_to is not None
        subscriptions = self._forward_to.subscriptions
        if subscriptions is not self._seen:  # the bus gives one tuple until its subscriptions change
            self._seen, self._taken_downstream = subscriptions, {}
        try:
            return self._taken_downstream[event_type]
        except KeyError:
            taken = any(subscription.handler_for(event_type)[0] is not None for subscription in subscriptions)
            self._taken_downstream[event_type] = taken
            return taken

    def _lend(self) -> None:
        if self._turn is not None:
            self._turn.lend()

    def take_turn(self) -> None:
        """Right before computing steps: wait for the run's turn, if it takes turns (keeping it if
        its slice is not over); raises if the awaiting task was cancelled meanwhile."""
        if self._turn is not None:
            self._turn.keep_or_pass()


@asynccontextmanager
async def open_run(
    kind: str,
    model: Any,
    callbacks: Sequence[Callback],
    params: dict[str, Any],
    app_bus: EventBus | None,
    run_id: str | None = None,
) -> AsyncIterator[Run]:
    """A private bus with ``callbacks`` subscribed in order (and every event forwarded to ``app_bus``,
    of the types that only it takes while one of its subscriptions takes them: see :class:`Run`).

    On leaving without error, waits until every queued callback has handled every event and raises
    :class:`~eventbus.DeliveryError` if one failed, naming the callback, the hook and the event. On
    leaving with an error or a cancellation, finishes the work hooks handed over (checkpoint and
    backup writes) first and gives ``app_bus`` the events it had not yet forwarded, then lets the
    queued callbacks go.
    """
    if run_id is None:
        run_id = f"{kind}-{next(_run_numbers)}"
    elif not isinstance(run_id, str) or not run_id:
        raise ValueError(f"run_id must be a non-empty string; got {run_id!r}")
    async with EventBus() as bus:
        lanes = Lanes(bus, run_id)
        for callback in callbacks:
            callback.set_model(model)
            callback.set_params(params)
            callback.set_callbacks(callbacks)
        routes = plan_routes(callbacks, lanes, forwarded=app_bus is not None)
        forwarded_only: frozenset[type[LifecycleEvent]] = frozenset()
        if app_bus is not None:
            # Asked before the forward subscribes: the types no callback takes, on the bus or in the thread.
            forwarded_only = frozenset(
                event_type for event_type, route in routes.items()
                if not route.before and not route.after and not bus.subscribers_of(event_type)
            )  # fmt: skip
            forward = bus.subscribe(LifecycleEvent, app_bus.publish, mode="queued", name="forward to the application's bus")
        try:
            try:
                yield Run(bus, run_id, routes, app_bus, forwarded_only)
            except QueuedCallbackFailed:
                pass  # the compute thread stopped early; the drain below raises the failure itself
            await bus.drain()
        except BaseException:
            # Cancelled or failed, in training or in the drain: the slow parts handed over get their grace.
            for failure in await lanes.finish():
                # Logged, as the bus logs its own failures while leaving on an exception: the run's
                # exception (a cancellation, say) is the one that propagates.
                logger.error("run %s: work a callback had handed over failed as the run ended", run_id, exc_info=failure)
            if app_bus is not None:
                await _forward_the_rest(forward, app_bus)
            raise


async def _forward_the_rest(forward: Subscription, app_bus: EventBus) -> None:
    """Cancelled or failed: the application's bus still gets the events the run had published, in
    order, as the work handed over gets its grace (a job's journal must not miss the epoch whose
    backup was kept). Shielded, for up to :data:`~trainer.callbacks.lanes.FINISH_SECONDS`."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(FINISH_SECONDS):
        rest = forward.discard_unhandled()
        await forward.wait_settled(forward.accepted)  # the event the forward has in hand goes first
        for event in rest:
            await app_bus.publish(event)
