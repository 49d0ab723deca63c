"""What runs inside a job's Ray actor: the job's ``fit_async``, its events streamed back in order.

This module never imports Ray: :class:`~trainer.jobs.RayExecutor` makes :class:`JobWorker` an actor.
Ray runs an actor with ``async def`` methods on an asyncio event loop of its own, in the worker process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.to_thread

from eventbus import EventBus, EventStream
from trainer.events import LifecycleEvent

from .executor import this_process
from .spec import Build, TrainingSpec, checked_spec

__all__ = ["JobWorker"]


class JobWorker:
    """One run of one job, in a Ray worker process (an async actor: one per run).

    :meth:`train` is a Ray streaming generator: it yields the run's lifecycle events in lists, in
    publication order, each of every event waiting, at most one list per ``flush_seconds``. Ray
    pauses it while ``_generator_backpressure_num_objects`` lists wait unread; the run's events then
    fill a queue of ``maxsize`` and its compute thread waits for room: a slow reader makes the worker
    wait, and memory stays bounded. :meth:`stop` cancels the run before its next step.
    """

    def __init__(self) -> None:
        self._scope: anyio.CancelScope | None = None
        self._fitting: asyncio.Future[None] | None = None

    def where(self) -> dict[str, Any]:
        """``{"host", "pid"}`` of the worker process."""
        return this_process()

    async def train(
        self, build: Build, job_id: str, backup_dir: str, maxsize: int, flush_seconds: float
    ) -> AsyncIterator[list[LifecycleEvent]]:
        spec = checked_spec(await anyio.to_thread.run_sync(build), job_id)
        bus = EventBus()
        stream = bus.stream(LifecycleEvent, maxsize=maxsize)  # subscribed before the run publishes anything
        self._scope = anyio.CancelScope()
        # Ray iterates this generator from a task of its own, so no task group can span its
        # yields: the run is a task of its own, cancelled and awaited here whatever happens.
        fitting = self._fitting = asyncio.ensure_future(self._fit(spec, bus, stream, job_id, backup_dir))
        try:
            while True:
                try:
                    events = await stream.receive_batch()
                except anyio.EndOfStream:
                    break
                yield [_shippable(event) for event in events]
                await anyio.sleep(flush_seconds)  # each list costs Ray a round trip: let events gather
        except BaseException:
            self._scope.cancel()  # the caller is gone: only then, as cancelling a run ending would hide its error
            raise
        finally:
            await asyncio.wait([fitting])
        fitting.result()  # what failed the run fails the stream: the caller reads it as the last item

    async def stop(self) -> None:
        """Cancel the run before its next step and wait until it has stopped (its backup written)."""
        if self._scope is not None:
            self._scope.cancel()
        if self._fitting is not None:
            await asyncio.wait([self._fitting])

    async def _fit(
        self, spec: TrainingSpec, bus: EventBus, stream: EventStream[LifecycleEvent], job_id: str, backup_dir: str
    ) -> None:
        assert self._scope is not None
        try:
            with self._scope:
                async with bus:
                    await spec.fit(bus=bus, run_id=job_id, backup_dir=os.fspath(backup_dir))
        finally:
            await stream.aclose()  # what is queued is still read, then the stream ends


def _shippable(event: LifecycleEvent) -> LifecycleEvent:
    # A queued reader's logs are a read-only view, which does not pickle; the copy is plain.
    return dataclasses.replace(event, logs=dict(event.logs))
