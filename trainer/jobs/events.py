"""The event a job manager adds to the lifecycle events on its bus, and how events are selected by level."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from eventbus import Event
from trainer.events import LIFECYCLE_EVENTS, BatchEvent

from .status import JobStatus

__all__ = ["JobStatusChanged", "Level", "at_level", "level_types", "of_job"]

Level = Literal["epoch", "batch"]
"""``"epoch"``: every event but the per-batch ones, and status changes. ``"batch"``: all of them."""

LEVELS: tuple[Level, ...] = ("epoch", "batch")


@dataclasses.dataclass(frozen=True, slots=True)
class JobStatusChanged(Event):
    """A job changed status; ``run`` is the job's id, as on the lifecycle events of its runs.

    ``attempt`` counts the job's runs (1 for the first, 2 after one resume, ...); ``error`` is the
    text of the exception that failed it, if it failed.
    """

    run: str
    status: JobStatus
    attempt: int
    error: str | None = None


def at_level(event: Event, level: Level) -> bool:
    """Whether ``event`` belongs to what ``level`` selects."""
    return _selects(type(event), level)


def level_types(level: Level) -> tuple[type[Event], ...]:
    """The event types ``level`` selects, to subscribe to: the bus then never offers the others."""
    if level not in LEVELS:
        raise ValueError(f"level must be 'epoch' or 'batch'; got {level!r}")
    lifecycle = (event_type for event_type in LIFECYCLE_EVENTS if _selects(event_type, level))
    return (*lifecycle, JobStatusChanged)


def _selects(event_type: type[Event], level: Level) -> bool:
    return level == "batch" or not issubclass(event_type, BatchEvent)


def of_job(job_id: str) -> Callable[[Event], bool]:
    """A ``where`` filter for a bus: the events of one job (those of :func:`level_types` carry ``run``)."""

    def selected(event: Event) -> bool:
        return getattr(event, "run", None) == job_id

    return selected
