"""Exceptions raised by the bus; each says which subscriber, hook and event it concerns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["BusClosedError", "DeliveryError", "HandlerFailure", "QueueFullError", "UndeliveredEventsError"]

_REPR_LIMIT = 200


def describe_event(event: object) -> str:
    """A one-line description of ``event`` for error messages, cut to a readable length."""
    text = repr(event)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


@dataclass(frozen=True)
class HandlerFailure:
    """One exception raised by a queued handler."""

    subscriber: str
    hook: str
    event: object
    error: BaseException

    def __str__(self) -> str:
        return (
            f"subscriber {self.subscriber!r} failed in {self.hook} handling "
            f"{describe_event(self.event)}: {type(self.error).__name__}: {self.error}"
        )


class DeliveryError(Exception):
    """Queued handlers raised; raised at the next barrier (``drain()`` or leaving the bus).

    ``failures`` lists every failure since the last barrier, oldest first; the first one's exception
    is also this exception's ``__cause__``.
    """

    def __init__(self, failures: Sequence[HandlerFailure]) -> None:
        self.failures = tuple(failures)
        lines = "\n".join(f"  - {failure}" for failure in self.failures)
        super().__init__(f"{len(self.failures)} queued handler call(s) failed:\n{lines}")


class QueueFullError(Exception):
    """A subscriber with ``overflow="error"`` had a full queue; the event was not delivered to anyone."""

    def __init__(self, subscriber: str, maxsize: int, event: object) -> None:
        self.subscriber = subscriber
        self.event = event
        super().__init__(
            f"queue of subscriber {subscriber!r} is full: it holds its maxsize of {maxsize} event(s) not yet handled; "
            f"{describe_event(event)} was not published. Raise maxsize, or choose "
            "overflow='block', 'drop_oldest' or 'keep_latest'"
        )


class UndeliveredEventsError(Exception):
    """Leaving the bus timed out before queued subscribers had handled every event.

    ``undelivered`` maps each such subscriber's name to the events it never handled; ``failures``
    lists the queued handlers' exceptions not yet reported (the first is also ``__cause__``).
    """

    def __init__(
        self, timeout: float, undelivered: dict[str, list[object]], failures: Sequence[HandlerFailure] = ()
    ) -> None:
        self.undelivered = undelivered
        self.failures = tuple(failures)
        parts = []
        for name, events in undelivered.items():
            shown = ", ".join(describe_event(event) for event in events[:3])
            more = f" and {len(events) - 3} more" if len(events) > 3 else ""
            parts.append(f"  - {name!r}: {len(events)} event(s): {shown}{more}")
        failed = "".join(f"\n  - {failure}" for failure in self.failures)
        super().__init__(
            f"queued subscribers did not finish within {timeout} s of leaving the bus; "
            "undelivered:\n" + "\n".join(parts) + (f"\nand these queued handler calls failed:{failed}" if failed else "")
        )
        if self.failures:
            self.__cause__ = self.failures[0].error


class BusClosedError(RuntimeError):
    """The bus is not running: it was never entered with ``async with``, or has been left."""
