"""Bounded queues: what each overflow policy does when a subscriber falls behind."""

import anyio
import pytest

from eventbus import EventBus, QueueFullError

from .events import Ping, Pong

pytestmark = pytest.mark.anyio


async def test_block_makes_the_publisher_wait_and_keeps_the_queue_bounded() -> None:
    gate = anyio.Event()
    seen: list[int] = []
    longest = 0

    async def gated(event: Ping) -> None:
        await gate.wait()
        seen.append(event.n)

    async with EventBus() as bus:
        subscription = bus.subscribe(Ping, gated, mode="queued", maxsize=4)
        published = 0

        async def publisher() -> None:
            nonlocal published, longest
            for n in range(20):
                await bus.publish(Ping(n))
                published += 1
                longest = max(longest, subscription.stats.queued)

        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher)
            # Waiting for the publisher to get that far (a loaded machine can take a while), then
            # giving it time to go further, which it must not.
            with anyio.fail_after(10):
                while published < 4:
                    await anyio.sleep(0.005)
            await anyio.sleep(0.05)
            # The consumer is stuck on the first event, which still counts against maxsize; three
            # more wait in the queue, and the fifth publish waits for room.
            assert published == 4
            assert subscription.stats.queued == 3
            gate.set()
        await bus.drain()
    assert seen == list(range(20))
    assert longest <= 4
    assert subscription.stats.dropped == 0


async def _fill_while_blocked(overflow: str, events: list) -> tuple[list, object]:
    gate = anyio.Event()
    seen: list = []

    async def gated(event) -> None:
        await gate.wait()
        seen.append(event)

    async with EventBus() as bus:
        subscription = bus.subscribe(Ping, gated, mode="queued", maxsize=3, overflow=overflow)
        await bus.publish(events[0])
        await anyio.sleep(0.01)  # the consumer takes the first event and waits at the gate
        for event in events[1:]:
            await bus.publish(event)
        gate.set()
        await bus.drain()
        return seen, subscription.stats


async def test_drop_oldest_keeps_the_newest_and_counts_what_it_dropped() -> None:
    seen, stats = await _fill_while_blocked("drop_oldest", [Ping(n) for n in range(8)])
    # Event 0 is in the handler's hands (one of the 3 places): the two newest wait.
    assert [e.n for e in seen] == [0, 6, 7]
    assert stats.dropped == 5
    assert stats.delivered == 3


async def test_keep_latest_coalesces_per_event_type() -> None:
    from .events import LoudPing

    events = [Ping(0), LoudPing(1), Ping(2), Ping(3), Ping(4), Ping(5)]
    seen, stats = await _fill_while_blocked("keep_latest", events)
    # It holds 3, Ping(0) in hand among them: the rarer LoudPing keeps its place while the waiting
    # Pings collapse to the newest.
    assert seen == [Ping(0), LoudPing(1), Ping(5)]
    assert stats.dropped == 3


async def test_error_refuses_the_event_for_everyone_and_counts_it() -> None:
    gate = anyio.Event()
    inline_seen: list[int] = []

    async def gated(event: Ping) -> None:
        await gate.wait()

    async with EventBus() as bus:
        bus.subscribe(Ping, lambda e: inline_seen.append(e.n))
        strict = bus.subscribe(Ping, gated, mode="queued", maxsize=2, overflow="error", name="strict")
        await bus.publish(Ping(0))
        await anyio.sleep(0.01)
        await bus.publish(Ping(1))  # Ping(0) in the handler's hands and Ping(1) waiting: 2 held
        with pytest.raises(QueueFullError, match="'strict' is full") as info:
            await bus.publish(Ping(2))
        assert info.value.event == Ping(2)
        assert inline_seen == [0, 1], "a refused event reaches no subscriber"
        assert strict.stats.dropped == 1
        gate.set()


async def test_a_slow_queued_subscriber_does_not_slow_another() -> None:
    fast_seen: list[int] = []
    gate = anyio.Event()

    async def stuck(event: Ping) -> None:
        await gate.wait()

    async with EventBus() as bus:
        bus.subscribe(Ping, stuck, mode="queued", maxsize=100)
        bus.subscribe(Ping, lambda e: fast_seen.append(e.n), mode="queued")
        for n in range(10):
            await bus.publish(Ping(n))
        with anyio.fail_after(2):
            while len(fast_seen) < 10:
                await anyio.sleep(0.001)
        gate.set()
    assert fast_seen == list(range(10))


async def test_cancelled_publisher_blocked_on_a_full_queue_loses_and_duplicates_nothing() -> None:
    gate = anyio.Event()
    seen: list[int] = []
    returned: list[int] = []

    async def gated(event: Ping) -> None:
        await gate.wait()
        seen.append(event.n)

    async with EventBus() as bus:
        bus.subscribe(Ping, gated, mode="queued", maxsize=2)
        second_seen: list[int] = []
        bus.subscribe(Ping, lambda e: second_seen.append(e.n), mode="queued", maxsize=50)
        with anyio.move_on_after(0.1) as scope:
            for n in range(10):
                await bus.publish(Ping(n))
                returned.append(n)
        assert scope.cancelled_caught
        gate.set()
        await bus.drain()
        # Every publish that returned was delivered to both, once and in order; the cancelled one
        # reached neither subscriber.
        assert seen == returned
        assert second_seen == returned
        assert 2 <= len(returned) < 10
        await bus.publish(Pong(0))  # the bus still works


async def test_keep_latest_drops_a_superseded_event_of_another_type_before_waiting() -> None:
    from .events import LoudPing

    seen, stats = await _fill_while_blocked("keep_latest", [Ping(0), Ping(1), Ping(2), LoudPing(3)])
    # Full with Pings (one in hand, two waiting), a LoudPing arrives: the oldest waiting Ping,
    # superseded by a younger one, makes room.
    assert seen == [Ping(0), Ping(2), LoudPing(3)]
    assert stats.dropped == 1


async def test_keep_latest_waits_when_every_waiting_event_is_the_last_of_its_type() -> None:
    from eventbus import Event

    from .events import LoudPing

    gate = anyio.Event()
    seen: list = []

    async def gated(event) -> None:
        await gate.wait()
        seen.append(event)

    async with EventBus() as bus:
        bus.subscribe(Event, gated, mode="queued", maxsize=3, overflow="keep_latest")
        await bus.publish(Ping(0))
        await anyio.sleep(0.01)  # Ping(0) is in the handler's hands
        await bus.publish(Ping(1))
        await bus.publish(Pong(2))
        with anyio.move_on_after(0.05) as scope:
            await bus.publish(LoudPing(3))  # nothing it may replace: it waits, losing nothing
        assert scope.cancelled_caught
        gate.set()
        await bus.publish(LoudPing(3))
    assert seen == [Ping(0), Ping(1), Pong(2), LoudPing(3)]
