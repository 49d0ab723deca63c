"""Inline delivery: inside publish, in subscription order, exceptions to the publisher."""

import pytest

from eventbus import EventBus

from .events import LoudPing, Ping, Pong, Unheard

pytestmark = pytest.mark.anyio


async def test_inline_handlers_run_in_subscription_order_before_publish_returns() -> None:
    seen: list[tuple[str, int]] = []

    async def second(event: Ping) -> None:
        seen.append(("second", event.n))

    async with EventBus() as bus:
        bus.subscribe(Ping, lambda e: seen.append(("first", e.n)))
        bus.subscribe(Ping, second)
        bus.subscribe(Ping, lambda e: seen.append(("third", e.n)))
        await bus.publish(Ping(1))
        assert seen == [("first", 1), ("second", 1), ("third", 1)]


async def test_subscribing_to_a_base_class_receives_subclasses_only_where_they_match() -> None:
    pings: list[object] = []
    louds: list[object] = []
    async with EventBus() as bus:
        bus.subscribe(Ping, pings.append)
        bus.subscribe(LoudPing, louds.append)
        await bus.publish(Ping(1))
        await bus.publish(LoudPing(2))
        await bus.publish(Pong(3))
    assert pings == [Ping(1), LoudPing(2)]
    assert louds == [LoudPing(2)]


async def test_a_tuple_of_types_receives_each_and_its_where_filter_sees_only_those() -> None:
    received: list[object] = []
    filtered: list[object] = []

    def where(event: Ping | Pong) -> bool:
        filtered.append(event)
        return event.n > 0

    async with EventBus() as bus:
        bus.subscribe((Pong, LoudPing), received.append, where=where)
        for event in (Ping(1), LoudPing(2), Pong(0), Pong(3), Unheard(4)):
            await bus.publish(event)
        assert [s.name for s in bus.subscribers_of(Ping)] == []
    assert received == [LoudPing(2), Pong(3)]
    assert filtered == [LoudPing(2), Pong(0), Pong(3)]  # never called for the types it does not take


async def test_inline_exception_reaches_the_publisher_and_stops_later_subscribers() -> None:
    later: list[object] = []

    def boom(event: Ping) -> None:
        raise KeyError("inline failure")

    async with EventBus() as bus:
        bus.subscribe(Ping, boom)
        bus.subscribe(Ping, later.append)
        with pytest.raises(KeyError, match="inline failure"):
            await bus.publish(Ping(1))
    assert later == []


async def test_async_inline_exception_reaches_the_publisher() -> None:
    async def boom(event: Ping) -> None:
        raise ValueError("async inline failure")

    async with EventBus() as bus:
        bus.subscribe(Ping, boom)
        with pytest.raises(ValueError, match="async inline failure"):
            await bus.publish(Ping(1))


async def test_closed_subscription_receives_nothing_more() -> None:
    seen: list[int] = []
    async with EventBus() as bus:
        with bus.subscribe(Ping, lambda e: seen.append(e.n)) as subscription:
            await bus.publish(Ping(1))
        await bus.publish(Ping(2))
        assert subscription not in bus.subscriptions
        subscription.close()  # closing twice is harmless
    assert seen == [1]


async def test_publishing_with_no_subscriber_does_nothing() -> None:
    async with EventBus() as bus:
        await bus.publish(Ping(1))


async def test_subscribers_of_lists_who_an_event_would_reach() -> None:
    async with EventBus() as bus:
        assert bus.subscribers_of(Ping) == ()
        first = bus.subscribe(Ping, print)
        second = bus.subscribe(LoudPing, print, mode="queued")
        assert bus.subscribers_of(Ping) == (first,)
        assert bus.subscribers_of(LoudPing) == (first, second)
        first.close()
        assert bus.subscribers_of(LoudPing) == (second,)
