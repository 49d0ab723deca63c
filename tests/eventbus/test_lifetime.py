"""Entering and leaving the bus, timeouts, worker threads."""

import threading

import anyio
import anyio.to_thread
import pytest

from eventbus import BusClosedError, EventBus, UndeliveredEventsError

from .events import Ping

pytestmark = pytest.mark.anyio


async def test_leaving_while_a_handler_hangs_times_out_and_reports_the_undelivered() -> None:
    async def hang(event: Ping) -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(5):
        with pytest.raises(UndeliveredEventsError) as info:
            async with EventBus(drain_timeout=0.1) as bus:
                bus.subscribe(Ping, hang, mode="queued", name="hanger")
                for n in range(3):
                    await bus.publish(Ping(n))
    assert info.value.undelivered == {"hanger": [Ping(0), Ping(1), Ping(2)]}
    assert "'hanger': 3 event(s)" in str(info.value)


async def test_leaving_while_a_def_handler_hangs_in_its_thread_still_ends() -> None:
    release = threading.Event()
    with anyio.fail_after(5):
        with pytest.raises(UndeliveredEventsError):
            async with EventBus(drain_timeout=0.1) as bus:
                bus.subscribe(Ping, lambda e: release.wait(5), mode="queued")
                await bus.publish(Ping(0))
    release.set()


async def test_publishing_outside_the_bus_lifetime_is_a_clear_error() -> None:
    bus = EventBus()
    bus.subscribe(Ping, lambda e: None)
    with pytest.raises(BusClosedError, match="async with EventBus"):
        await bus.publish(Ping(0))
    async with bus:
        await bus.publish(Ping(0))
    with pytest.raises(BusClosedError, match="has been left"):
        await bus.publish(Ping(1))
    with pytest.raises(BusClosedError):
        bus.subscribe(Ping, lambda e: None)
    with pytest.raises(RuntimeError, match="only once"):
        async with bus:
            pass


async def test_publish_from_a_worker_thread() -> None:
    seen: list[tuple[int, bool]] = []
    async with EventBus() as bus:
        bus.subscribe(Ping, lambda e: seen.append((e.n, threading.current_thread() is threading.main_thread())))
        queued: list[int] = []
        bus.subscribe(Ping, lambda e: queued.append(e.n), mode="queued")

        def worker() -> None:
            for n in range(20):
                bus.publish_threadsafe(Ping(n))

        await anyio.to_thread.run_sync(worker)
        await bus.drain()
    # Inline handlers run on the event loop's thread, in order, even for a thread's publishes.
    assert seen == [(n, True) for n in range(20)]
    assert queued == list(range(20))


async def test_publish_threadsafe_on_the_loop_thread_is_refused() -> None:
    async with EventBus() as bus:
        with pytest.raises(RuntimeError, match="await bus.publish"):
            bus.publish_threadsafe(Ping(0))


async def test_drain_with_nothing_queued_returns_at_once() -> None:
    async with EventBus() as bus:
        with anyio.fail_after(1):
            await bus.drain()


async def test_thread_publishes_without_waiting_arrive_in_order_with_waiting_ones() -> None:
    inline: list[int] = []
    queued: list[int] = []
    async with EventBus() as bus:
        bus.subscribe(Ping, lambda e: inline.append(e.n))
        bus.subscribe(Ping, lambda e: queued.append(e.n), mode="queued")

        def worker() -> None:
            for n in range(500):
                bus.publish_threadsafe(Ping(n), wait=n % 50 == 0)

        await anyio.to_thread.run_sync(worker)
        await bus.drain()
    assert inline == list(range(500))
    assert queued == list(range(500))


async def test_thread_handoff_is_bounded_when_the_loop_falls_behind() -> None:
    from eventbus.bus import THREAD_HANDOFF_MAXSIZE

    gate = anyio.Event()
    handed_over = 0
    seen: list[int] = []

    async def gated(event: Ping) -> None:
        await gate.wait()
        seen.append(event.n)

    async with EventBus() as bus, anyio.create_task_group() as tg:
        bus.subscribe(Ping, gated, mode="queued", maxsize=2)
        total = 3 * THREAD_HANDOFF_MAXSIZE

        def worker() -> None:
            nonlocal handed_over
            for n in range(total):
                bus.publish_threadsafe(Ping(n), wait=False)
                handed_over += 1

        tg.start_soon(anyio.to_thread.run_sync, worker)
        await anyio.sleep(0.2)
        # The thread is held: at most the handoff's bound, the queue and the batch in hand got through.
        assert handed_over <= THREAD_HANDOFF_MAXSIZE + 2 + 2 + 1
        gate.set()
    await anyio.sleep(0)
    assert seen == list(range(total))


async def test_inline_failure_of_an_event_handed_over_without_waiting_is_raised_at_drain() -> None:
    from eventbus import DeliveryError

    def picky(event: Ping) -> None:
        if event.n == 2:
            raise ValueError("no twos")

    async with EventBus() as bus:
        bus.subscribe(Ping, picky)

        def worker() -> None:
            for n in range(4):
                bus.publish_threadsafe(Ping(n), wait=False)

        await anyio.to_thread.run_sync(worker)
        with pytest.raises(DeliveryError, match="no twos"):
            await bus.drain()


async def test_events_handed_over_without_waiting_arrive_while_the_thread_runs_on() -> None:
    import threading as threads

    arrived = threads.Event()
    async with EventBus() as bus:
        bus.subscribe(Ping, lambda e: e.n == 1 and arrived.set(), mode="queued")

        def worker() -> bool:
            bus.publish_threadsafe(Ping(0), wait=True)
            bus.publish_threadsafe(Ping(1), wait=False)
            return arrived.wait(5)  # no barrier: the loop must pick it up on its own

        assert await anyio.to_thread.run_sync(worker)


async def test_a_handler_that_drains_the_bus_for_a_threads_event_does_not_wait_for_itself() -> None:
    seen: list[int] = []

    async def drains(event: Ping) -> None:
        await bus.drain()
        seen.append(event.n)

    async with EventBus() as bus:
        bus.subscribe(Ping, drains)
        with anyio.fail_after(5):
            await bus.publish(Ping(1))
            await anyio.to_thread.run_sync(bus.publish_threadsafe, Ping(2))
    assert seen == [1, 2]
