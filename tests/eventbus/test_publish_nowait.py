"""publish_nowait: delivery from plain ``def`` code on the event loop, which never waits."""

import anyio
import pytest

from eventbus import BusClosedError, EventBus, QueueFullError

from .events import LoudPing, Ping, Pong

pytestmark = pytest.mark.anyio


async def test_delivers_as_publish_does_inline_then_queued_in_order() -> None:
    inline: list[object] = []
    queued: list[object] = []

    async def later(event: Ping) -> None:
        queued.append(event)

    async with EventBus() as bus:
        bus.subscribe(Ping, inline.append)
        bus.subscribe(Ping, later, mode="queued")
        bus.subscribe(Ping, inline.append, where=lambda event: event.n % 2 == 0)
        for n in range(4):
            bus.publish_nowait(Ping(n))
        bus.publish_nowait(LoudPing(4))
        bus.publish_nowait(Pong(5))  # nobody takes it: nothing happens
        assert inline == [Ping(0), Ping(0), Ping(1), Ping(2), Ping(2), Ping(3), LoudPing(4), LoudPing(4)]
        await bus.drain()
    assert queued == [Ping(0), Ping(1), Ping(2), Ping(3), LoudPing(4)]


async def test_a_full_queue_raises_would_block_before_anyone_receives_it() -> None:
    inline: list[object] = []
    release = anyio.Event()

    async def stuck(event: Ping) -> None:
        await release.wait()

    async with EventBus() as bus:
        bus.subscribe(Ping, inline.append)
        subscription = bus.subscribe(Ping, stuck, mode="queued", maxsize=2)
        bus.publish_nowait(Ping(0))
        await anyio.wait_all_tasks_blocked()  # the consumer took it and waits in the handler
        bus.publish_nowait(Ping(1))  # with Ping(0) in the handler's hands, that makes 2 held
        with pytest.raises(anyio.WouldBlock):
            bus.publish_nowait(Ping(2))
        assert inline == [Ping(0), Ping(1)]  # the inline subscriber did not get Ping(2) either
        assert subscription.stats.queued == 1
        release.set()


async def test_error_policy_and_inline_async_subscribers_are_refused_clearly() -> None:
    async def awaited(event: Pong) -> None: ...

    release = anyio.Event()

    async def slow(event: Ping) -> None:
        await release.wait()

    async with EventBus() as bus:
        bus.subscribe(Pong, awaited, name="uploader")
        with pytest.raises(TypeError, match=r"cannot await the inline async def subscriber 'uploader' of Pong"):
            bus.publish_nowait(Pong(1))
        bus.subscribe(Ping, slow, mode="queued", maxsize=1, overflow="error")
        bus.publish_nowait(Ping(1))
        await anyio.wait_all_tasks_blocked()  # Ping(1), in the handler's hands, fills it
        with pytest.raises(QueueFullError, match=r"holds its maxsize of 1 event\(s\) not yet handled"):
            bus.publish_nowait(Ping(2))
        release.set()
    with pytest.raises(BusClosedError):
        bus.publish_nowait(Ping(4))
