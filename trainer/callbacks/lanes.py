"""Lanes: where the slow parts that a run's inline hooks hand over run, in order, one lane per callback."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from eventbus import EventBus
from trainer.events import DeferredWork

__all__ = ["FINISH_SECONDS", "Defer", "Lanes", "close_unstarted"]

FINISH_SECONDS = 30.0
"""How long a run that failed or was cancelled gives the slow parts already handed over to finish."""

Defer = Callable[[str, Awaitable[Any]], Awaitable[None]]

logger = logging.getLogger("trainer")


class Lanes:
    """The lanes of one run's callbacks, on the run's own bus.

    An inline ``async def`` hook that returns an awaitable (a checkpoint write, say) has done its
    consistent part; the awaitable, its slow part, runs on the callback's lane: in order,
    concurrently with training, at most the callback's ``queue_size`` waiting (past that, the hook
    handing over more waits, and training with it). Once a piece fails, the run fails, and what waits
    behind it on that lane is closed, never started.
    """

    def __init__(self, bus: EventBus, run: str) -> None:
        self.bus = bus
        self.run = run
        self._lanes: list[_Lane] = []

    def open(self, callback: str, owner: object, maxsize: int) -> Defer:
        """A lane for the work that the hooks of ``owner`` (one callback) hand over; returns how to hand it over."""
        lane = _Lane(self, callback, owner, maxsize)
        self._lanes.append(lane)
        return lane.defer

    async def finish(self) -> list[Exception]:
        """When the run ends in an error or is cancelled: see the work handed over to the end, and
        return what failed.

        A hook has done its part once it returns, as in Keras, whose hooks write before they return:
        a checkpoint saved before a crash is on disk, and a backup that records it as saved never
        points at a file that is not there. Shielded from the run's cancellation, each lane's work
        runs in order, for up to :data:`FINISH_SECONDS` in all; what is still running then is
        cancelled, what waits is closed, and a warning names the callbacks.
        """
        failures: list[Exception] = []
        for lane in self._lanes:
            lane.take_waiting()  # all of them first: a lane's consumer never starts what finish() may give up
        with anyio.CancelScope(shield=True), anyio.move_on_after(FINISH_SECONDS) as grace:
            for lane in self._lanes:
                failure = await lane.finish()
                if failure is not None:
                    failures.append(failure)
        if grace.cancelled_caught:
            unfinished = [lane.callback for lane in self._lanes if lane.give_up()]
            logger.warning(
                "run %s: gave up on the slow parts of %s, unfinished %g s after the run ended",
                self.run, ", ".join(unfinished), FINISH_SECONDS,
            )  # fmt: skip
        return failures


class _Lane:
    """One callback's lane: a queued subscription to the DeferredWork its hooks hand over."""

    def __init__(self, lanes: Lanes, callback: str, owner: object, maxsize: int) -> None:
        self._lanes = lanes
        self.callback = callback
        self._owner = owner
        self._under_way: anyio.CancelScope | None = None  # the consumer's piece of work
        self._left: list[Awaitable[Any]] = []  # what finish() took from the consumer and has not run yet
        self._given_up = False
        self._subscription = lanes.bus.subscribe(
            DeferredWork, self._run_work, mode="queued", maxsize=maxsize,
            name=f"{callback} (deferred)", where=lambda event: event.owner is owner,
        )  # fmt: skip

    async def defer(self, hook: str, work: Awaitable[Any]) -> None:
        if not self._subscription.active:
            close_unstarted(work)  # the lane failed: the run is failing
            return
        event = DeferredWork(run=self._lanes.run, callback=self.callback, for_hook=hook, work=work, owner=self._owner)
        await self._lanes.bus.publish(event)

    async def _run_work(self, event: DeferredWork) -> None:
        if self._given_up:
            close_unstarted(event.work)
            return
        try:
            # A piece once begun ends whole, even in a cancelled run, unless finish() gives up on it.
            with anyio.CancelScope(shield=True) as self._under_way:
                await event.work
        except Exception:
            for waiting in self._subscription.unhandled():
                close_unstarted(waiting.work)  # type: ignore[attr-defined]
            raise
        finally:
            self._under_way = None

    def take_waiting(self) -> None:
        """Take from the consumer (which the run's cancellation stops) what it has not begun; the
        piece under way it finishes."""
        self._left = [event.work for event in self._subscription.discard_unhandled() if isinstance(event, DeferredWork)]

    async def finish(self) -> Exception | None:
        """Wait for the piece under way, then run what :meth:`take_waiting` took, in order."""
        subscription = self._subscription
        failed_before = subscription.failed
        await subscription.wait_settled(subscription.accepted)
        if subscription.failed > failed_before:
            self._close_left()  # the lane's failure is the bus's to report
            return None
        while self._left:
            try:
                await self._left[0]
            except Exception as exc:
                self._close_left()
                return exc
            del self._left[0]
        return None

    def give_up(self) -> bool:
        """Cancel the piece under way and close what waits; whether there was anything unfinished."""
        self._given_up = True
        unfinished = self._under_way is not None or bool(self._left)
        if self._under_way is not None:
            self._under_way.cancel()
        self._close_left()
        return unfinished

    def _close_left(self) -> None:
        for work in self._left:
            close_unstarted(work)
        self._left = []


def close_unstarted(work: Awaitable[Any]) -> None:
    """Close a coroutine that will never run, sparing a 'never awaited' warning. One already
    running belongs to its task, which finishes or cancels it."""
    if inspect.iscoroutine(work) and inspect.getcoroutinestate(work) == inspect.CORO_CREATED:
        work.close()
