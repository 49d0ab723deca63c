"""One training job: its id, status, last logs, and a bounded history of its events."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import anyio

from eventbus import Event
from trainer.events import EpochEnd, LifecycleEvent

from .events import JobStatusChanged
from .spec import Build
from .status import JobStatus

__all__ = ["Job"]


class Job:
    """A training job of a :class:`~trainer.jobs.JobManager`; read it, the manager changes it.

    ``status`` is a :class:`JobStatus`; ``attempts`` counts its runs, the queued one included (1,
    then one more for each resume); ``epoch`` and ``logs`` are those of the last epoch that ended
    (None and empty before); ``error`` is why the last run failed; ``info`` is what the application
    submitted it with; ``worker`` is where its last run trained, ``{"host", "pid"}`` (None before).
    ``history()`` gives the job's latest events, oldest first: at most ``history_size`` of them,
    older ones forgotten, so a long job holds bounded memory.
    Times are seconds since the Unix epoch.
    """

    def __init__(
        self,
        job_id: str,
        name: str,
        build: Build,
        history_size: int,
        *,
        info: Mapping[str, Any] | None = None,
        attempts: int = 1,
    ) -> None:
        self.id = job_id
        self.name = name
        self.build = build
        self.info: Mapping[str, Any] = MappingProxyType(dict(info or {}))
        self.status = JobStatus.QUEUED
        self.attempts = attempts
        self.epoch: int | None = None
        self.logs: Mapping[str, Any] = MappingProxyType({})
        self.error: str | None = None
        self.worker: dict[str, Any] | None = None
        self.submitted_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self._history: deque[Event] = deque(maxlen=history_size)
        self._finished = anyio.Event()
        self.scope = anyio.CancelScope()

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.name!r} {self.status.value}>"

    def history(self) -> list[Event]:
        """The job's recorded events, oldest first: lifecycle events and :class:`JobStatusChanged`."""
        return list(self._history)

    async def wait(self) -> JobStatus:
        """Wait until the current run has finished; return the status it finished with."""
        await self._finished.wait()
        return self.status

    # -- what the manager does to it -------------------------------------------------------------

    def requeue(self) -> None:
        """Queue a finished job to run again, with a fresh cancel scope and finish line."""
        self.status, self.error, self.finished_at = JobStatus.QUEUED, None, None
        self.attempts += 1
        self.scope = anyio.CancelScope()
        self._finished = anyio.Event()

    def start(self) -> None:
        self.status = JobStatus.RUNNING
        self.started_at = time.time()

    def finish(self, status: JobStatus, error: str | None = None) -> None:
        self.status, self.error, self.finished_at = status, error, time.time()
        self._finished.set()

    def status_event(self) -> JobStatusChanged:
        """The current status as an event, recorded in the history; the manager publishes it."""
        event = JobStatusChanged(self.id, self.status, self.attempts, self.error)
        self._history.append(event)
        return event

    def observe(self, event: LifecycleEvent) -> None:
        """Record one of the job's lifecycle events (called on the event loop, for each it keeps)."""
        if isinstance(event, EpochEnd):
            self.epoch, self.logs = event.epoch, event.logs
        self._history.append(event)
