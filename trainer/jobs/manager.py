"""JobManager: many training jobs on one event loop, their events on one bus."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.to_thread

from eventbus import EventBus
from trainer.events import LIFECYCLE_EVENTS, LifecycleEvent
from trainer.turns import ComputeTurns, taking_turns

from .errors import JobLimitError, JobStateError, UnknownJobError
from .event_stream import JobEventStream
from .executor import Executor, InProcessExecutor
from .events import LEVELS, Level, at_level, level_types, of_job
from .job import Job
from .spec import Build
from .status import JobStatus

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["MIN_FOLLOW_MAXSIZE", "JobManager"]

logger = logging.getLogger("trainer.jobs")

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # it names the job's backup folder

MIN_FOLLOW_MAXSIZE = len(LIFECYCLE_EVENTS) + 2
"""The smallest queue a follower may have: longer than the number of kinds of event it receives, so
its ``keep_latest`` queue always has one to coalesce and a publisher never waits for it."""


class JobManager:
    """Runs training jobs in an anyio application: ``async with JobManager() as jobs:``.

    * ``submit`` queues a job and returns it at once; at most ``max_concurrent`` jobs train at a time,
      the others wait as ``queued`` (first come, first served; on trio, jobs submitted in one step
      line up in the order trio starts their tasks). At most ``max_queued`` may wait
      (:class:`JobLimitError` past that): nothing is queued without bound.
    * Running jobs take turns at computing (``compute_slots`` at a time, 1 by default, each for a
      10 ms slice; see :mod:`trainer.turns`): with the GIL, steps of small models computed at the
      same moment are no faster, and they keep the event loop waiting. Every running job progresses,
      the event loop stays responsive, and together they train as fast as one alone.
      ``compute_slots=None`` lets every running job compute at once.
    * Every run's lifecycle events go on one bus (``bus``, or one the manager owns), tagged with the
      job's id as ``run``, followed by a :class:`JobStatusChanged` at each change of status.
    * Each job keeps its status, last epoch and logs, and its last ``history`` events, epoch-level
      by default (``history_level="batch"`` keeps batch events too). Recording is a plain call on the
      event loop and a bounded deque, so it never holds training.
    * ``cancel`` stops a job before its next training step; its backup is kept, under ``workdir``
      (a temporary directory removed on leaving, if not given). ``resume`` trains a cancelled or
      failed job again from its last backup (the epoch after the last one backed up).
    * A job that raises is ``failed``, with the exception's text as ``error``; other jobs go on.
    * ``executor`` says where jobs train: in this process by default (:class:`InProcessExecutor`),
      or in Ray actors (:class:`~trainer.jobs.RayExecutor`). The manager enters it for its lifetime.
    * At most ``keep_finished`` finished jobs are kept: past that, the one that finished first is
      forgotten (``get`` no longer finds it) and its backup deleted, so a long-running service holds
      bounded memory and disk. Queued and running jobs are never forgotten.
    * Leaving the manager cancels the jobs still queued or running (wait for them first with
      ``await job.wait()``); leaving it on an exception does the same.
    """

    def __init__(
        self,
        *,
        bus: EventBus | None = None,
        workdir: str | os.PathLike[str] | None = None,
        max_concurrent: int = 2,
        max_queued: int = 100,
        history: int = 256,
        history_level: Level = "epoch",
        compute_slots: int | None = 1,
        keep_finished: int = 1000,
        executor: Executor | None = None,
    ) -> None:
        limits = {"max_concurrent": max_concurrent, "max_queued": max_queued, "history": history}
        for name, value in {**limits, "keep_finished": keep_finished}.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"JobManager: {name} must be a positive integer; got {value!r}")
        if compute_slots is not None and (
            isinstance(compute_slots, bool) or not isinstance(compute_slots, int) or compute_slots < 1
        ):
            raise ValueError(
                f"JobManager: compute_slots must be a positive integer, or None for no turns; got {compute_slots!r}"
            )
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(
                f"JobManager: executor must be an Executor (InProcessExecutor, RayExecutor); got {executor!r}"
            )
        if history_level not in LEVELS:
            raise ValueError(f"JobManager: history_level must be 'epoch' or 'batch'; got {history_level!r}")
        self.bus = bus or EventBus()
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.history_size = history
        self.history_level = history_level
        self.keep_finished = keep_finished
        self.turns = None if compute_slots is None else ComputeTurns(compute_slots)
        self.executor: Executor = InProcessExecutor() if executor is None else executor
        self._owns_bus = bus is None
        self._workdir = None if workdir is None else os.fspath(workdir)
        self._jobs: dict[str, Job] = {}
        self._finished: dict[str, None] = {}  # the finished jobs' ids, in the order they finished
        self._slots: anyio.CapacityLimiter | None = None
        self._stack: AsyncExitStack | None = None
        self._task_group: anyio.abc.TaskGroup | None = None

    # -- lifetime ----------------------------------------------------------------------------------

    async def __aenter__(self) -> JobManager:
        if self._stack is not None:
            raise RuntimeError("a JobManager can be entered only once; make a new one")
        self._slots = anyio.CapacityLimiter(self.max_concurrent)
        async with AsyncExitStack() as stack:
            if self._owns_bus:
                await stack.enter_async_context(self.bus)
            if self._workdir is None:
                self._workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="trainer-jobs-"))
            observed = tuple(t for t in level_types(self.history_level) if issubclass(t, LifecycleEvent))
            stack.enter_context(self.bus.subscribe(observed, self._observe, name="job manager"))
            await stack.enter_async_context(self.executor)  # left after the jobs have stopped
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._cancel_all)  # runs first on leaving: the task group then has nothing to wait for
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._stack is not None
        try:
            return await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            self._task_group = None

    def _cancel_all(self) -> None:
        for job in self._jobs.values():
            job.scope.cancel()

    # -- jobs --------------------------------------------------------------------------------------

    def submit(
        self,
        build: Build,
        *,
        name: str | None = None,
        info: Mapping[str, Any] | None = None,
        job_id: str | None = None,
        attempts: int = 1,
        attach_after: int | None = None,
    ) -> Job:
        """Queue a job that trains what ``build()`` returns (a :class:`TrainingSpec`); return it at once.

        ``name`` labels it (by default the name of ``build``); ``info`` is what the application
        keeps with it (a service's request, say), as ``job.info``. Raises :class:`JobLimitError` if
        ``max_queued`` jobs are waiting already.

        ``job_id`` and ``attempts`` bring back a job of an earlier manager (a service restarted on
        the same ``workdir``): it keeps its id, so it trains on from its backup there, and counts
        ``attempts`` runs, this one included. A ``job_id`` this manager knows raises ValueError.
        ``attach_after`` says that run may still be training where the earlier manager's executor
        put it (a detached Ray actor, see :class:`~trainer.jobs.RayExecutor`), and how many of its
        epoch-level events the application has: if the executor can re-attach to it, the job goes on
        as that run, without new status events, its events after those reaching the bus; if not, it
        trains anew from its backup, as attempt ``attempts + 1``.
        """
        if not callable(build):
            raise TypeError(f"build must be a callable returning a TrainingSpec; got {build!r}")
        if info is not None and not isinstance(info, Mapping):
            raise TypeError(f"info must be a mapping (a dict of what the job was submitted with); got {info!r}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"attempts must be a positive integer; got {attempts!r}")
        if attach_after is not None and (isinstance(attach_after, bool) or not isinstance(attach_after, int) or attach_after < 0):
            raise ValueError(f"attach_after must be a number of events >= 0, or None; got {attach_after!r}")
        if job_id is not None and (not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id)):
            raise ValueError(f"job_id must be 1 to 64 letters, digits, '-' or '_'; got {job_id!r}")
        if job_id in self._jobs:
            raise ValueError(f"job_id {job_id!r} is a job of this manager already; resume it instead")
        self.check_room()
        label = name or str(getattr(build, "__name__", "job"))
        job = Job(job_id or self._new_id(), label, build, self.history_size, info=info, attempts=attempts)
        self._jobs[job.id] = job
        self._start(job, attach_after)
        return job

    def get(self, job_id: str) -> Job:
        """The job with this id; :class:`UnknownJobError` (a KeyError) if there is none."""
        try:
            return self._jobs[job_id]
        except (KeyError, TypeError):
            raise UnknownJobError(job_id) from None

    def list(self) -> list[Job]:
        """Every job, in submission order."""
        return list(self._jobs.values())

    async def cancel(self, job_id: str) -> Job:
        """Stop a queued or running job and wait until it has stopped: before its next training step.

        Its status is then ``cancelled`` (or how it ended, if it finished before the cancellation
        reached it) and its backup is kept for :meth:`resume`. Cancelling a cancelled job does
        nothing; a completed or failed one raises :class:`JobStateError`.
        """
        job = self.get(job_id)
        if job.status is JobStatus.CANCELLED:
            return job
        if job.status.finished:
            raise JobStateError(job.id, f"has {job.status.value}; only a queued or running job can be cancelled")
        job.scope.cancel()
        await job.wait()
        return job

    def resume(self, job_id: str) -> Job:
        """Queue a cancelled or failed job again; it trains on from its last backup. Returns it at once.

        Raises :class:`JobStateError` for a queued, running or completed job, :class:`JobLimitError`
        if ``max_queued`` jobs are waiting already.
        """
        job = self.get(job_id)
        if not job.status.resumable:
            raise JobStateError(
                job.id, f"is {job.status.value}; only a cancelled or failed job can be resumed"
            )
        self.check_room()
        self._finished.pop(job.id, None)
        job.requeue()
        self._start(job)
        return job

    def follow(self, job_id: str, *, level: Level = "epoch", maxsize: int = 64) -> JobEventStream:
        """The job's events, its history first, until it finishes; see :class:`JobEventStream`.

        ``level="batch"`` adds batch events to those published from now on (the history holds what
        ``history_level`` kept). At most ``maxsize`` (at least :data:`MIN_FOLLOW_MAXSIZE`) events wait
        for the reader; past that they coalesce to the newest of each kind.
        """
        job = self.get(job_id)
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < MIN_FOLLOW_MAXSIZE:
            raise ValueError(f"maxsize must be an integer >= {MIN_FOLLOW_MAXSIZE}; got {maxsize!r}")
        live = self.bus.stream(level_types(level), maxsize=maxsize, overflow="keep_latest", where=of_job(job.id))
        # No await between subscribing and reading the history: no event falls between the two.
        backlog = [event for event in job.history() if at_level(event, level)]
        return JobEventStream(backlog, live, finished=job.status.finished)

    # -- running them ------------------------------------------------------------------------------

    def _start(self, job: Job, attach_after: int | None = None) -> None:
        if self._task_group is None:
            raise RuntimeError("the JobManager is not running: use 'async with JobManager() as jobs:'")
        self._task_group.start_soon(self._run, job, attach_after, name=f"job {job.id}")

    async def _run(self, job: Job, attach_after: int | None = None) -> None:
        """One run of ``job``: wait for a slot, build, train (or re-attach to the run an earlier
        manager started); always end in a finished status."""
        if attach_after is None:
            await self._announce(job)
        status, error = JobStatus.CANCELLED, None
        try:
            with job.scope:
                assert self._slots is not None
                async with self._slots:
                    job.start()
                    if attach_after is None or not await self._attach(job, attach_after):
                        if attach_after is not None:  # that run is gone: a new one, announced as any
                            job.attempts += 1
                            job.status = JobStatus.QUEUED
                            await self._announce(job)
                            job.start()
                        await self._announce(job)
                        await self._train(job)
                    status = JobStatus.COMPLETED
        except Exception as exc:
            logger.warning("job %s (%s) failed", job.id, job.name, exc_info=exc)
            status, error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled job still says so
                # Before it finishes, so whoever waits for it finds the older jobs already forgotten.
                await self._delete_backups(self._forget_beyond_keep(job))
                job.finish(status, error)
                await self._announce(job)

    async def _train(self, job: Job) -> None:
        assert self._workdir is not None
        with taking_turns(self.turns):  # None: no turns, even if the task that submitted the job takes them
            await self.executor.run(job, bus=self.bus, backup_dir=os.path.join(self._workdir, job.id))

    async def _attach(self, job: Job, known: int) -> bool:
        attach = getattr(self.executor, "attach", None)
        if attach is None:
            return False
        with taking_turns(self.turns):
            return bool(await attach(job, bus=self.bus, known=known))

    async def _announce(self, job: Job) -> None:
        # Recorded and published in one step, so a follower sees each status event exactly once.
        await self.bus.publish(job.status_event())

    def _observe(self, event: LifecycleEvent) -> None:
        job = self._jobs.get(event.run)
        if job is not None:
            job.observe(event)

    def _forget_beyond_keep(self, finishing: Job) -> Sequence[str]:
        """Count ``finishing`` as finished; forget the first finished jobs past ``keep_finished``."""
        self._finished[finishing.id] = None
        forgotten = []
        while len(self._finished) > self.keep_finished:
            oldest = next(iter(self._finished))
            del self._finished[oldest], self._jobs[oldest]
            forgotten.append(oldest)
        return forgotten

    async def _delete_backups(self, job_ids: Sequence[str]) -> None:
        assert self._workdir is not None
        for job_id in job_ids:
            backup_dir = os.path.join(self._workdir, job_id)
            await anyio.to_thread.run_sync(partial(shutil.rmtree, backup_dir, ignore_errors=True))

    def check_room(self) -> None:
        """Raise :class:`JobLimitError` if ``max_queued`` jobs are waiting already: what ``submit`` and
        ``resume`` would raise, for a caller that does costly work before either."""
        waiting = sum(job.status is JobStatus.QUEUED for job in self._jobs.values())
        if waiting >= self.max_queued:
            raise JobLimitError(f"{waiting} jobs are already waiting for a training slot (max_queued={self.max_queued})")

    def _new_id(self) -> str:
        while True:
            job_id = uuid.uuid4().hex[:12]
            if job_id not in self._jobs:
                return job_id
