"""A thread waiting in ``publish_threadsafe`` when its task is cancelled, or when the bus is left.

The thread stops waiting (within ``CANCEL_POLL_SECONDS``) and raises the cancellation; its event,
if no handler has it yet, is withdrawn, and the events of other threads still go out in order. Left
while threads wait, the bus releases them with ``BusClosedError``.
"""

from __future__ import annotations

import threading
from functools import partial

import anyio
import anyio.to_thread
import pytest

import eventbus.bus
from eventbus import BusClosedError, DeliveryError, EventBus

from .events import Ping

pytestmark = pytest.mark.anyio


class Held:
    """An inline handler that records what it sees and holds on to event ``held`` until released."""

    def __init__(self, held: int) -> None:
        self.held = held
        self.entered = anyio.Event()
        self.release = anyio.Event()
        self.seen: list[int] = []

    async def __call__(self, event: Ping) -> None:
        if event.n == self.held:
            self.entered.set()
            with anyio.move_on_after(5):  # released by the test; else, a regression fails rather than hangs
                await self.release.wait()
        self.seen.append(event.n)


async def publish_in_thread(bus: EventBus, n: int, outcomes: list[str], handed: threading.Event | None = None) -> None:
    publish = partial(bus.publish_threadsafe, Ping(n), before_waiting=None if handed is None else handed.set)
    try:
        await anyio.to_thread.run_sync(publish)
    except anyio.get_cancelled_exc_class():
        outcomes.append(f"{n} cancelled")
        raise
    except BusClosedError:
        outcomes.append(f"{n} bus closed")
    else:
        outcomes.append(f"{n} published")


async def test_a_waiting_thread_whose_task_is_cancelled_stops_waiting_while_the_handler_goes_on() -> None:
    handler, outcomes = Held(1), []
    async with EventBus() as bus:
        bus.subscribe(Ping, handler)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(publish_in_thread, bus, 1, outcomes)
                await handler.entered.wait()
                tg.cancel_scope.cancel()
        assert outcomes == ["1 cancelled"]
        assert handler.seen == []  # the handler is the bus's, which nobody cancelled: it goes on
        handler.release.set()
        with anyio.fail_after(5):
            await anyio.to_thread.run_sync(bus.publish_threadsafe, Ping(2))
    assert handler.seen == [1, 2]


async def test_a_cancelled_thread_whose_event_no_handler_has_yet_withdraws_it() -> None:
    handler, outcomes = Held(1), []
    handed = threading.Event()
    async with EventBus() as bus:
        bus.subscribe(Ping, handler)
        with anyio.fail_after(5):
            async with anyio.create_task_group() as first:
                first.start_soon(publish_in_thread, bus, 1, outcomes)
                await handler.entered.wait()
                async with anyio.create_task_group() as second:
                    second.start_soon(publish_in_thread, bus, 2, outcomes, handed)
                    await anyio.to_thread.run_sync(handed.wait)  # Ping(2) waits behind Ping(1)
                    second.cancel_scope.cancel()
                handler.release.set()
            await anyio.to_thread.run_sync(bus.publish_threadsafe, Ping(3))
    assert outcomes == ["2 cancelled", "1 published"]
    assert handler.seen == [1, 3]  # Ping(2) never reached the handler


async def test_threads_waiting_when_the_bus_is_left_on_an_error_are_released_with_bus_closed() -> None:
    handler, outcomes = Held(1), []
    handed = threading.Event()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as threads:
            with pytest.raises(RuntimeError, match="leaving"):
                async with EventBus() as bus:
                    bus.subscribe(Ping, handler)
                    threads.start_soon(publish_in_thread, bus, 1, outcomes)
                    await handler.entered.wait()
                    threads.start_soon(publish_in_thread, bus, 2, outcomes, handed)
                    await anyio.to_thread.run_sync(handed.wait)
                    raise RuntimeError("leaving")
    # Ping(1)'s handler was cancelled with the bus; Ping(2) was never published.
    assert sorted(outcomes) == ["1 bus closed", "2 bus closed"]
    assert handler.seen == []


async def test_a_cancelled_barrier_never_cuts_short_the_handler_of_a_threads_event() -> None:
    # Only the pump publishes a thread's events; drain() waits for it. A drain given up on must
    # leave the handler of a thread's event to finish, and the waiting thread told the truth.
    handler, outcomes = Held(1), []
    go, handed = threading.Event(), threading.Event()

    def publish() -> None:
        assert go.wait(5)
        bus.publish_threadsafe(Ping(1), before_waiting=handed.set)
        outcomes.append("1 published")

    async with EventBus() as bus:
        bus.subscribe(Ping, handler)
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, publish)
            await anyio.sleep(0.01)
            go.set()
            assert handed.wait(5)  # the loop is held here: the pump has not woken, drain() comes first
            with anyio.move_on_after(0.05) as barrier:
                await bus.drain()
            assert barrier.cancelled_caught
            assert handler.entered.is_set() and handler.seen == []
            handler.release.set()
    assert outcomes == ["1 published"]
    assert handler.seen == [1]


async def test_a_barrier_after_the_pump_was_cut_short_mid_handler_does_not_wait_for_it() -> None:
    handler, outcomes = Held(1), []
    with anyio.CancelScope() as outer:
        async with EventBus() as bus:
            bus.subscribe(Ping, handler)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(publish_in_thread, bus, 1, outcomes)
                    await handler.entered.wait()
                    outer.cancel()  # the pump too: it is cut short in the handler
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True), anyio.fail_after(5):
                    await bus.drain()  # the cut-short event counts as done with
                raise
    assert outcomes == ["1 cancelled"]


async def test_a_thread_held_by_a_full_handoff_without_waiting_leaves_handler_errors_to_the_barrier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(eventbus.bus, "THREAD_HANDOFF_MAXSIZE", 1)
    release = threading.Event()

    async def fails(event: Ping) -> None:
        await anyio.to_thread.run_sync(release.wait, 5)
        raise ValueError(f"no {event.n}")

    def publish_two() -> None:
        bus.publish_threadsafe(Ping(1), wait=False)
        bus.publish_threadsafe(Ping(2), wait=False)  # the handoff is full: this one waits for room

    async with EventBus() as bus:
        bus.subscribe(Ping, fails)
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.to_thread.run_sync, publish_two)  # raises nothing: it did not ask to wait
            await anyio.sleep(0.05)
            release.set()
        with pytest.raises(DeliveryError) as failures:
            await bus.drain()
    assert [failure.event for failure in failures.value.failures] == [Ping(1), Ping(2)]
