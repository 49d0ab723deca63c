"""Subscribing an object's hook methods by name."""

import pytest

from eventbus import EventBus, noop_hook

from .events import LoudPing, Ping, Pong, Unheard

pytestmark = pytest.mark.anyio


class Base:
    @noop_hook
    def on_ping(self, event: Ping) -> None:
        """A placeholder subclasses may override."""

    @noop_hook
    def on_pong(self, event: Pong) -> None:
        """A placeholder subclasses may override."""


class OnlyPongs(Base):
    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_pong(self, event: Pong) -> None:
        self.seen.append(event)


async def test_only_really_defined_hooks_are_subscribed() -> None:
    listener = OnlyPongs()
    async with EventBus() as bus:
        bus.subscribe_object(listener)
        await bus.publish(Ping(1))
        await bus.publish(Pong(2))
        # Nobody really handles Ping, so its plan is the empty, all-inline one.
        assert bus._plans[Ping].steps == ()
    assert listener.seen == [Pong(2)]


async def test_each_event_goes_to_the_method_its_class_names() -> None:
    calls: list[tuple[str, int]] = []

    class Listener:
        def on_ping(self, event: Ping) -> None:
            calls.append(("on_ping", event.n))

        async def on_loud_ping(self, event: LoudPing) -> None:
            calls.append(("on_loud_ping", event.n))

    async with EventBus() as bus:
        bus.subscribe_object(Listener(), [Ping])
        await bus.publish(Ping(1))
        await bus.publish(LoudPing(2))
        await bus.publish(Unheard(3))
    assert calls == [("on_ping", 1), ("on_loud_ping", 2)]


async def test_overriding_a_placeholder_and_calling_super_is_delivered() -> None:
    seen: list[int] = []

    class Child(Base):
        def on_ping(self, event: Ping) -> None:
            super().on_ping(event)
            seen.append(event.n)

    async with EventBus() as bus:
        subscription = bus.subscribe_object(Child(), mode="queued")
        await bus.publish(Ping(4))
        await bus.drain()
    assert seen == [4]
    assert subscription.name == "Child"


async def test_a_non_callable_hook_attribute_is_a_clear_error() -> None:
    class Broken:
        on_ping = 5

    async with EventBus() as bus:
        with pytest.raises(TypeError, match="Broken.on_ping must be callable"):
            bus.subscribe_object(Broken(), [Ping])
