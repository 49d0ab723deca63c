"""Queued delivery: its own queue and task, concurrent with the publisher, in order."""

import threading
import time

import anyio
import pytest

from eventbus import EventBus

from .events import Ping, Pong

pytestmark = pytest.mark.anyio


async def test_two_slow_subscribers_run_concurrently_and_do_not_hold_the_publisher() -> None:
    finished: dict[str, int] = {"a": 0, "b": 0}
    sleeping: set[str] = set()
    overlapping = 0  # handler calls that found the other subscriber asleep at the same time

    def slow(label: str):
        async def handler(event: Ping) -> None:
            nonlocal overlapping
            sleeping.add(label)
            await anyio.sleep(0.01)
            overlapping += len(sleeping) == 2
            sleeping.discard(label)
            finished[label] += 1

        return handler

    async with EventBus() as bus:
        bus.subscribe(Ping, slow("a"), mode="queued", maxsize=32)
        bus.subscribe(Ping, slow("b"), mode="queued", maxsize=32)
        for n in range(20):
            await bus.publish(Ping(n))
        assert finished == {"a": 0, "b": 0}, "publish must not wait for queued handlers"
        await bus.drain()
    assert finished == {"a": 20, "b": 20}
    # Serially, neither would ever sleep while the other does; concurrently, they nearly always do.
    assert overlapping >= 20


async def test_queued_def_handler_runs_in_a_worker_thread_in_order() -> None:
    threads: set[int] = set()
    seen: list[int] = []

    def blocking(event: Ping) -> None:
        threads.add(threading.get_ident())
        time.sleep(0.001)
        seen.append(event.n)

    async with EventBus() as bus:
        bus.subscribe(Ping, blocking, mode="queued")
        for n in range(50):
            await bus.publish(Ping(n))
        await bus.drain()
    assert seen == list(range(50))
    assert threading.get_ident() not in threads


async def test_blocking_def_handler_does_not_block_the_event_loop() -> None:
    ticks = 0
    release = threading.Event()

    def stuck(event: Ping) -> None:
        release.wait(5)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.001)

    async with EventBus() as bus, anyio.create_task_group() as tg:
        bus.subscribe(Ping, stuck, mode="queued")
        tg.start_soon(ticker)
        await bus.publish(Ping(1))
        await anyio.sleep(0.1)
        assert ticks > 10
        release.set()
        await bus.drain()
        tg.cancel_scope.cancel()


async def test_subscriber_mixing_def_and_async_hooks_sees_events_in_order() -> None:
    seen: list[tuple[str, int]] = []

    class Mixed:
        def on_ping(self, event: Ping) -> None:
            time.sleep(0.0005)
            seen.append(("ping", event.n))

        async def on_pong(self, event: Pong) -> None:
            await anyio.sleep(0)
            seen.append(("pong", event.n))

    async with EventBus() as bus:
        bus.subscribe_object(Mixed(), [Ping, Pong], mode="queued")
        expected = []
        for n in range(40):
            event = Ping(n) if n % 3 else Pong(n)
            expected.append(("ping" if n % 3 else "pong", n))
            await bus.publish(event)
        await bus.drain()
    assert seen == expected


async def test_leaving_the_bus_drains_queued_subscribers() -> None:
    seen: list[int] = []

    async def handler(event: Ping) -> None:
        await anyio.sleep(0.001)
        seen.append(event.n)

    async with EventBus() as bus:
        bus.subscribe(Ping, handler, mode="queued")
        for n in range(10):
            await bus.publish(Ping(n))
    assert seen == list(range(10))


async def test_subscription_made_before_entering_starts_with_the_bus() -> None:
    seen: list[int] = []
    bus = EventBus()
    bus.subscribe(Ping, lambda e: seen.append(e.n), mode="queued")
    async with bus:
        await bus.publish(Ping(7))
    assert seen == [7]


async def test_subscribe_and_unsubscribe_while_events_are_in_flight() -> None:
    early: list[int] = []
    late: list[int] = []

    async def slow_early(event: Ping) -> None:
        await anyio.sleep(0.002)
        early.append(event.n)

    async with EventBus() as bus:
        first = bus.subscribe(Ping, slow_early, mode="queued")
        for n in range(10):
            await bus.publish(Ping(n))
        second = bus.subscribe(Ping, lambda e: late.append(e.n), mode="queued")
        first.close()  # what it already had queued is still handled
        for n in range(10, 20):
            await bus.publish(Ping(n))
        await bus.drain()
        second.close()
        await bus.publish(Ping(99))
        await bus.drain()
    assert early == list(range(10))
    assert late == list(range(10, 20))


async def test_queued_subscriber_receives_the_events_snapshot() -> None:
    from dataclasses import dataclass, replace
    from types import MappingProxyType

    from eventbus import Event

    @dataclass(frozen=True, slots=True)
    class WithLogs(Event):
        hook = "on_logs"
        logs: dict

        def snapshot(self) -> "WithLogs":
            return replace(self, logs=MappingProxyType(dict(self.logs)))

    received: list[object] = []
    logs = {"loss": 1.0}
    async with EventBus() as bus:
        bus.subscribe(WithLogs, lambda e: e.logs.update(extra=2.0))  # inline, before the queued one
        bus.subscribe(WithLogs, received.append, mode="queued")
        await bus.publish(WithLogs(logs))
        logs["loss"] = 5.0  # the publisher changes its dict afterwards
        await bus.drain()
    (event,) = received
    assert dict(event.logs) == {"loss": 1.0, "extra": 2.0}
    with pytest.raises(TypeError):
        event.logs["loss"] = 0.0


async def test_where_filters_events_and_a_filtered_out_full_queue_never_holds_the_publisher() -> None:
    gate = anyio.Event()
    odd: list[int] = []

    async def stuck(event: Ping) -> None:
        await gate.wait()

    async with EventBus() as bus:
        bus.subscribe(Ping, stuck, mode="queued", maxsize=1, where=lambda e: e.n < 0)
        bus.subscribe(Ping, lambda e: odd.append(e.n), where=lambda e: e.n % 2 == 1)
        stream = bus.stream(Ping, where=lambda e: e.n == 3)
        with anyio.fail_after(1):
            for n in range(10):
                await bus.publish(Ping(n))
        assert odd == [1, 3, 5, 7, 9]
        assert await stream.__anext__() == Ping(3)
        gate.set()
