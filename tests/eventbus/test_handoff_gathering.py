"""Events from threads reach the loop in batches: the order holds, and a waiting thread is answered in full."""

from __future__ import annotations

import anyio
import anyio.to_thread
import pytest

from eventbus import EventBus

from .events import Ping, Pong

pytestmark = pytest.mark.anyio


async def test_mixed_waiting_and_unwaited_hand_overs_from_one_thread_keep_their_order() -> None:
    """Unwaited events gathered by the loop, waited-for ones in between: every subscriber sees one
    order, and when a waiting hand-over returns, its inline handler and all before it have run."""
    inline_seen: list[int] = []
    queued_seen: list[int] = []
    seen_when_answered: list[tuple[int, int]] = []

    async def queued(event: Ping | Pong) -> None:
        queued_seen.append(event.n)

    async with EventBus() as bus:
        bus.subscribe((Ping, Pong), lambda event: inline_seen.append(event.n), name="inline")
        bus.subscribe((Ping, Pong), queued, mode="queued")

        def worker() -> None:
            for n in range(600):
                if n % 50 == 49:
                    bus.publish_threadsafe(Pong(n))  # waits for the inline handler
                    seen_when_answered.append((n, len(inline_seen)))
                else:
                    bus.publish_threadsafe(Ping(n), wait=False)

        await anyio.to_thread.run_sync(worker)
        await bus.drain()
    assert inline_seen == list(range(600)) and queued_seen == list(range(600))
    assert seen_when_answered == [(n, n + 1) for n in range(49, 600, 50)]


async def test_a_barrier_takes_what_the_loop_was_still_gathering() -> None:
    seen: list[int] = []

    async def queued(event: Ping) -> None:
        seen.append(event.n)

    async with EventBus() as bus:
        bus.subscribe(Ping, queued, mode="queued")

        def worker() -> None:
            for n in range(100):
                bus.publish_threadsafe(Ping(n), wait=False)

        await anyio.to_thread.run_sync(worker)
        await bus.drain()
        assert seen == list(range(100))
