"""Where a job trains: the executor seam of the job manager, and the in-process executor (the default)."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio
import anyio.to_thread

from eventbus import EventBus

from .job import Job
from .spec import checked_spec

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Executor", "InProcessExecutor", "this_process"]


@runtime_checkable
class Executor(Protocol):
    """What a :class:`~trainer.jobs.JobManager` hands its jobs' runs to.

    The manager enters it (``async with``) for its own lifetime and calls :meth:`run` once per run
    of a job, at most ``max_concurrent`` at a time, inside the job's cancel scope and the manager's
    compute turns. An executor whose runs can outlive the manager may also have
    ``async def attach(job, *, bus, known) -> bool`` (see :meth:`~trainer.jobs.RayExecutor.attach`),
    which the manager calls for a job submitted with ``attach_after``.
    """

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None: ...

    async def run(self, job: Job, *, bus: EventBus, backup_dir: str) -> None:
        """Build ``job.build()`` and train it, resuming from the backup in ``backup_dir`` if there is
        one, every lifecycle event published on ``bus`` in order with ``run=job.id``; set
        ``job.worker`` to where it trains. Returns once it completed; raises what failed it;
        cancelling the caller stops it before its next training step, the backup kept."""
        ...


def this_process() -> dict[str, Any]:
    """``{"host", "pid"}`` of the calling process: where a job runs, as ``Job.worker`` shows it."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


class InProcessExecutor:
    """Trains each job in this process, on the manager's event loop: embedded, nothing to start.

    Builds run in a worker thread, one at a time across the executor, so a build that calls
    ``trainer.set_random_seed`` first makes the same model every time. Training takes the manager's
    compute turns (see :mod:`trainer.turns`). ``Job.worker`` is this process.
    """

    def __init__(self) -> None:
        self._building: anyio.Lock | None = None

    async def __aenter__(self) -> InProcessExecutor:
        self._building = anyio.Lock()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._building = None

    async def run(self, job: Job, *, bus: EventBus, backup_dir: str) -> None:
        if self._building is None:
            raise RuntimeError("the InProcessExecutor is not running: a JobManager enters it")
        async with self._building:
            spec = checked_spec(await anyio.to_thread.run_sync(job.build), job.id)
        job.worker = this_process()
        await spec.fit(bus=bus, run_id=job.id, backup_dir=backup_dir)
