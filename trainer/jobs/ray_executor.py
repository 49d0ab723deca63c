"""The Ray executor: each run of a job in a Ray actor of its own, its events streamed back in order."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread

from eventbus import EventBus
from trainer.events import LIFECYCLE_EVENTS

from .errors import WorkerDiedError
from .event_packing import unpack_events
from .job import Job
from .ray_worker import JobWorker
from .warm_workers import RayWorker, WarmWorkers

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["LOOPBACK_ENV", "RayExecutor"]

T = TypeVar("T")

logger = logging.getLogger("trainer.jobs")

LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Set to ``0`` before Ray is imported, a local Ray listens and connects on 127.0.0.1 only."""

_POLL_SECONDS = 0.05  # how often a thread waiting for Ray looks whether its task was cancelled
_WARM_TIMEOUT = 60.0  # how long entering the executor waits for its warm workers to be up


class RayExecutor:
    """Runs each run of a job in its own Ray actor: a worker process, on any node of the cluster.

    ``address=None`` starts a local Ray when the manager enters the executor (or uses the one this
    process has already started with ``ray.init``); an address (``"ray://..."``, ``"HOST:6379"``,
    ``"auto"``) joins an existing cluster. ``init_kwargs`` go to ``ray.init`` (``num_cpus``,
    ``runtime_env``, ...); by default Ray's dashboard is not started and workers' output is not
    copied to this process's. A local Ray started here listens on loopback only: unless the
    environment says otherwise, :data:`LOOPBACK_ENV` is set to ``0`` before Ray is imported. Ray is
    shut down on leaving if it was started here. Starting Ray blocks the event loop for the seconds
    it takes: Ray's processes die with the thread that started them, so no worker thread can. The
    process's SIGTERM handler is kept (``ray.init`` replaces it).

    * Each run reserves ``num_cpus_per_job`` CPUs of the cluster; a run waits (``running``) until
      an actor can be placed. The job's build is pickled to the worker and called there (see
      :data:`~trainer.jobs.Build`); ``backup_dir`` must be on storage every node reaches.
    * The worker runs the same ``fit_async`` with the same callbacks (inline ones next to the
      model). Every lifecycle event of a kind the manager's bus has a subscriber for reaches that
      bus typed, in order, with ``run=job.id``, in packed lists of what gathered in
      ``flush_seconds`` (each list costs a round trip through Ray), at most ``maxsize`` events per
      list; kinds nobody subscribes to are not shipped, nor even made in the worker. The worker
      learns of a change of subscribers with the next list it is asked for, its training at its
      next step: a new subscriber sees the events from then on. At most ``backlog`` events wait unread, and then the worker's training waits for the
      manager (backpressure). An event's ``time`` is the worker's monotonic clock.
    * Cancelling the run asks the worker to stop before its next step, waits up to ``stop_timeout``
      seconds for it (so backups and checkpoints being written are finished), then kills the actor.
    * A worker process that dies (killed, out of memory, its node lost) fails the run with a
      :class:`~trainer.jobs.WorkerDiedError` naming its host and pid, as soon as Ray reports it.
    * ``Job.worker`` is the worker process: ``{"host", "pid"}``.
    * ``warm_workers``: how many worker processes wait ready for a run. Entering the executor
      starts as many as the cluster has CPUs for and waits until they are up (a worker's start,
      Ray's and the engine's imports, takes a CPU-second or more). A worker whose run ended
      cleanly (completed, or failed by the job's own error) waits for the next run while fewer
      than that many wait, else it ends; a cancelled run's ends. A run takes a waiting worker if
      there is one, so it starts at once; else it starts its own, and a worker another run hands
      back meanwhile goes to it instead (see :class:`~trainer.jobs.warm_workers.WarmWorkers`).
      Runs of different jobs then share a process one after the other, as they share the
      manager's in process; each waiting worker holds its ``num_cpus_per_job`` on the cluster.
      ``0`` (the default): a new process for every run. Not with a namespace, whose actors are
      named after their job.
    * With a ``namespace``, each run's actor is detached and named after its job in that Ray
      namespace, so it outlives this process: a manager started later with the same namespace
      (a service restarted on a cluster it joined) re-attaches to it (:meth:`attach`) instead of
      training the job again. The worker keeps its unread events (and its last ``replay``
      epoch-level ones) for it; one that nobody reads from for ``orphan_timeout`` seconds stops its
      run, its backup kept, and ends. Without a namespace the actors end with this process.

    On trio, and on asyncio too, Ray's blocking calls run in worker threads (anyio's), one per
    running job at a time, polling for cancellation every 50 ms.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus_per_job: float = 1,
        *,
        backlog: int = 2048,
        maxsize: int = 256,
        flush_seconds: float = 0.01,
        stop_timeout: float = 10.0,
        namespace: str | None = None,
        replay: int = 256,
        orphan_timeout: float = 600.0,
        init_kwargs: Mapping[str, Any] | None = None,
        warm_workers: int = 0,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address):
            raise ValueError(
                f"RayExecutor: address must be a Ray cluster's address, or None for a local Ray; got {address!r}"
            )
        cpus = num_cpus_per_job
        if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not cpus >= 0:  # NaN too
            raise ValueError(f"RayExecutor: num_cpus_per_job must be a number >= 0; got {num_cpus_per_job!r}")
        for name, value in {"backlog": backlog, "maxsize": maxsize, "replay": replay}.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RayExecutor: {name} must be a positive integer; got {value!r}")
        if isinstance(warm_workers, bool) or not isinstance(warm_workers, int) or warm_workers < 0:
            raise ValueError(f"RayExecutor: warm_workers must be an integer >= 0; got {warm_workers!r}")
        if warm_workers and namespace is not None:
            raise ValueError(
                "RayExecutor: warm_workers needs namespace=None: with a namespace each run's actor is named after "
                "its job (so that a restarted manager finds it), and a worker started before its job has no name"
            )
        if backlog < maxsize:
            raise ValueError(f"RayExecutor: backlog ({backlog}) must be at least maxsize ({maxsize})")
        seconds: dict[str, float] = {"flush_seconds": flush_seconds, "stop_timeout": stop_timeout, "orphan_timeout": orphan_timeout}
        for name, duration in seconds.items():
            if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not duration >= 0:
                raise ValueError(f"RayExecutor: {name} must be a number of seconds >= 0; got {duration!r}")
        if namespace is not None and (not isinstance(namespace, str) or not namespace):
            raise ValueError(f"RayExecutor: namespace must be a non-empty string, or None; got {namespace!r}")
        if init_kwargs is not None and not isinstance(init_kwargs, Mapping):
            raise TypeError(f"RayExecutor: init_kwargs must be a mapping of ray.init's arguments; got {init_kwargs!r}")
        self.address = address
        self.num_cpus_per_job = num_cpus_per_job
        self.backlog = backlog
        self.maxsize = maxsize
        self.flush_seconds = float(flush_seconds)
        self.stop_timeout = float(stop_timeout)
        self.namespace = namespace
        self.replay = replay
        self.orphan_timeout = float(orphan_timeout)
        self.init_kwargs = dict(init_kwargs or {})
        self.warm_workers = warm_workers
        self._ray: ModuleType | None = None
        self._actor_class: Any = None
        self._warm: WarmWorkers | None = None
        self._started_ray = False
        # One waiting thread per running job: the manager's max_concurrent bounds them, and they
        # must not wait for the threads that compute in-process jobs.
        self._threads = anyio.CapacityLimiter(math.inf)

    def __repr__(self) -> str:
        return f"<RayExecutor {self.address or 'local'} num_cpus_per_job={self.num_cpus_per_job} warm_workers={self.warm_workers}>"

    async def __aenter__(self) -> RayExecutor:
        ray = _import_ray(local=self.address is None)
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, **self.init_kwargs}
            on_sigterm = signal.getsignal(signal.SIGTERM)
            try:
                ray.init(address=self.address or "local", **kwargs)
            except ConnectionError as error:
                raise ConnectionError(
                    f"RayExecutor: could not join the Ray cluster at {self.address}: {error}. A cluster with token "
                    "authentication (Ray's default) needs RAY_AUTH_MODE=token in this process's environment, and "
                    "the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
                ) from error
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, on_sigterm)  # ray.init sets its own: the application's stays
            self._started_ray = True
        self._ray = ray
        self._actor_class = ray.remote(JobWorker)
        self._warm = WarmWorkers(self.warm_workers, self._new_actor, self._where, ray.kill, (ray.exceptions.RayError,))
        try:
            await self._warm.fill(await self._warm_workers_with_room(), _WARM_TIMEOUT)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def _warm_workers_with_room(self) -> int:
        """How many of the warm workers the cluster has CPUs for now (the rest come as runs end)."""
        assert self._ray is not None
        room = self.warm_workers
        if room and self.num_cpus_per_job > 0:
            free: dict[str, float] = await anyio.to_thread.run_sync(self._ray.available_resources)
            room = min(room, int(free.get("CPU", 0) // self.num_cpus_per_job))
        if room < self.warm_workers:
            logger.warning("the Ray cluster has CPUs for %d of the %d warm workers now: the others are kept "
                           "as runs end", room, self.warm_workers)  # fmt: skip
        return room

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._warm is not None:
            self._warm.close()
        ray, self._ray = self._ray, None
        if ray is not None and self._started_ray:
            self._started_ray = False
            ray.shutdown()

    async def run(self, job: Job, *, bus: EventBus, backup_dir: str) -> None:
        warm = self._warm_workers()
        place = warm.take if self.namespace is None else partial(self._named_worker, job.id)

        def start(actor: Any) -> Any:
            return actor.start.remote(
                job.build, job.id, os.fspath(backup_dir), self._wanted(bus),
                maxsize=self.maxsize, backlog=self.backlog, replay=self.replay, flush_seconds=self.flush_seconds,
            )  # fmt: skip

        await self._follow(place, job, bus, start, after=0)

    def _new_actor(self, **options: Any) -> Any:
        return self._actor_class.options(num_cpus=self.num_cpus_per_job, **options).remote(
            self.orphan_timeout if self.namespace is not None else None
        )

    async def _named_worker(self, job_id: str) -> RayWorker:
        """A new detached worker named after the job, in the namespace (a leftover of that name killed)."""
        leftover = await self._in_thread(self._named_actor, job_id)
        if leftover is not None:  # of a run that was not re-attached to: it must not train on
            self._running().kill(leftover)
        actor = self._new_actor(name=_actor_name(job_id), namespace=self.namespace, lifetime="detached")
        return await self._warm_workers().placed(actor)

    async def _run_over(self, worker: RayWorker) -> bool:
        with contextlib.suppress(self._running().exceptions.RayError):
            return bool(await self._get(worker.actor.over.remote()))
        return False

    async def _where(self, actor: Any) -> dict[str, Any]:
        where: dict[str, Any] = await self._get(actor.where.remote())
        return where

    async def attach(self, job: Job, *, bus: EventBus, known: int) -> bool:
        """Follow the run of ``job`` that an earlier manager of this namespace started, if its
        actor still lives: its events after the first ``known`` epoch-level ones reach ``bus``, and
        this returns True once the run completed (raising what failed it, as :meth:`run`). False
        at once if there is no such actor (no namespace, or it has ended)."""
        ray = self._running()
        if self.namespace is None:
            return False
        actor = await self._in_thread(self._named_actor, job.id)
        if actor is None:
            return False
        try:
            after = await self._get(actor.reattach.remote(known))
        except ray.exceptions.RayActorError:  # it died meanwhile: the job trains anew
            return False
        await self._follow(partial(self._warm_workers().placed, actor), job, bus, None, after=after)
        return True

    async def _follow(
        self, place: Callable[[], Awaitable[RayWorker]], job: Job, bus: EventBus,
        start: Callable[[Any], Any] | None, *, after: int,
    ) -> None:  # fmt: skip
        """Get a worker from ``place``, ``start`` the run on it (unless it runs already), publish the
        run's events until it ends; turn Ray's failures into the run's; hand the worker back to the
        warm ones if the run ended cleanly, else end it."""
        ray = self._running()
        worker: RayWorker | None = None
        clean = False
        cursor = [after]  # the last event fetched
        try:
            worker = await place()
            job.worker = worker.where
            if start is not None:
                await self._get(start(worker.actor))
            await self._publish_all(worker.actor, job, bus, cursor)
            clean = True
        except anyio.get_cancelled_exc_class():
            if worker is not None:
                # A worker that fails or dies meanwhile has stopped too: the job is cancelled all the same.
                with anyio.CancelScope(shield=True), anyio.move_on_after(self.stop_timeout), \
                        contextlib.suppress(ray.exceptions.RayError):  # fmt: skip
                    await self._get(worker.actor.stop.remote())
                    await self._publish_all(worker.actor, job, bus, cursor)  # what it did before it stopped reaches the bus too
            raise
        except ray.exceptions.RayTaskError as error:
            # The job's own error, as a rule: then its worker is sound, and kept if it says its run is over.
            clean = self.warm_workers > 0 and worker is not None and await self._run_over(worker)
            raise error.cause from error  # what failed the run in the worker, as it failed it
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError,
                ray.exceptions.NodeDiedError) as error:  # fmt: skip
            where = f" (pid {job.worker['pid']} on {job.worker['host']})" if worker is not None and job.worker else ""
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise WorkerDiedError(f"the Ray worker process running job {job.id}{where} died: {reason}") from error
        finally:
            if worker is not None:
                if clean:
                    self._warm_workers().give_back(worker)
                else:
                    ray.kill(worker.actor)

    async def _publish_all(self, actor: Any, job: Job, bus: EventBus, cursor: list[int]) -> None:
        """Fetch and publish until the run has ended, ``cursor[0]`` following the last event fetched
        (the events of a list whose publication is cancelled are not fetched again)."""
        sent: frozenset[int] | None = None  # what the worker was last told: it was started with it, or not told yet
        finished = False
        while not finished:
            wanted = self._wanted(bus)
            cursor[0], packed, finished = await self._get(actor.fetch.remote(cursor[0], None if wanted == sent else wanted))
            sent = wanted
            for event in unpack_events(packed, job.id):
                await bus.publish(event)

    @property
    def idle_workers(self) -> list[dict[str, Any]]:
        """Where each warm worker waiting for a run is (``{"host", "pid"}``), the longest waiting first."""
        return [dict(worker.where) for worker in self._warm.idle_workers] if self._warm is not None else []

    @staticmethod
    def _wanted(bus: EventBus) -> frozenset[int]:
        """The kinds of lifecycle event ``bus`` has subscribers for, as indexes in LIFECYCLE_EVENTS."""
        return frozenset(code for code, kind in enumerate(LIFECYCLE_EVENTS) if bus.subscribers_of(kind))

    def _running(self) -> ModuleType:
        if self._ray is None:
            raise RuntimeError("the RayExecutor is not running: a JobManager enters it")
        return self._ray

    def _warm_workers(self) -> WarmWorkers:
        self._running()
        assert self._warm is not None
        return self._warm

    def _named_actor(self, job_id: str) -> Any:
        assert self._ray is not None
        try:
            return self._ray.get_actor(_actor_name(job_id), namespace=self.namespace)
        except ValueError:  # no actor of that name
            return None

    async def _get(self, ref: Any) -> Any:
        return await self._in_thread(self._wait_and_get, ref)

    async def _in_thread(self, call: Callable[[Any], T], arg: Any) -> T:
        return await anyio.to_thread.run_sync(call, arg, limiter=self._threads)

    def _wait_and_get(self, ref: Any) -> Any:
        assert self._ray is not None
        while not self._ray.wait([ref], timeout=_POLL_SECONDS)[0]:
            anyio.from_thread.check_cancelled()
        return self._ray.get(ref)


def _actor_name(job_id: str) -> str:
    return f"trainer-job-{job_id}"


def _import_ray(*, local: bool) -> ModuleType:
    if local and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "RayExecutor needs Ray: install the 'ray' extra, pip install 'eventbus-trainer[ray]'"
        ) from exc
    return ray
