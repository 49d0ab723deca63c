"""Bad input is refused early, naming what was wrong and what was expected."""

import dataclasses
from dataclasses import dataclass

import pytest

from eventbus import Event, EventBus

from .events import Ping

pytestmark = pytest.mark.anyio


async def test_non_callable_handler() -> None:
    async with EventBus() as bus:
        with pytest.raises(TypeError, match="handler must be callable; got int 3"):
            bus.subscribe(Ping, 3)  # type: ignore[arg-type]


async def test_coroutine_object_instead_of_function() -> None:
    async def handler(event: Ping) -> None: ...

    async with EventBus() as bus:
        with pytest.raises(TypeError, match=r"not a coroutine object.*handler\(\.\.\.\)"):
            bus.subscribe(Ping, handler(Ping(0)))  # type: ignore[arg-type]


@pytest.mark.parametrize("not_an_event_type", [int, "Ping", Ping(1), None, (Ping, int)])
async def test_event_type_that_is_not_an_event_subclass(not_an_event_type: object) -> None:
    async with EventBus() as bus:
        with pytest.raises(TypeError, match="must be a subclass of eventbus.Event"):
            bus.subscribe(not_an_event_type, print)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be a subclass of eventbus.Event"):
            bus.stream(not_an_event_type)  # type: ignore[arg-type]


async def test_an_empty_tuple_of_event_types() -> None:
    async with EventBus() as bus:
        with pytest.raises(TypeError, match=r"a non-empty tuple of them; got \(\)"):
            bus.subscribe((), print)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "queue"}, "mode must be one of 'inline', 'queued'; got 'queue'; did you mean 'queued'?"),
        ({"overflow": "drop_newest"}, "overflow must be one of .*got 'drop_newest'; did you mean 'drop_oldest'?"),
        ({"on_error": "ignore"}, "on_error must be one of 'raise', 'log'; got 'ignore'"),
        ({"maxsize": 0}, "maxsize must be an int >= 1; got 0"),
        ({"maxsize": 2.5}, "maxsize must be an int >= 1; got 2.5"),
    ],
)
async def test_bad_options(options: dict, message: str) -> None:
    async with EventBus() as bus:
        with pytest.raises(ValueError, match=message):
            bus.subscribe(Ping, print, **options)


async def test_publishing_a_non_event() -> None:
    async with EventBus() as bus:
        with pytest.raises(TypeError, match="instances of eventbus.Event subclasses; got dict"):
            await bus.publish({"n": 1})  # type: ignore[arg-type]


async def test_publishing_an_event_type_that_is_not_a_frozen_dataclass() -> None:
    class Undecorated(Event):  # its instances would accept new attributes
        hook = "on_undecorated"

    class Relabelled(Ping):  # a subclass of a frozen event that is not itself declared a dataclass
        hook = "on_relabelled"

    async with EventBus() as bus:
        for event in (Undecorated(), Relabelled(1)):
            name = type(event).__name__
            with pytest.raises(TypeError, match=rf"{name} must be declared with @dataclass\(frozen=True\) \(slots=True is optional\)"):
                await bus.publish(event)


def test_a_mutable_dataclass_event_cannot_even_be_declared() -> None:
    with pytest.raises(TypeError, match="cannot inherit non-frozen dataclass from a frozen one"):

        @dataclass
        class Mutable(Event):
            hook = "on_mutable"


async def test_a_frozen_event_without_slots_is_delivered_and_stays_immutable() -> None:
    @dataclass(frozen=True)
    class Unslotted(Event):
        hook = "on_unslotted"
        n: int

    inline: list[object] = []
    queued: list[object] = []

    async def take(event: Unslotted) -> None:
        queued.append(event)

    async with EventBus() as bus:
        bus.subscribe(Unslotted, inline.append)
        bus.subscribe(Unslotted, take, mode="queued")
        await bus.publish(Unslotted(1))
        bus.publish_nowait(Unslotted(2))
    assert inline == queued == [Unslotted(1), Unslotted(2)]
    with pytest.raises(dataclasses.FrozenInstanceError):
        inline[0].n = 3  # type: ignore[attr-defined]


def test_negative_drain_timeout() -> None:
    with pytest.raises(ValueError, match="drain_timeout"):
        EventBus(drain_timeout=-1)
