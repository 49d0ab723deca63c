"""The training service without its HTTP face: templates, the job manager, the journal, recovery, retention.

``async with TrainingService(workdir, templates) as service:`` opens (or creates) the workdir's
database, brings back every stored job, resumes those that were queued or running when the last
process ended (killed or stopped), deletes backups that belong to no job, and starts the journal's
writer and the retention sweeps. Leaving it stops the jobs still training without recording them
as cancelled: a restart resumes them, as after a crash.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.to_thread
import pydantic

from trainer.jobs import (
    Executor,
    JobManager,
    JobStateError,
    JobStatus,
    JobStatusChanged,
    TrainingSpec,
    UnknownJobError,
    level_types,
)
from trainer.lookup import unknown_name_message

from .journal import Journal
from .limits import JobLimits
from .problems import Detail, validation_details
from .records import ServiceJob
from .retention import Retention, backup_size
from .store import JobStore
from .templates import Template

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["InvalidRequest", "TrainingService"]

logger = logging.getLogger("trainer.service")

_SWEEP_SECONDS = 3600.0  # how often retention runs besides after each finished job
_INTERRUPTED = (JobStatus.QUEUED, JobStatus.RUNNING)


class InvalidRequest(ValueError):
    """A request the service refuses (422), with one detail per problem."""

    def __init__(self, details: list[Detail], error: str = "invalid job request") -> None:
        super().__init__(error)
        self.details = details


class TrainingService:
    """Jobs made from ``templates``, trained by a :class:`~trainer.jobs.JobManager`, recorded in
    ``<workdir>/service.sqlite3``, their backups under ``<workdir>/jobs/``."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        templates: Mapping[str, Template],
        *,
        limits: JobLimits | None = None,
        retention: Retention | None = None,
        max_concurrent: int = 2,
        max_queued: int = 100,
        compute_slots: int | None = 1,
        executor: Executor | None = None,
    ) -> None:
        self.workdir = os.path.abspath(os.fspath(workdir))
        self.templates = dict(templates)
        self.limits = limits or JobLimits()
        self.retention = retention or Retention()
        self._max_concurrent, self._max_queued, self._compute_slots = max_concurrent, max_queued, compute_slots
        self._executor = executor
        self._backups = os.path.join(self.workdir, "jobs")
        self._worker = {"host": socket.gethostname(), "pid": os.getpid()}
        self._journal: Journal | None = None
        self._manager: JobManager | None = None
        self._task_group: anyio.abc.TaskGroup | None = None
        self._sweeping = anyio.Lock()  # a backup is never pruned while its job is being resumed
        self._stack: AsyncExitStack | None = None

    @property
    def journal(self) -> Journal:
        assert self._journal is not None, "the service is not running: use 'async with TrainingService(...)'"
        return self._journal

    @property
    def manager(self) -> JobManager:
        assert self._manager is not None, "the service is not running: use 'async with TrainingService(...)'"
        return self._manager

    # -- lifetime ----------------------------------------------------------------------------------

    async def __aenter__(self) -> TrainingService:
        os.makedirs(self._backups, exist_ok=True)
        async with AsyncExitStack() as stack:  # undone in reverse order, on an error here or on leaving
            store = await anyio.to_thread.run_sync(JobStore, os.path.join(self.workdir, "service.sqlite3"))
            stack.push_async_callback(anyio.to_thread.run_sync, store.close)
            journal = self._journal = await anyio.to_thread.run_sync(Journal, store)
            interrupted = [job for job in journal.jobs.values() if job.status in _INTERRUPTED]
            manager = self._manager = JobManager(
                workdir=self._backups, max_concurrent=self._max_concurrent, compute_slots=self._compute_slots,
                max_queued=max(self._max_queued, len(interrupted)), keep_finished=self.retention.keep_finished,
                executor=self._executor,
            )  # fmt: skip
            task_group = self._task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)  # the writer commits what is pending as it stops
            await stack.enter_async_context(manager)
            # Unsubscribed before the manager stops its jobs, so they stay 'running' in the store and
            # the next start resumes them. Subscribed before any job runs, so the journal numbers
            # every event before a reader can see it.
            stack.enter_context(manager.bus.subscribe(level_types("epoch"), journal.record, name="journal"))
            stack.enter_context(
                manager.bus.subscribe(JobStatusChanged, self._after_status, mode="queued", on_error="log", name="retention")
            )
            task_group.start_soon(journal.run_writer, name="journal writer")
            await self._delete_orphan_backups()
            for job in interrupted:
                known = await self._events_of_last_run(job.id) if self._can_attach(job) else None
                self._bring_back(job, attach_after=known)
            task_group.start_soon(self._sweep_every, _SWEEP_SECONDS, name="retention sweeps")
            await self.sweep()
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._stack is not None
        try:
            return await self._stack.__aexit__(exc_type, exc, tb)
        finally:
            self._manager = self._task_group = self._stack = None

    # -- what the API does -------------------------------------------------------------------------

    def describe(self, job_id: str) -> dict[str, Any]:
        """The job's record; :class:`UnknownJobError` if the service has none of that id."""
        job = self.journal.jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise UnknownJobError(job_id)
        record = job.record()
        try:
            live = self.manager.get(job_id)
        except UnknownJobError:
            return record
        # The manager's view is the newest: its status event may still be on the bus.
        record.update(status=live.status.value, attempts=live.attempts, error=live.error)
        if live.worker is not None:  # where its run trains: a Ray worker's process, say
            record["worker"] = dict(live.worker)
        return record

    def page(self, *, offset: int = 0, limit: int = 1000) -> tuple[list[dict[str, Any]], int]:
        """Up to ``limit`` job records from ``offset``, in submission order, and how many there are."""
        ids = list(self.journal.jobs)
        return [self.describe(job_id) for job_id in ids[offset : offset + limit]], len(ids)

    async def submit(self, template_name: str, params: Any, name: str | None = None) -> dict[str, Any]:
        """Check, cost and queue a job from a template; :class:`InvalidRequest` if it is refused."""
        template = self.templates.get(template_name)
        if template is None:
            reason = unknown_name_message("template", template_name, sorted(self.templates))
            raise InvalidRequest([{"field": "template", "reason": reason}])
        try:
            values = template.validate(params)
        except pydantic.ValidationError as error:
            raise InvalidRequest(validation_details(error, prefix="params", known=list(template.params.model_fields))) from None
        self.manager.check_room()  # before the build: a full queue costs no model and no data
        spec = await self._build_checked(template, values)
        job = self.manager.submit(partial(template.build, values), name=name or template.name, info={"template": template.name})
        record = ServiceJob(
            job.id, job.name, template.name, values, attempts=job.attempts, epochs=spec.epochs,
            submitted_at=job.submitted_at, worker=self._worker,
        )  # fmt: skip
        self.journal.save(record)
        await self.journal.flush()  # an accepted job is on disk before the client hears of it
        return self.describe(job.id)

    async def cancel(self, job_id: str) -> dict[str, Any]:
        record = self.describe(job_id)
        status = JobStatus(record["status"])
        if status is JobStatus.CANCELLED:
            return record
        if status.finished:
            raise JobStateError(job_id, f"has {status.value}; only a queued or running job can be cancelled")
        await self.manager.cancel(job_id)
        await self._settle(job_id)  # cancelled for good: a restart does not resume it
        return self.describe(job_id)

    async def resume(self, job_id: str) -> dict[str, Any]:
        async with self._sweeping:
            record = self.describe(job_id)
            job = self.journal.jobs[job_id]
            if not JobStatus(record["status"]).resumable:
                raise JobStateError(job_id, f"is {record['status']}; only a cancelled or failed job can be resumed")
            if not job.backup:
                raise JobStateError(job_id, "had its backup pruned (the service's backup quota); it cannot be resumed")
            try:
                self.manager.resume(job_id)
            except UnknownJobError:  # a job of an earlier process
                self._bring_back(job, attempts=job.attempts + 1)
        await self._settle(job_id)  # queued again for good: a restart resumes it
        return self.describe(job_id)

    async def _settle(self, job_id: str) -> None:
        """Record the job's status as the manager has it now, and commit, before the client hears
        of it (its status event, which says the same, may still be on its way)."""
        live, job = self.manager.get(job_id), self.journal.jobs[job_id]
        job.status, job.attempts, job.error = live.status, live.attempts, live.error
        if not live.status.finished:
            job.finished_at = None
        self.journal.save(job)
        await self.journal.flush()

    # -- recovery and retention --------------------------------------------------------------------

    def _bring_back(self, job: ServiceJob, *, attempts: int | None = None, attach_after: int | None = None) -> None:
        """Submit a stored job again under its id. ``attach_after``: the job was running, and the
        executor may re-attach to its run (the manager then counts a new attempt only if it cannot)."""
        template = self.templates.get(job.template)
        if template is None:
            job.status, job.error, job.finished_at = JobStatus.FAILED, f"template {job.template!r} is no longer served", time.time()
            self.journal.save(job)
            return
        if attempts is None:  # an interrupted job: a new run if it had started, its first if it had not
            attempts = job.attempts + (job.status is JobStatus.RUNNING and attach_after is None)
        self.manager.submit(partial(template.build, job.params), name=job.name, info={"template": job.template},
                            job_id=job.id, attempts=attempts, attach_after=attach_after)  # fmt: skip
        job.worker = self._worker

    def _can_attach(self, job: ServiceJob) -> bool:
        """Whether the job's last run may still train where the executor put it (a detached Ray actor)."""
        return job.status is JobStatus.RUNNING and callable(getattr(self.manager.executor, "attach", None))

    async def _events_of_last_run(self, job_id: str) -> int:
        """How many lifecycle events of the job's last run the store holds: those after its last
        'running' status."""
        known = 0
        after = 0
        while True:
            events, after = await self.journal.read(job=job_id, after=after)
            for stored in events:
                if stored.kind != JobStatusChanged.__name__:
                    known += 1
                elif json.loads(stored.data)["status"] == JobStatus.RUNNING.value:
                    known = 0
            if not events:
                return known

    async def _build_checked(self, template: Template, values: dict[str, Any]) -> TrainingSpec:
        try:
            spec = await anyio.to_thread.run_sync(template.build, values)
        except Exception as error:  # the user's template code: its failure is the request's problem
            raise InvalidRequest([{"field": "params", "reason": f"the template failed to build: {type(error).__name__}: {error}"}]) from None
        problems = self.limits.problems(spec)
        if problems:
            raise InvalidRequest(problems)
        return spec

    async def _delete_orphan_backups(self) -> None:
        orphans = [name for name in os.listdir(self._backups) if name not in self.journal.jobs]
        for name in orphans:
            await anyio.to_thread.run_sync(partial(shutil.rmtree, os.path.join(self._backups, name), ignore_errors=True))
        if orphans:
            logger.info("deleted %d backups of jobs the service no longer knows", len(orphans))

    async def _after_status(self, event: JobStatusChanged) -> None:
        if event.status.finished:
            await self.sweep()

    async def _sweep_every(self, seconds: float) -> None:
        while True:
            await anyio.sleep(seconds)
            await self.sweep()

    async def sweep(self) -> None:
        """Forget expired finished jobs and prune backups over the quota (see :class:`Retention`)."""
        async with self._sweeping:
            jobs = list(self.journal.jobs.values())
            expired = self.retention.expired(jobs, time.time())
            await self.journal.forget(expired)  # then the backups: a crash between leaves orphans, deleted at start
            await self._delete_backups(expired)
            jobs = [job for job in jobs if job.id not in expired]
            sizes = {job.id: await anyio.to_thread.run_sync(backup_size, self._backup_of(job.id)) for job in jobs
                     if job.status.resumable and job.backup}  # fmt: skip
            pruned = self.retention.over_quota(jobs, sizes)
            for job_id in pruned:
                self.journal.jobs[job_id].backup = False
                self.journal.save(self.journal.jobs[job_id])
            if pruned:
                await self.journal.flush()  # "no backup" is on disk before the backups go
            await self._delete_backups(pruned)

    async def _delete_backups(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            await anyio.to_thread.run_sync(partial(shutil.rmtree, self._backup_of(job_id), ignore_errors=True))

    def _backup_of(self, job_id: str) -> str:
        return os.path.join(self._backups, job_id)
