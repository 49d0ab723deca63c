"""Where each lifecycle event of a run goes: hooks called in the compute thread, and what the bus gets.

A run has one publisher of lifecycle events, its compute thread, so it can work out once, per event
type, the order in which its callbacks take that event, and call the ``delivery = "thread"`` ones
right where the event happens, as Keras calls its callbacks, without a round trip to the event loop.
What it calls in the thread and what it hands to the bus keep the callbacks' order exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .callbacks.callback import Callback
from .callbacks.lanes import Lanes
from .callbacks.subscriber import delivery_of, overridden_hooks, subscribe_callback, thread_calls
from .events import LIFECYCLE_EVENTS, BatchEvent, LifecycleEvent

__all__ = ["HAND_OVER", "SKIP", "WAIT", "Route", "plan_routes"]

SKIP, HAND_OVER, WAIT = 0, 1, 2
"""What the bus gets: nothing; the event without waiting (queued subscribers only); the event, waited for."""

Call = Callable[[LifecycleEvent], None]


@dataclass(frozen=True, slots=True)
class Route:
    """How the compute thread delivers one event type, in the callbacks' order.

    ``before`` are called in the thread first; then the bus gets the event (``bus``); then ``after``
    are called in the thread. ``after`` is only ever set when the bus's part is queued subscribers
    alone, which get a snapshot taken before ``after`` runs, as they would at their place in line.
    """

    before: tuple[Call, ...]
    bus: int
    after: tuple[Call, ...]
    every: float = 0.0
    """If set, the event is made at most once every so many seconds: its takers only sample it."""
    queued_only: bool = field(init=False)
    """Queued subscribers on the bus alone take the event: no hook in the compute thread."""

    def __post_init__(self) -> None:
        # Worked out once: the compute thread asks at every event.
        object.__setattr__(self, "queued_only", self.bus == HAND_OVER and not self.before and not self.after)

    @property
    def silent(self) -> bool:
        """Nobody takes the event: it need not be made, nor its logs computed."""
        return not self.before and not self.after and self.bus == SKIP


def plan_routes(callbacks: Sequence[Callback], lanes: Lanes, *, forwarded: bool) -> dict[type[LifecycleEvent], Route]:
    """Subscribe ``callbacks`` to the run's bus (``lanes.bus``) and return how each event type is delivered.

    For one event type, the callbacks that take it, in order, are split so: the ``thread`` ones
    before any other are called in the compute thread; if what follows is queued callbacks (one
    group: ``forwarded`` counts as one more, last) and then only ``thread`` ones, those are called
    in the thread too, after handing the queued ones a snapshot. Otherwise everything from the first
    non-``thread`` callback on goes through the bus, ``thread`` ones included (run there inline, on
    the loop's thread, while the compute thread waits), so that an inline callback on the loop
    sees what the callbacks before it added to ``logs``, and those after it see what it added.
    A ``thread`` callback is subscribed to the bus only for the event types it takes there. A batch
    event that only ``thread`` callbacks take, each with a ``batch_interval``, is made at most once
    every so often: the shortest of their intervals.
    """
    kinds = [delivery_of(callback) for callback in callbacks]
    for callback in callbacks:
        _check_batch_interval(callback)
    hooks = [overridden_hooks(callback) for callback in callbacks]
    calls = [thread_calls(callback) if kind == "thread" else {} for callback, kind in zip(callbacks, kinds)]
    on_bus: list[list[type[LifecycleEvent]]] = [[] for _ in callbacks]
    routes: dict[type[LifecycleEvent], Route] = {}
    for event_type in LIFECYCLE_EVENTS:
        line = [index for index in range(len(callbacks)) if event_type.hook in hooks[index]]
        steps = [kinds[index] for index in line] + (["queued"] if forwarded else [])
        lead = _count_leading(steps, "thread")
        rest = steps[lead:]
        queued = _count_leading(rest, "queued")
        tail = 0
        if not rest:
            bus = SKIP
        elif queued and all(kind == "thread" for kind in rest[queued:]):
            bus, tail = HAND_OVER, len(rest) - queued
        else:
            bus = WAIT if any(kind != "queued" for kind in rest) else HAND_OVER
        for index in line[lead : len(line) - tail]:
            on_bus[index].append(event_type)
        sampled = bus == SKIP and issubclass(event_type, BatchEvent) and all(callbacks[i].batch_interval > 0 for i in line)
        routes[event_type] = Route(
            before=tuple(calls[index][event_type.hook] for index in line[:lead]),
            bus=bus,
            after=tuple(calls[index][event_type.hook] for index in line[len(line) - tail :]) if tail else (),
            every=min(callbacks[index].batch_interval for index in line) if sampled and line else 0.0,
        )
    for callback, kind, types in zip(callbacks, kinds, on_bus):
        subscribe_callback(callback, lanes, types if kind == "thread" else LIFECYCLE_EVENTS)
    return routes


def _check_batch_interval(callback: Callback) -> None:
    interval = callback.batch_interval
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 <= interval < float("inf"):
        raise ValueError(
            f"{type(callback).__name__}.batch_interval must be a number of seconds >= 0 (0: every batch); got {interval!r}"
        )


def _count_leading(steps: list[str], kind: str) -> int:
    count = 0
    while count < len(steps) and steps[count] == kind:
        count += 1
    return count

