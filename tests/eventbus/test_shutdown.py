"""Leaving the bus with work in flight: nothing spins, hangs, or runs on after it is gone."""

import threading
import time

import anyio
import anyio.to_thread
import pytest

from eventbus import BusClosedError, EventBus, UndeliveredEventsError

from .events import Ping

pytestmark = pytest.mark.anyio


async def test_a_publisher_waiting_on_a_full_queue_returns_when_the_bus_is_left() -> None:
    returned = anyio.Event()
    async with anyio.create_task_group() as tg:
        async with EventBus(drain_timeout=0.1) as bus:
            unread = bus.stream(Ping, maxsize=1)  # nobody reads it

            async def publisher() -> None:
                await bus.publish(Ping(0))
                await bus.publish(Ping(1))  # waits for room that will never come...
                returned.set()

            tg.start_soon(publisher)
            await anyio.sleep(0.05)
            assert not returned.is_set()
            assert unread.subscription.active
        with anyio.fail_after(2):
            await returned.wait()  # ...until the bus is left: then it returns, delivering to nobody


async def test_leaving_on_an_error_stops_a_def_subscriber_after_its_current_call() -> None:
    calls: list[int] = []

    def slow(event: Ping) -> None:
        time.sleep(0.02)
        calls.append(event.n)

    with pytest.raises(KeyError):
        async with EventBus() as bus:
            bus.subscribe(Ping, slow, mode="queued")
            for n in range(50):
                await bus.publish(Ping(n))
            await anyio.sleep(0.05)
            raise KeyError("the application fails")
    handled = len(calls)
    await anyio.sleep(0.3)
    assert len(calls) <= handled + 1, "the abandoned worker thread stops after the call it was in"


async def test_failures_are_reported_with_the_undelivered_events_when_leaving_times_out() -> None:
    async def fails(event: Ping) -> None:
        raise RuntimeError("broken handler")

    async def hangs(event: Ping) -> None:
        await anyio.sleep_forever()

    with pytest.raises(UndeliveredEventsError) as info:
        async with EventBus(drain_timeout=0.1) as bus:
            bus.subscribe(Ping, fails, mode="queued", name="fails")
            bus.subscribe(Ping, hangs, mode="queued", name="hangs")
            await bus.publish(Ping(1))
            await anyio.sleep(0.02)
    assert "broken handler" in str(info.value)
    assert [f.subscriber for f in info.value.failures] == ["fails"]
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_an_abandoned_stream_unsubscribes_and_holds_no_publisher() -> None:
    async with EventBus() as bus:
        async def read_one() -> None:
            async for _ in bus.stream(Ping, maxsize=1):
                break

        async with anyio.create_task_group() as tg:
            tg.start_soon(read_one)
            await anyio.sleep(0.01)
            await bus.publish(Ping(0))
        assert bus.subscriptions == ()
        with anyio.fail_after(1):
            for n in range(10):
                await bus.publish(Ping(n))


async def test_publishing_from_a_thread_after_the_bus_is_left_is_refused() -> None:
    async with EventBus() as bus:
        pass
    with pytest.raises(BusClosedError):
        await anyio.to_thread.run_sync(bus.publish_threadsafe, Ping(0))


async def test_an_inline_error_reaches_the_waiting_thread_even_when_the_pump_publishes_its_event() -> None:
    gate = threading.Event()

    async def slow(event: Ping) -> None:
        await anyio.sleep(0.005)

    def picky(event: Ping) -> None:
        if event.n == 7:
            raise ValueError("seven")

    async with EventBus() as bus:
        bus.subscribe(Ping, slow, mode="queued", maxsize=1)  # keeps the pump busy, waiting for room
        bus.subscribe(Ping, picky, where=lambda e: e.n == 7)

        def worker() -> None:
            for n in range(7):
                bus.publish_threadsafe(Ping(n), wait=False)
            gate.set()
            bus.publish_threadsafe(Ping(7), wait=True)

        with pytest.raises(ValueError, match="seven"):
            await anyio.to_thread.run_sync(worker)
        assert gate.is_set()
        await bus.drain()  # nothing was recorded as a queued failure
