"""Streams: events as an async iterator for application code."""

import anyio
import pytest

from eventbus import EventBus

from .events import Ping, Pong

pytestmark = pytest.mark.anyio


async def test_stream_yields_events_in_order_and_ends_with_the_bus() -> None:
    received: list[int] = []
    async with anyio.create_task_group() as tg:
        async with EventBus() as bus:
            stream = bus.stream(Ping)

            async def reader() -> None:
                async for event in stream:
                    received.append(event.n)

            tg.start_soon(reader)
            for n in range(30):
                await bus.publish(Ping(n))
                await bus.publish(Pong(n))
    assert received == list(range(30))


async def test_stream_closed_by_its_reader_stops_receiving() -> None:
    async with EventBus() as bus:
        async with bus.stream(Ping, maxsize=10) as stream:
            await bus.publish(Ping(1))
            first = await stream.__anext__()
        await bus.publish(Ping(2))  # nobody listens any more; publishing is not held
        assert first == Ping(1)
        assert [e async for e in stream] == []


async def test_slow_stream_with_keep_latest_never_holds_the_publisher() -> None:
    async with EventBus() as bus:
        stream = bus.stream(Ping, maxsize=1, overflow="keep_latest")
        with anyio.fail_after(1):
            for n in range(100):
                await bus.publish(Ping(n))
        assert await stream.__anext__() == Ping(99)
        assert stream.subscription.stats.dropped == 99


async def test_receive_batch_takes_everything_waiting_in_order_then_ends() -> None:
    async with EventBus() as bus:
        stream = bus.stream(Ping, maxsize=8)
        for n in range(5):
            await bus.publish(Ping(n))
        assert await stream.receive_batch() == [Ping(n) for n in range(5)]
        await bus.publish(Ping(5))
        await stream.aclose()
        assert await stream.receive_batch() == [Ping(5)]  # queued before closing: still read
        assert stream.subscription.stats.delivered == 6
        with pytest.raises(anyio.EndOfStream):
            await stream.receive_batch()


async def test_receive_batch_waits_for_the_first_event() -> None:
    async with EventBus() as bus:
        stream = bus.stream(Ping)
        batches: list[list[Ping]] = []
        async with anyio.create_task_group() as tg:

            async def reader() -> None:
                batches.append(await stream.receive_batch())

            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            assert batches == []  # nothing published yet: the reader waits
            await bus.publish(Ping(1))
        assert batches == [[Ping(1)]]


async def test_a_stream_of_several_types() -> None:
    async with EventBus() as bus:
        stream = bus.stream((Ping, Pong))
        assert stream.subscription.name == "stream(Ping, Pong)"
        await bus.publish(Ping(1))
        await bus.publish(Pong(2))
        assert await stream.receive_batch() == [Ping(1), Pong(2)]
