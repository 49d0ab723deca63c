"""The base class of every event, and what the bus checks of an event type."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, TypeVar

__all__ = ["Event", "check_event_type", "check_event_types", "check_publishable", "known_event_types"]

E = TypeVar("E", bound="Event")


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """An immutable fact published on a bus.

    Subclass it as a frozen dataclass::

        @dataclass(frozen=True, slots=True)
        class EpochEnd(Event):
            hook = "on_epoch_end"
            epoch: int

    ``frozen=True`` is required: it is what makes one instance safe to share between subscribers
    and tasks. ``slots=True`` is an optimisation, yours to choose: instances take less memory (no
    per-instance ``__dict__``), read their fields a little faster, and cannot be given stray
    attributes even through ``object.__setattr__``.

    ``hook`` names the method that receives the event when an object is subscribed with
    :meth:`EventBus.subscribe_object`. Subscribing to a class receives its subclasses too.
    """

    hook: ClassVar[str] = ""

    def snapshot(self: E) -> E:
        """Return the copy of this event that a queued subscriber receives.

        Queued subscribers run later, concurrently with the publisher, so what they receive must
        not change under them. A frozen event whose fields are immutable is its own snapshot (the
        default); an event carrying a mutable mapping overrides this to copy it read-only. The bus
        takes one snapshot per publish, and a fresh one after an inline handler has run, so a queued
        subscriber sees what inline subscribers before it added.
        """
        return self


def check_event_type(event_type: object) -> type[Event]:
    """Return ``event_type`` if it is a subclass of :class:`Event`, else raise :class:`TypeError`."""
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(
            f"event type must be a subclass of eventbus.Event; got {event_type!r}"
        )
    return event_type


def check_event_types(event_types: object) -> tuple[type[Event], ...]:
    """``event_types`` (one :class:`Event` subclass, or a non-empty tuple of them) as a tuple."""
    if isinstance(event_types, tuple):
        if not event_types:
            raise TypeError("event types must be an Event subclass or a non-empty tuple of them; got ()")
        return tuple(check_event_type(event_type) for event_type in event_types)
    return (check_event_type(event_types),)


def check_publishable(event_type: type[Event]) -> None:
    """Raise :class:`TypeError` unless instances of ``event_type`` are immutable: the class itself
    must be declared a frozen dataclass (slotted or not).

    Checked once per event type, when it is first published, so publishing stays cheap.
    """
    params = event_type.__dict__.get("__dataclass_params__")
    if params is None or not params.frozen:
        raise TypeError(
            f"{event_type.__qualname__} must be declared with @dataclass(frozen=True) "
            "(slots=True is optional): events are shared between subscribers and must not "
            "change after they are published"
        )


def known_event_types() -> list[type[Event]]:
    """Every subclass of :class:`Event` defined so far that names a hook, in definition order."""
    found: list[type[Event]] = []
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop(0)
        if cls.hook and cls not in found:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
