"""The event a job manager adds to the lifecycle events on its bus, and how events are selected by level."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from eventbus import Event
from trainer.events import BatchEvent, LifecycleEvent

from .status import JobStatus

__all__ = ["JobStatusChanged", "Level", "at_level", "events_of_job"]

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
    return level == "batch" or not isinstance(event, BatchEvent)


def events_of_job(job_id: str, level: Level) -> Callable[[Event], bool]:
    """A ``where`` filter for a bus: the lifecycle and status events of one job, at ``level``."""
    if level not in LEVELS:
        raise ValueError(f"level must be 'epoch' or 'batch'; got {level!r}")

    def selected(event: Event) -> bool:
        return (
            isinstance(event, (LifecycleEvent, JobStatusChanged)) and event.run == job_id and at_level(event, level)
        )

    return selected
