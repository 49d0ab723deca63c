"""Queued handlers' exceptions are never silent."""

import logging

import anyio
import pytest

from eventbus import DeliveryError, EventBus

from .events import Ping

pytestmark = pytest.mark.anyio


async def _fail_on_three(event: Ping) -> None:
    if event.n == 3:
        raise RuntimeError("three is bad")


def _fail_on_three_sync(event: Ping) -> None:
    if event.n == 3:
        raise RuntimeError("three is bad")


@pytest.mark.parametrize("handler", [_fail_on_three, _fail_on_three_sync])
async def test_queued_exception_surfaces_at_drain_naming_subscriber_hook_and_event(handler) -> None:
    async with EventBus() as bus:
        subscription = bus.subscribe(Ping, handler, mode="queued", name="picky")
        for n in range(6):
            await bus.publish(Ping(n))
        with pytest.raises(DeliveryError) as info:
            await bus.drain()
        message = str(info.value)
        assert "'picky'" in message and "on_ping" in message and "Ping(n=3)" in message
        assert "three is bad" in message
        assert isinstance(info.value.__cause__, RuntimeError)
        (failure,) = info.value.failures
        assert failure.event == Ping(3)
        # The failed subscriber is closed; what it had not handled is counted as dropped.
        assert subscription.stats.delivered == 3
        assert subscription.stats.failed == 1
        assert subscription.stats.dropped == 2
        assert not subscription.active
        await bus.drain()  # reported once


async def test_queued_exception_surfaces_when_leaving_the_bus() -> None:
    with pytest.raises(DeliveryError, match="three is bad"):
        async with EventBus() as bus:
            bus.subscribe(Ping, _fail_on_three, mode="queued")
            for n in range(5):
                await bus.publish(Ping(n))


async def test_on_error_log_logs_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[int] = []

    async def flaky(event: Ping) -> None:
        if event.n % 2:
            raise ValueError(f"odd {event.n}")
        seen.append(event.n)

    with caplog.at_level(logging.ERROR, logger="eventbus"):
        async with EventBus() as bus:
            subscription = bus.subscribe(Ping, flaky, mode="queued", on_error="log", name="flaky")
            for n in range(6):
                await bus.publish(Ping(n))
            await bus.drain()
    assert seen == [0, 2, 4]
    assert subscription.stats.failed == 3
    assert subscription.stats.delivered == 3
    assert sum("'flaky' failed in on_ping" in r.getMessage() for r in caplog.records) == 3


async def test_body_exception_wins_over_pending_failures(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(KeyError, match="body"), caplog.at_level(logging.ERROR, logger="eventbus"):
        async with EventBus() as bus:
            bus.subscribe(Ping, _fail_on_three, mode="queued")
            for n in range(5):
                await bus.publish(Ping(n))
            await anyio.sleep(0.05)
            raise KeyError("body")
    assert any("three is bad" in r.getMessage() for r in caplog.records)
