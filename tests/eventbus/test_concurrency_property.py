"""Properties that must hold under concurrent publishers (tasks and threads), on both backends.

Each test is bounded (a few dozen examples, small sizes) so the suite stays fast; the failures they
were written for showed within the first examples.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import EventBus, QueueFullError

from .events import Ping, Pong

pytestmark = pytest.mark.anyio

# A few dozen examples of a few milliseconds each; an example past the deadline (or a delivery
# that never ends, caught by the fail_after in each) is a failure, never a hung suite.
bounded = settings(max_examples=30, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.function_scoped_fixture])
EXAMPLE_SECONDS = 4


@asynccontextmanager
async def _bounded_bus() -> AsyncIterator[EventBus]:
    with anyio.fail_after(EXAMPLE_SECONDS):
        async with EventBus() as bus:
            yield bus
PAUSES = [0, 0, 0, 0.0002, 0.001]


@bounded
@given(
    maxsize=st.integers(min_value=1, max_value=6),
    overflow=st.sampled_from(["block", "drop_oldest", "keep_latest", "error"]),
    is_async=st.booleans(),
    events=st.integers(min_value=1, max_value=40),
    publishers=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=2**16),
)
async def test_maxsize_bounds_what_a_subscriber_holds(
    maxsize: int, overflow: str, is_async: bool, events: int, publishers: int, seed: int
) -> None:
    """After any publish returns, events accepted but neither handled nor dropped never exceed
    ``maxsize``, whatever the policy: what waits in the queue and what the consumer has taken both
    count. Nothing accepted is lost but what the policy dropped."""
    pauses = random.Random(seed)
    accepted: list[int] = []
    refused = 0
    handled: list[int] = []
    worst = 0

    def handle(event: Ping | Pong) -> None:
        handled.append(event.n)

    async def handle_async(event: Ping | Pong) -> None:
        await anyio.sleep(pauses.choice(PAUSES))
        handled.append(event.n)

    async with _bounded_bus() as bus:
        subscription = bus.subscribe(
            (Ping, Pong), handle_async if is_async else handle, mode="queued", maxsize=maxsize, overflow=overflow  # type: ignore[arg-type]
        )

        async def publisher(first: int) -> None:
            nonlocal refused, worst
            for n in range(first, events, publishers):
                try:
                    await bus.publish((Ping if n % 3 else Pong)(n))
                except QueueFullError:
                    refused += 1
                    await anyio.sleep(0.0005)
                    continue
                accepted.append(n)
                dropped = subscription.stats.dropped - refused
                worst = max(worst, len(accepted) - len(handled) - dropped)
                if pauses.random() < 0.3:
                    await anyio.sleep(0)

        async with anyio.create_task_group() as group:
            for first in range(publishers):
                group.start_soon(publisher, first)
    assert worst <= maxsize, f"{worst} events outstanding with maxsize={maxsize}, overflow={overflow!r}"
    assert set(handled) <= set(accepted)
    assert len(handled) == len(accepted) - (subscription.stats.dropped - refused)
    if overflow == "block":
        assert sorted(handled) == list(range(events))


@bounded
@given(
    maxsize=st.integers(min_value=1, max_value=3),
    publishers=st.integers(min_value=2, max_value=4),
    events=st.integers(min_value=2, max_value=12),
    seed=st.integers(min_value=0, max_value=2**16),
)
async def test_a_refused_event_reaches_nobody(maxsize: int, publishers: int, events: int, seed: int) -> None:
    """An inline ``async def`` subscriber ahead of an ``overflow="error"`` queue, several publishers
    at once: an event refused with QueueFullError was delivered to no subscriber, and every event
    not refused reached all of them."""
    pauses = random.Random(seed)
    before: list[int] = []
    queued: list[int] = []
    after: list[int] = []
    refused: list[int] = []

    async def inline_first(event: Ping) -> None:
        before.append(event.n)
        await anyio.sleep(pauses.choice(PAUSES))

    async def slow_queue(event: Ping) -> None:
        await anyio.sleep(0.001)
        queued.append(event.n)

    async with _bounded_bus() as bus:
        bus.subscribe(Ping, inline_first)
        bus.subscribe(Ping, slow_queue, mode="queued", maxsize=maxsize, overflow="error")
        bus.subscribe(Ping, lambda event: after.append(event.n))

        async def publisher(first: int) -> None:
            for n in range(first, events, publishers):
                try:
                    await bus.publish(Ping(n))
                except QueueFullError:
                    refused.append(n)

        async with anyio.create_task_group() as group:
            for first in range(publishers):
                group.start_soon(publisher, first)
    delivered = sorted(set(range(events)) - set(refused))
    assert not set(refused) & set(before), f"refused {refused}; the inline subscriber saw {before}"
    assert sorted(before) == sorted(queued) == sorted(after) == delivered


def _total_order_violations(seen: list[list[Any]]) -> list[str]:
    """For every two subscribers, the events both received must come in the same relative order."""
    problems = []
    for i, first in enumerate(seen):
        for j in range(i + 1, len(seen)):
            common = set(first) & set(seen[j])
            a = [e for e in first if e in common]
            b = [e for e in seen[j] if e in common]
            if a != b:
                problems.append(f"subscriber {i} saw {a}, subscriber {j} saw {b}")
    return problems


subscriber_kinds = st.lists(
    st.tuples(st.sampled_from(["def", "async def", "queued def", "queued async def"]), st.sampled_from([Ping, Pong, None])),
    min_size=2,
    max_size=5,
)


@bounded
@given(
    kinds=subscriber_kinds,
    task_publishers=st.integers(min_value=1, max_value=3),
    thread_publishers=st.integers(min_value=0, max_value=2),
    per_publisher=st.integers(min_value=1, max_value=8),
    seed=st.integers(min_value=0, max_value=2**16),
)
async def test_one_order_for_all_subscribers(
    kinds: list[tuple[str, type | None]], task_publishers: int, thread_publishers: int, per_publisher: int, seed: int
) -> None:
    """Concurrent publishers (tasks and worker threads) and inline ``async def`` subscribers: every
    subscriber sees the events it shares with any other in the same order, and no inline handler is
    entered while it is already running."""
    pauses = random.Random(seed)
    seen: list[list[tuple[str, int]]] = [[] for _ in kinds]
    running = [0] * len(kinds)
    overlaps: list[int] = []

    def make_handler(index: int, kind: str) -> Callable[[Any], Any]:
        sink = seen[index]
        if kind.endswith("async def"):

            async def handler(event: Ping | Pong) -> None:
                running[index] += 1
                if running[index] > 1:
                    overlaps.append(index)
                sink.append((type(event).__name__, event.n))
                await anyio.sleep(pauses.choice(PAUSES))
                running[index] -= 1

            return handler
        return lambda event: sink.append((type(event).__name__, event.n))

    async with _bounded_bus() as bus:
        for index, (kind, event_type) in enumerate(kinds):
            types: Any = (Ping, Pong) if event_type is None else event_type
            mode = "queued" if kind.startswith("queued") else "inline"
            bus.subscribe(types, make_handler(index, kind), mode=mode, maxsize=3)

        async def task_publisher(who: int) -> None:
            for k in range(per_publisher):
                event_type = Ping if (who + k) % 2 else Pong
                await bus.publish(event_type(who * 100 + k))
                if pauses.random() < 0.5:
                    await anyio.sleep(0)

        def thread_publisher(who: int) -> None:
            for k in range(per_publisher):
                bus.publish_threadsafe(Ping(who * 100 + k), wait=k % 2 == 0)

        async with anyio.create_task_group() as group:
            for who in range(task_publishers):
                group.start_soon(task_publisher, who)
            for who in range(thread_publishers):
                group.start_soon(anyio.to_thread.run_sync, thread_publisher, 50 + who)
    assert not overlaps, f"inline handlers {sorted(set(overlaps))} were entered while already running"
    assert _total_order_violations(seen) == []
    published = {("Ping" if (who + k) % 2 else "Pong", who * 100 + k) for who in range(task_publishers) for k in range(per_publisher)}
    published |= {("Ping", (50 + who) * 100 + k) for who in range(thread_publishers) for k in range(per_publisher)}
    for (_, event_type), sink in zip(kinds, seen):
        wanted = {e for e in published if event_type is None or e[0] == event_type.__name__}
        assert sorted(sink) == sorted(wanted)

async def test_two_publishers_and_an_inline_async_subscriber_give_one_order() -> None:
    """The case the property found: a subscriber before an inline async one saw [1, 2], the one
    after it [2, 1], and the async handler ran twice at once."""
    first: list[int] = []
    last: list[int] = []
    inside = 0
    most_inside = 0
    release = anyio.Event()

    async def slow(event: Ping) -> None:
        nonlocal inside, most_inside
        inside += 1
        most_inside = max(most_inside, inside)
        if event.n == 1:
            await release.wait()
        inside -= 1

    async with EventBus() as bus:
        bus.subscribe(Ping, lambda e: first.append(e.n))
        bus.subscribe(Ping, slow)
        bus.subscribe(Ping, lambda e: last.append(e.n))
        async with anyio.create_task_group() as group:
            group.start_soon(bus.publish, Ping(1))
            await anyio.sleep(0.01)
            group.start_soon(bus.publish, Ping(2))
            await anyio.sleep(0.01)
            release.set()
    assert first == last == [1, 2]
    assert most_inside == 1


async def test_a_nested_publish_from_an_inline_async_handler_goes_out_at_once() -> None:
    """A handler that publishes while its own event is being delivered does not wait for its own
    delivery to end (that would deadlock): the nested event is delivered there and then."""
    seen: list[str] = []

    async def relay(event: Ping) -> None:
        seen.append(f"relay {event.n}")
        if event.n == 0:
            await bus.publish(Ping(1))

    async with EventBus() as bus:
        bus.subscribe(Ping, relay)
        bus.subscribe(Ping, lambda e: seen.append(f"last {e.n}"))
        with anyio.fail_after(5):
            await bus.publish(Ping(0))
    assert seen == ["relay 0", "relay 1", "last 1", "last 0"]


async def test_publish_nowait_from_another_task_during_a_delivery_would_block() -> None:
    """While another task's delivery waits in an inline async handler, publish_nowait cannot go
    ahead of it without breaking the order, and it cannot wait: it raises WouldBlock, and delivers
    to nobody."""
    seen: list[int] = []
    entered = anyio.Event()
    release = anyio.Event()

    async def slow(event: Pong) -> None:
        entered.set()
        await release.wait()

    async with EventBus() as bus:
        bus.subscribe((Ping, Pong), lambda e: seen.append(e.n))
        bus.subscribe(Pong, slow)
        async with anyio.create_task_group() as group:
            group.start_soon(bus.publish, Pong(1))
            await entered.wait()
            with pytest.raises(anyio.WouldBlock):
                bus.publish_nowait(Ping(2))
            release.set()
        bus.publish_nowait(Ping(3))
    assert seen == [1, 3]

