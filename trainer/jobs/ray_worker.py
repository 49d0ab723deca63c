"""What runs inside a job's Ray actor: the job's ``fit_async``, its events kept in order until a manager reads them.

This module imports Ray only for an orphaned actor to end itself: :class:`~trainer.jobs.RayExecutor`
makes :class:`JobWorker` an actor. Ray runs an actor with ``async def`` methods on an asyncio event
loop of its own, in the worker process.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Set
from typing import Any

import anyio
import anyio.to_thread

from eventbus import BusClosedError, EventBus, EventStream
from trainer.events import LIFECYCLE_EVENTS, BatchEvent, LifecycleEvent

from .event_packing import pack_events
from .executor import this_process
from .spec import Build, TrainingSpec, checked_spec

__all__ = ["JobWorker"]

logger = logging.getLogger("trainer.jobs")

Entry = tuple[int, "int | None", LifecycleEvent]  # (sequence number, epoch-level number or None, event)


class JobWorker:
    """The runs of jobs in a Ray worker process, one at a time (an async actor; a warm one of the
    executor's runs one job after another, else it runs one and ends).

    :meth:`start` starts the run; its events of the kinds the manager wants (``wanted``: indexes in
    :data:`~trainer.events.LIFECYCLE_EVENTS`, changed by any :meth:`fetch`) are numbered in
    publication order and kept until read; the run does not even make the others (its bus has no
    subscriber for them: see :class:`trainer.run.Run`), so they cost its steps nothing.
    :meth:`fetch` returns those after a sequence number,
    packed (:mod:`~trainer.jobs.event_packing`), at most ``maxsize`` per call, waiting for some and
    then letting more gather until ``flush_seconds`` after the previous call returned; the number
    it is called with acknowledges every event up to it. At most ``backlog`` events wait
    unacknowledged: then the run's bus, and with it the run's compute thread, waits (backpressure;
    memory stays bounded).

    A manager that comes back (a restarted service) calls :meth:`reattach` with how many epoch-level
    events of the run it has: the worker keeps the last ``replay`` acknowledged epoch-level events
    for that, so the new reader starts right after what the old one recorded. With
    ``orphan_timeout``, a worker nobody has fetched from for that many seconds stops its run (its
    backup kept) and kills its own actor: a detached actor whose manager never comes back does not
    live on. :meth:`stop` cancels the run before its next step.
    """

    def __init__(self, orphan_timeout: float | None = None) -> None:
        self._orphan_timeout = orphan_timeout
        self._fitting: asyncio.Future[None] | None = None
        self._new_run()

    def _new_run(self) -> None:
        """Forget the last run: what :meth:`start` begins from."""
        self._scope = anyio.CancelScope()
        self._tasks: list[asyncio.Future[None]] = []
        self._bus = EventBus()
        # The run's events of the wanted kinds, a stream per change of them: each takes over from the
        # one before, which is read to its end first.
        self._streams: deque[EventStream[LifecycleEvent]] = deque()
        self._wanted: tuple[type[LifecycleEvent], ...] = ()
        self._run_over = False
        self._streams_changed = asyncio.Event()
        self._unread: deque[Entry] = deque()  # numbered above _acked
        self._replay: deque[Entry] = deque()  # acknowledged epoch-level events, the newest kept
        self._taken = 0  # sequence number of the last event taken from the run
        self._epoch_level = 0  # epoch-level events taken so far
        self._acked = 0
        self._ended = False  # the run is over and every event of it taken
        self._changed = asyncio.Event()  # set when events come or the run ends
        self._room = asyncio.Event()  # set when events are acknowledged
        self._last_fetch = time.monotonic()
        self._fetching = 0
        self._last_return = 0.0

    def where(self) -> dict[str, Any]:
        """``{"host", "pid"}`` of the worker process."""
        return this_process()

    async def start(
        self, build: Build, job_id: str, backup_dir: str, wanted: Set[int],
        *, maxsize: int, backlog: int, replay: int, flush_seconds: float,
    ) -> None:  # fmt: skip
        """Build the job's spec and start training it; returns once it trains (or raises what the build raised).

        A worker whose run has ended (every event of it fetched) can start another: the executor
        keeps warm workers that way (see ``RayExecutor(warm_workers=...)``)."""
        if not self.over():
            raise RuntimeError("this worker's run has not ended: a worker trains one run at a time")
        if self._fitting is not None:
            self._new_run()
            self._fitting = None
        spec = checked_spec(await anyio.to_thread.run_sync(build), job_id)
        self._maxsize, self._backlog, self._flush_seconds = maxsize, backlog, flush_seconds
        self._replay = deque(maxlen=replay)
        # Subscribed before the run publishes anything, to the wanted kinds only: the run sees whom
        # its bus has, so an event of a kind nobody wants is never even made (see trainer.run.Run).
        self._want(wanted)
        # Ray calls each method from a task of its own, so no task group spans the calls: the run
        # and its reader are tasks of their own, cancelled by stop() or the orphan watch.
        self._fitting = asyncio.ensure_future(self._fit(spec, job_id, backup_dir))
        self._tasks = [self._fitting, asyncio.ensure_future(self._take_all())]
        if self._orphan_timeout is not None:
            self._tasks.append(asyncio.ensure_future(self._watch_for_orphaning(self._orphan_timeout)))

    async def fetch(self, after: int, wanted: Set[int] | None = None) -> tuple[int, bytes, bool]:
        """Acknowledge every event up to ``after``; return the number of the last event returned,
        the events after ``after`` (packed), and whether the run has ended with them. Raises what
        failed the run once every event before the failure has been returned. ``wanted`` (if
        given) replaces the kinds kept from now on."""
        self._fetching += 1  # a manager waiting for events is no orphan's, however long an epoch lasts
        try:
            return await self._fetch(after, wanted)
        finally:
            self._fetching -= 1
            self._last_fetch = time.monotonic()

    async def _fetch(self, after: int, wanted: Set[int] | None) -> tuple[int, bytes, bool]:
        if wanted is not None:
            self._want(wanted)
        self._acknowledge(after)
        while not self._ended and self._taken <= after:
            self._changed.clear()
            await self._changed.wait()
        gather_until = self._last_return + self._flush_seconds
        while not self._ended and self._taken - after < self._maxsize and time.monotonic() < gather_until:
            await asyncio.sleep(gather_until - time.monotonic())  # each call costs Ray a round trip: let events gather
        replayed = [entry for entry in self._replay if entry[0] > after] if after < self._acked else []
        entries = [*replayed, *itertools.islice(self._unread, self._maxsize)][: self._maxsize]
        self._last_return = time.monotonic()
        last = entries[-1][0] if entries else max(after, self._taken)
        finished = self._ended and last >= self._taken
        if finished:
            assert self._fitting is not None
            if not entries:
                self._fitting.result()  # what failed the run: the caller reads it after every event
            finished = self._fitting.exception() is None  # else the next call raises it
        return last, pack_events([event for _, _, event in entries]), finished

    def over(self) -> bool:
        """Whether this worker can start a run: it has had none, or its run has ended and every
        event of it has been taken."""
        return self._fitting is None or (self._ended and all(task.done() for task in self._tasks))

    def reattach(self, known: int) -> int:
        """For a manager coming back with the run's first ``known`` epoch-level events: the number
        to fetch after, so it gets the events that follow them, and none of them again."""
        self._last_fetch = time.monotonic()
        entries = [*self._replay, *self._unread]
        numbered = [(seq, number) for seq, number, _ in entries if number is not None]
        previous = next((seq for seq, number in numbered if number == known - 1), None)
        if previous is not None:
            return previous
        first = next(((seq, number) for seq, number in numbered if number >= known), None)
        if first is None:
            return self._taken
        if first[1] > known:
            logger.warning("a manager re-attached knowing %d epoch-level events of this run; "
                           "%d of them were no longer kept", known, first[1] - known)  # fmt: skip
        return first[0] - 1

    async def stop(self) -> None:
        """Cancel the run before its next step and wait until it has stopped (its backup written)."""
        self._scope.cancel()
        if self._fitting is not None:
            await asyncio.wait([self._fitting])

    # -- inside --------------------------------------------------------------------------------

    def _want(self, codes: Set[int]) -> None:
        kinds = tuple(LIFECYCLE_EVENTS[code] for code in sorted(codes))
        if kinds == self._wanted or self._run_over:
            return
        self._wanted = kinds
        # On the event loop, between two publications: no event reaches both streams, or neither.
        if self._streams:
            self._streams[-1].subscription.close()  # what it holds is still read, then the next one
        if kinds:
            try:
                self._streams.append(self._bus.stream(kinds, maxsize=self._maxsize))
            except BusClosedError:  # the run is ending: it publishes nothing more
                pass
        self._streams_changed.set()

    def _acknowledge(self, after: int) -> None:
        if after <= self._acked:
            return
        self._acked = min(after, self._taken)
        while self._unread and self._unread[0][0] <= self._acked:
            entry = self._unread.popleft()
            if entry[1] is not None:
                self._replay.append(entry)
        self._room.set()

    async def _fit(self, spec: TrainingSpec, job_id: str, backup_dir: str) -> None:
        try:
            with self._scope:
                async with self._bus:
                    await spec.fit(bus=self._bus, run_id=job_id, backup_dir=os.fspath(backup_dir))
        finally:
            self._run_over = True
            if self._streams:
                self._streams[-1].subscription.close()  # what is queued is still read, then the reader ends
            self._streams_changed.set()

    async def _take_all(self) -> None:
        try:
            while self._streams or not self._run_over:
                if not self._streams:  # no kind wanted: wait for one, or the run's end
                    self._streams_changed.clear()
                    await self._streams_changed.wait()
                    continue
                while self._taken - self._acked >= self._backlog:
                    self._room.clear()
                    await self._room.wait()
                try:
                    events = await self._streams[0].receive_batch()
                except anyio.EndOfStream:
                    self._streams.popleft()
                    continue
                for event in events:
                    self._taken += 1
                    number = None
                    if not isinstance(event, BatchEvent):
                        number, self._epoch_level = self._epoch_level, self._epoch_level + 1
                    self._unread.append((self._taken, number, event))
                self._changed.set()
        finally:
            assert self._fitting is not None
            await asyncio.wait([self._fitting])
            self._ended = True
            self._changed.set()

    async def _watch_for_orphaning(self, timeout: float) -> None:
        while (idle := 0.0 if self._fetching else time.monotonic() - self._last_fetch) < timeout:
            await asyncio.sleep(timeout - idle)
        logger.warning("no manager fetched this run's events for %.0f s: stopping it and ending the actor", timeout)
        await self.stop()
        import ray  # only ever in a Ray worker

        ray.kill(ray.get_runtime_context().current_actor)
