"""A queued consumer takes every waiting event into its hands at once (lossless queues): what it has
taken but not yet given to its handler still counts as waiting, can still be discarded, and is
dropped, counted, when a failure ends the subscription."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from eventbus import DeliveryError, EventBus

from .events import Ping

pytestmark = pytest.mark.anyio


async def _until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0.001)


def _gated(seen: list[int]) -> tuple[anyio.Event, Callable[[Ping], Awaitable[None]]]:
    """A handler that records each event, then waits for the gate, once open, to return."""
    gate = anyio.Event()

    async def gated(event: Ping) -> None:
        seen.append(event.n)
        await gate.wait()

    return gate, gated


async def test_events_taken_but_not_begun_are_waiting_and_can_be_discarded() -> None:
    seen: list[int] = []
    gate, gated = _gated(seen)
    async with EventBus() as bus:
        subscription = bus.subscribe(Ping, gated, mode="queued", maxsize=8)
        for n in range(5):
            await bus.publish(Ping(n))
        await _until(lambda: seen == [0])
        assert subscription.mailbox is not None and len(subscription.mailbox) == 0  # all in the consumer's hands
        assert subscription.stats.queued == 4
        assert [event.n for event in subscription.unhandled()] == [0, 1, 2, 3, 4]
        discarded = subscription.discard_unhandled()
        assert [event.n for event in discarded] == [1, 2, 3, 4]
        assert subscription.stats.queued == 0
        await bus.publish(Ping(5))  # the places of the discarded ones are free again
        gate.set()
        await bus.drain()
    assert seen == [0, 5]
    assert subscription.stats.dropped == 4 and subscription.stats.delivered == 2
    assert subscription.mailbox.held == 0


async def test_a_failure_in_the_middle_of_a_batch_drops_the_rest_and_counts_it() -> None:
    seen: list[int] = []

    async def fails_on_two(event: Ping) -> None:
        seen.append(event.n)
        if event.n == 2:
            raise ValueError("two")

    with pytest.raises(DeliveryError, match="two"):
        async with EventBus() as bus:
            subscription = bus.subscribe(Ping, fails_on_two, mode="queued", maxsize=8)
            for n in range(6):
                await bus.publish(Ping(n))  # no checkpoint: the consumer finds all six at once
            await bus.drain()
    assert seen == [0, 1, 2]
    stats = subscription.stats
    assert (stats.delivered, stats.failed, stats.dropped, stats.queued) == (2, 1, 3, 0)
    assert subscription.accepted == stats.delivered + stats.failed + stats.dropped


async def test_a_lossy_queue_still_coalesces_behind_a_busy_async_handler() -> None:
    """keep_latest hands its consumer one event at a time, so what waits behind a slow handler can
    still be superseded."""
    seen: list[int] = []
    gate, gated = _gated(seen)
    async with EventBus() as bus:
        subscription = bus.subscribe(Ping, gated, mode="queued", maxsize=2, overflow="keep_latest")
        await bus.publish(Ping(0))
        await bus.publish(Ping(1))  # no checkpoint between: both wait when the consumer wakes
        await _until(lambda: seen == [0])
        with anyio.fail_after(10):  # with both in the consumer's hands, there is nothing to coalesce: it would wait
            for n in range(2, 6):
                await bus.publish(Ping(n))
        gate.set()
        await bus.drain()
    assert seen == [0, 5]
    assert subscription.stats.dropped == 4
