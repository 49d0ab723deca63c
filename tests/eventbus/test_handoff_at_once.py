"""Events a thread hands over without waiting go to queued subscribers in runs, at once: nothing about
what each subscriber receives may change for it (order, filters, policies, bounds, counts)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus import EventBus

from .events import Ping, Pong

pytestmark = pytest.mark.anyio

bounded = settings(max_examples=40, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.function_scoped_fixture])

subscribers = st.lists(
    st.tuples(
        st.sampled_from(["block", "drop_oldest", "keep_latest"]),
        st.integers(min_value=1, max_value=6),  # maxsize
        st.sampled_from(["async def", "def", "inline"]),
        st.booleans(),  # a where filter: even numbers only
        st.sampled_from([(Ping, Pong), Ping, Pong]),
    ),
    min_size=1,
    max_size=4,
)


@bounded
@given(
    specs=subscribers,
    kinds=st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=80),
    seed=st.integers(min_value=0, max_value=2**16),
)
async def test_what_each_subscriber_receives_is_what_it_would_one_event_at_a_time(
    specs: list[tuple[str, int, str, bool, Any]], kinds: list[int], seed: int
) -> None:
    """One thread hands over runs of Pings and Pongs without waiting. Every lossless subscriber
    receives exactly its events, filtered by its ``where``, in the order handed over; a lossy one a
    subsequence of them (with ``keep_latest``, ending with the last); none ever holds
    more than ``maxsize``; and each one's counts add up."""
    pauses = random.Random(seed)
    events = [Pong(n) if kind == 0 else Ping(n) for n, kind in enumerate(kinds)]  # mostly runs of Pings
    seen: list[list[int]] = [[] for _ in specs]
    worst = [0] * len(specs)
    subscriptions: list[Any] = []

    def record(index: int, event: Ping | Pong) -> None:
        seen[index].append(event.n)
        subscription = subscriptions[index]
        if subscription.mailbox is not None:
            worst[index] = max(worst[index], subscription.mailbox.held, subscription.stats.queued + 1)

    def make_handler(index: int, kind: str) -> Any:
        if kind == "async def":

            async def handler(event: Ping | Pong) -> None:
                record(index, event)
                if pauses.random() < 0.2:
                    await anyio.lowlevel.checkpoint()

            return handler
        return lambda event: record(index, event)

    with anyio.fail_after(10):
        async with EventBus() as bus:
            for index, (overflow, maxsize, kind, filtered, types) in enumerate(specs):
                mode = "inline" if kind == "inline" else "queued"
                where = (lambda event: event.n % 2 == 0) if filtered else None
                subscription = bus.subscribe(
                    types, make_handler(index, kind), mode=mode, maxsize=maxsize, overflow=overflow, where=where
                )
                subscriptions.append(subscription)

            def worker() -> None:
                for event in events:
                    bus.publish_threadsafe(event, wait=False)

            await anyio.to_thread.run_sync(worker)
            await bus.drain()

    for index, (overflow, maxsize, kind, filtered, types) in enumerate(specs):
        wanted = [e.n for e in events if isinstance(e, types) and (not filtered or e.n % 2 == 0)]
        subscription = subscriptions[index]
        if overflow == "block" or kind == "inline":
            assert seen[index] == wanted
        else:
            assert seen[index] == sorted(set(seen[index])) and set(seen[index]) <= set(wanted)
            if overflow == "keep_latest":  # it never discards the newcomer
                assert not wanted or seen[index][-1] == wanted[-1]
        if kind != "inline":
            assert worst[index] <= maxsize
            stats = subscription.stats
            assert stats.delivered + stats.dropped == subscription.accepted == len(wanted)
            assert stats.delivered == len(seen[index]) and stats.queued == 0


async def test_a_full_queue_takes_what_it_has_room_for_and_the_rest_waits_in_order() -> None:
    """A run longer than the room left: the part that fits goes at once, the rest waits for the
    consumer; order and the bound hold."""
    seen: list[int] = []
    held: list[int] = []

    async def slow(event: Ping) -> None:
        held.append(subscription.mailbox.held)  # type: ignore[union-attr]
        seen.append(event.n)
        await anyio.sleep(0.001)

    async with EventBus() as bus:
        subscription = bus.subscribe(Ping, slow, mode="queued", maxsize=3)

        def worker() -> None:
            for n in range(40):
                bus.publish_threadsafe(Ping(n), wait=False)

        await anyio.to_thread.run_sync(worker)
        await bus.drain()
    assert seen == list(range(40))
    assert max(held) <= 3


async def test_a_run_that_meets_an_inline_subscriber_goes_event_by_event() -> None:
    """Pings reach a queued subscriber only, Pongs an inline one after it too: the inline handler
    sees the queued subscriber's queue as it would had every event been published alone."""
    queued_seen: list[int] = []
    queued_when_pong: list[tuple[int, int]] = []

    async def queued(event: Ping | Pong) -> None:
        queued_seen.append(event.n)

    async with EventBus() as bus:
        subscription = bus.subscribe((Ping, Pong), queued, mode="queued", maxsize=1024)
        bus.subscribe(Pong, lambda event: queued_when_pong.append((event.n, subscription.accepted)), name="inline")

        def worker() -> None:
            for n in range(300):
                bus.publish_threadsafe(Pong(n) if n % 7 == 0 else Ping(n), wait=False)

        await anyio.to_thread.run_sync(worker)
        await bus.drain()
    assert queued_seen == list(range(300))
    # The queued subscriber, first in line, has Pong(n) and everything before it, and nothing after.
    assert queued_when_pong == [(n, n + 1) for n in range(0, 300, 7)]
