"""The journal: every job's record and epoch-level events, numbered, kept current in memory and in the store.

The journal is the service's one writer. It subscribes inline to the job manager's bus, so each
epoch-level event (and each :class:`~trainer.jobs.JobStatusChanged`) gets its service-wide id before
any stream reader sees it. Writes are batched: a writer task commits what came in every
``flush_seconds`` in one transaction, in a worker thread, so recording never holds training and
never blocks the event loop. At most ``max_pending`` events wait to be written; past that the
publisher waits (memory stays bounded, nothing is dropped).

Ids increase across restarts too: a client that saw an id before the service died, then reconnects
with it (``Last-Event-ID``), is sent every event recorded after it, and none twice.

Reading (:meth:`Journal.read`) is served from the newest events kept in memory, which include
those not yet committed; only a reader further behind goes to the database. A reader therefore
sees every event in id order, none missed, none twice, whatever the writer is doing.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections.abc import Iterable
from typing import Any

import anyio
import anyio.to_thread

from eventbus import Event
from trainer.events import EpochEnd, LifecycleEvent
from trainer.jobs import JobStatus, JobStatusChanged, event_record
from trainer.json_values import jsonable

from .records import ServiceJob
from .store import JobStore, StoredEvent

__all__ = ["Journal"]

logger = logging.getLogger("trainer.service")

_IN_MEMORY = 4096  # newest events kept for readers, committed or not
_ID_BLOCK = 32  # bits of the ids one process gives: 4 billion events, and 2**21 starts in a browser's safe integers


class Journal:
    """The service's jobs (``jobs``, by id, in submission order) and their recorded events."""

    def __init__(self, store: JobStore, *, flush_seconds: float = 0.05, max_pending: int = 10_000) -> None:
        self.store = store
        self.jobs: dict[str, ServiceJob] = {job.id: job for job in store.jobs()}
        # Ids given to events that were not yet committed when a process died are lost with them,
        # and a client may have seen them: each start numbers on from a block of 2**32 ids of its
        # own, above every id an earlier process gave, whatever retention deleted since.
        self._last_id = store.next_id_block() << _ID_BLOCK
        self._flush_seconds = flush_seconds
        self._max_pending = max_pending
        self._recent: list[StoredEvent] = []  # ids increasing; the uncommitted ones among them
        self._committed = self._last_id  # every event up to this id is in the database
        self._dirty: dict[str, ServiceJob] = {}
        self._ids: dict[tuple[Any, ...], int] = {}  # event identity -> id, for the recent ones
        self._store_lock = anyio.Lock()  # one database call at a time, and reads never straddle a commit
        self._new = anyio.Event()  # set when an event is recorded; replaced once set
        self._written = anyio.Event()  # set after each commit; replaced once set

    # -- recording ---------------------------------------------------------------------------------

    def save(self, job: ServiceJob) -> None:
        """Keep ``job`` (new or changed); it is written with the next batch."""
        self.jobs[job.id] = job
        self._dirty[job.id] = job
        self._wake_writer()

    async def record(self, event: Event) -> None:
        """The bus handler: number ``event``, apply it to its job's record, queue both for writing."""
        while self._pending() >= self._max_pending:
            await self._wait_written()
        job = self.jobs.get(getattr(event, "run", ""))
        if job is None:
            return
        _apply(job, event)
        self._last_id += 1
        stored = StoredEvent(self._last_id, job.id, type(event).__name__, json.dumps(event_record(event)))
        self._recent.append(stored)
        self._ids[_identity(event)] = stored.id
        self.save(job)

    def event_id(self, event: Event) -> int | None:
        """The id ``event`` was recorded under (or a copy of it), if it was and is still recent."""
        return self._ids.get(_identity(event))

    # -- reading -----------------------------------------------------------------------------------

    @property
    def last_id(self) -> int:
        return self._last_id

    async def read(
        self, *, job: str | None = None, after: int = 0, limit: int = 10_000
    ) -> tuple[list[StoredEvent], int]:
        """The events with an id above ``after`` (of ``job``, or of every job), oldest first, at most
        ``limit``; and the id up to which every event was looked at (read on from there next time).
        What the database holds comes first, then what is only in memory."""
        older: list[StoredEvent] = []
        if after + 1 < self._oldest_recent():
            async with self._store_lock:  # no commit moves events out of memory meanwhile
                older = await anyio.to_thread.run_sync(lambda: self.store.events(job=job, after=after, limit=limit))
                oldest_recent = self._oldest_recent()
                if len(older) == limit and older[-1].id < oldest_recent:
                    return older, older[-1].id
                older = [event for event in older if event.id < oldest_recent]
                after = oldest_recent - 1
        start = bisect.bisect_right(self._recent, after, key=_id)
        recent = self._recent[start:]
        if job is not None:
            recent = [event for event in recent if event.job == job]
        events = older + recent
        if len(events) > limit:
            return events[:limit], events[limit - 1].id
        return events, self._last_id

    def _oldest_recent(self) -> int:
        return self._recent[0].id if self._recent else self._last_id + 1

    async def wait_after(self, event_id: int) -> None:
        """Return once an event with an id above ``event_id`` has been recorded."""
        while self._last_id <= event_id:
            await self._new.wait()

    # -- writing -----------------------------------------------------------------------------------

    async def run_writer(self) -> None:
        """Commit what is recorded, a batch every ``flush_seconds``, until cancelled; a cancellation
        commits what is pending first."""
        try:
            while True:
                # No await between the check and the wait: whatever is recorded after it sets the
                # event waited on (one recorded during the last commit is pending, not waited for).
                if not self._dirty and self._pending() == 0:
                    await self._new.wait()
                await anyio.sleep(self._flush_seconds)
                await self.flush()
        finally:
            with anyio.CancelScope(shield=True):
                await self.flush()

    async def flush(self) -> None:
        """Commit every job change and event recorded so far."""
        async with self._store_lock:
            # The records are taken here, on the loop's thread: the loop goes on changing the jobs
            # while the worker thread writes.
            jobs, self._dirty = list(self._dirty.values()), {}
            records = [job.record() for job in jobs]
            start = bisect.bisect_right(self._recent, self._committed, key=_id)
            events = self._recent[start:]
            if jobs or events:
                try:
                    await anyio.to_thread.run_sync(self.store.write, records, events)
                except BaseException:
                    self._dirty.update({job.id: job for job in jobs if job.id not in self._dirty})
                    raise
                if events:
                    self._committed = events[-1].id
                self._forget_old()
        written, self._written = self._written, anyio.Event()
        written.set()

    async def forget(self, job_ids: Iterable[str]) -> None:
        """Delete these jobs, their records and their events, from memory and the store."""
        ids = [job_id for job_id in job_ids if job_id in self.jobs]
        for job_id in ids:
            del self.jobs[job_id]
            self._dirty.pop(job_id, None)
        if ids:
            async with self._store_lock:
                await anyio.to_thread.run_sync(self.store.delete, ids)

    def _pending(self) -> int:
        return self._last_id - self._committed

    def _forget_old(self) -> None:
        excess = len(self._recent) - _IN_MEMORY
        if excess > 0:
            committed = bisect.bisect_right(self._recent, self._committed, key=_id)
            drop = min(excess, committed)
            del self._recent[:drop]
            if len(self._ids) > 2 * _IN_MEMORY:
                oldest = self._recent[0].id if self._recent else self._last_id
                self._ids = {key: value for key, value in self._ids.items() if value >= oldest}

    def _wake_writer(self) -> None:
        new, self._new = self._new, anyio.Event()
        new.set()

    async def _wait_written(self) -> None:
        await self._written.wait()


def _id(event: StoredEvent) -> int:
    return event.id


def _identity(event: Event) -> tuple[Any, ...]:
    # Queued readers get a copy of a lifecycle event (its logs frozen), with the same run and time.
    if isinstance(event, LifecycleEvent):
        return (type(event), event.run, event.time)
    if isinstance(event, JobStatusChanged):  # a job has each status once per attempt
        return (type(event), event.run, event.status, event.attempt)
    return (type(event), id(event))


def _apply(job: ServiceJob, event: Event) -> None:
    if isinstance(event, JobStatusChanged):
        job.status, job.attempts, job.error = event.status, event.attempt, event.error
        now = time.time()
        if event.status is JobStatus.RUNNING:
            job.started_at, job.finished_at = now, None
        elif event.status.finished:
            job.finished_at = now
        else:
            job.finished_at = None
    elif isinstance(event, EpochEnd):
        job.epoch, job.logs = event.epoch, jsonable(dict(event.logs))
