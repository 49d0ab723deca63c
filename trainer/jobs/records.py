"""Jobs and their events as strict-JSON dicts, for services and logs."""

from __future__ import annotations

from typing import Any

from eventbus import Event

# One conversion of log values to strict JSON for the whole engine: the JSON-lines logger's.
from trainer.json_values import jsonable
from trainer.events import BatchEvent, EpochEvent, LifecycleEvent

from .events import JobStatusChanged
from .job import Job

__all__ = ["event_record", "job_record"]


def event_record(event: Event) -> dict[str, Any]:
    """A lifecycle event as :class:`~trainer.callbacks.JSONLinesLogger` writes it (``run``, ``event``,
    ``hook``, ``epoch`` or ``batch``, ``logs``), or a status change as ``run``, ``event``, ``status``,
    ``attempt``, ``error``."""
    record: dict[str, Any] = {"run": getattr(event, "run", None), "event": type(event).__name__}
    if isinstance(event, JobStatusChanged):
        record.update(status=event.status.value, attempt=event.attempt, error=event.error)
    elif isinstance(event, LifecycleEvent):
        record["hook"] = event.hook
        if isinstance(event, EpochEvent):
            record["epoch"] = event.epoch
        elif isinstance(event, BatchEvent):
            record["batch"] = event.batch
        record["logs"] = jsonable(dict(event.logs))
    return record


def job_record(job: Job) -> dict[str, Any]:
    """What a job is and how it is doing, without its history."""
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "attempts": job.attempts,
        "epoch": job.epoch,
        "logs": jsonable(dict(job.logs)),
        "error": job.error,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "worker": job.worker,
    }
