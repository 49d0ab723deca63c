"""Warm Ray workers: job worker processes started before a run needs one, and kept between runs."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

__all__ = ["RayWorker", "WarmWorkers"]

logger = logging.getLogger("trainer.jobs")


@dataclass(frozen=True)
class RayWorker:
    """A job worker actor placed on the cluster, and where it runs (``{"host", "pid"}``)."""

    actor: Any
    where: dict[str, Any]


@dataclass(eq=False)
class _Waiter:
    """A run waiting for its own new worker to be placed, which a worker given back can beat."""

    got: anyio.Event = field(default_factory=anyio.Event)
    worker: RayWorker | None = None
    error: Exception | None = None  # what placing its own worker raised, before any was handed to it


class WarmWorkers:
    """The idle job workers of one :class:`~trainer.jobs.RayExecutor`, at most ``size`` of them.

    ``create()`` makes a new worker actor (Ray places it when the cluster has room for it),
    ``where(actor)`` waits until it is up and returns where it runs (raising one of
    ``failures`` if the actor is dead), ``kill(actor)`` ends it. Every method is called from the
    executor's event loop.

    * :meth:`fill` starts workers and waits until they are up.
    * :meth:`take` gives a run a worker: the one idle longest if any is idle (and answers), else a
      new one. While that new one waits for room on the cluster, a worker that another run gives
      back goes to the run instead and the new one is killed: no run waits for CPUs an idle worker
      of this executor holds. A cancelled :meth:`take` loses no worker: one that was up, or handed
      to it, is given back.
    * :meth:`give_back` takes a worker whose run ended cleanly: it goes to the run waiting longest
      for one, else it waits idle if fewer than ``size`` do, else it is killed.

    With ``size=0`` nothing is kept: each run has a worker of its own, killed when the run ends.
    Idle workers hold the CPUs they reserve on the cluster until :meth:`close` kills them.
    """

    def __init__(
        self,
        size: int,
        create: Callable[[], Any],
        where: Callable[[Any], Awaitable[dict[str, Any]]],
        kill: Callable[[Any], None],
        failures: tuple[type[Exception], ...],
    ) -> None:
        self.size = size
        self._create, self._where, self._kill, self._failures = create, where, kill, failures
        self._idle: deque[RayWorker] = deque()
        self._waiters: deque[_Waiter] = deque()
        self._closed = False

    @property
    def idle_workers(self) -> tuple[RayWorker, ...]:
        """The workers waiting for a run, the longest waiting first."""
        return tuple(self._idle)

    async def fill(self, count: int, timeout: float) -> None:
        """Start ``count`` workers (at most ``size``) and wait until they are up, at most ``timeout``
        seconds: one the cluster has not placed by then is killed, and a warning logged. Raises what
        a worker that failed to start raised (the workers already up stay idle: :meth:`close` ends
        them). Workers given back later make up the rest of ``size``."""

        errors: list[Exception] = []

        async def start_one() -> None:
            with anyio.move_on_after(timeout):  # placed() kills one that is not up by then
                try:
                    self.give_back(await self.placed(self._create()))
                except Exception as error:  # raised as itself below, not in an exception group
                    errors.append(error)

        count = min(count, self.size)
        async with anyio.create_task_group() as tg:
            for _ in range(count):
                tg.start_soon(start_one)
        if errors:
            raise errors[0]
        if len(self._idle) < count:
            logger.warning("only %d of %d warm Ray workers were up within %.0f s; the others were not kept",
                           len(self._idle), count, timeout)  # fmt: skip

    async def placed(self, actor: Any) -> RayWorker:
        """``actor`` once it is up; killed if that fails or is cancelled."""
        try:
            return RayWorker(actor, await self._where(actor))
        except BaseException:
            self._kill(actor)
            raise

    async def take(self) -> RayWorker:
        """A worker for a run: see the class."""
        while self._idle:
            worker = self._idle.popleft()
            try:  # one round trip: an idle worker that died (killed, its node lost) costs no run
                await self._where(worker.actor)
            except self._failures:
                logger.warning("an idle Ray worker (pid %s on %s) did not answer; it was dropped",
                               worker.where.get("pid"), worker.where.get("host"))  # fmt: skip
                self._kill(worker.actor)
                continue
            except BaseException:  # cancelled meanwhile: it waits on, for the next run to check
                self._idle.appendleft(worker)
                raise
            return worker
        actor = self._create()
        if not self.size:
            return await self.placed(actor)
        waiter = _Waiter()
        self._waiters.append(waiter)

        async def place_own() -> None:
            try:
                own = await self.placed(actor)
            except Exception as error:  # raised by take() as itself, not in an exception group
                own, waiter.error = None, error
            if waiter.worker is None:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)  # no worker is handed to it any more
                waiter.worker = own
                waiter.got.set()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(place_own)
                await waiter.got.wait()
                tg.cancel_scope.cancel()
        except BaseException:
            if waiter.worker is not None:  # its own, placed, or one handed to it: not lost
                self.give_back(waiter.worker)
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if waiter.worker is None or waiter.worker.actor is not actor:  # placed or not, even never waited for
                self._kill(actor)
        if waiter.worker is None:
            assert waiter.error is not None
            raise waiter.error
        return waiter.worker

    def give_back(self, worker: RayWorker) -> None:
        """A worker whose run ended cleanly (every event of it fetched): see the class."""
        if self.size and not self._closed:
            while self._waiters:
                waiter = self._waiters.popleft()
                if waiter.worker is None:
                    waiter.worker = worker
                    waiter.got.set()
                    return
            if len(self._idle) < self.size:
                self._idle.append(worker)
                return
        self._kill(worker.actor)

    def close(self) -> None:
        """Kill the idle workers; any given back later is killed too."""
        self._closed = True
        while self._idle:
            self._kill(self._idle.popleft().actor)
