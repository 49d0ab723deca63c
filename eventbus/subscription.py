"""A subscriber's registration on a bus, its statistics, and the task that feeds a queued one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.to_thread

from .errors import HandlerFailure
from .event import Event
from .handlers import is_async_handler
from .mailbox import Mailbox

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Mode", "OnError", "Subscription", "SubscriptionStats"]

Mode = Literal["inline", "queued"]
OnError = Literal["raise", "log"]
Route = Callable[[type[Event]], "Callable[[Any], Any] | None"]

logger = logging.getLogger("eventbus")


@dataclass(frozen=True, slots=True)
class SubscriptionStats:
    """Counts for one subscription, taken at one moment.

    ``delivered``: handler calls that returned; ``failed``: handler calls that raised; ``queued``:
    events waiting in its queue; ``dropped``: events its overflow policy discarded, or that were
    waiting when it failed.
    """

    delivered: int
    queued: int
    dropped: int
    failed: int


class Subscription:
    """One subscriber on an :class:`EventBus`: which events it takes, how, and how it is doing.

    Closing it (``close()``, or leaving ``with subscription:``) stops delivery of events published
    afterwards; events already in its queue are still handled. Closing twice is harmless.
    """

    def __init__(
        self,
        *,
        name: str,
        event_types: tuple[type[Event], ...],
        route: Route,
        mode: Mode,
        mailbox: Mailbox[Event] | None,
        on_error: OnError,
        on_failure: Callable[[HandlerFailure], None],
        on_close: Callable[[Subscription], None],
        where: Callable[[Any], bool] | None = None,
    ) -> None:
        self.name = name
        self.event_types = event_types
        self.mode = mode
        self.on_error = on_error
        self.mailbox = mailbox
        self.active = True
        self._route = route
        self.where = where
        self._handlers: dict[type[Event], tuple[Callable[[Any], Any] | None, bool]] = {}
        self._on_failure = on_failure
        self._on_close = on_close
        self.accepted = 0
        self.delivered = 0
        self.dropped = 0
        self.failed = 0
        self.finished = False
        self._stopped = threading.Event()
        self._limiter: anyio.CapacityLimiter | None = None
        self._in_hand: list[Event] = []  # the run the consumer is handling
        self._progress: anyio.Event | None = None

    def __repr__(self) -> str:
        types = ", ".join(t.__qualname__ for t in self.event_types)
        return f"<Subscription {self.name!r} {self.mode} to ({types}) {'active' if self.active else 'closed'}>"

    @property
    def stats(self) -> SubscriptionStats:
        return SubscriptionStats(
            delivered=self.delivered,
            queued=len(self.mailbox) if self.mailbox is not None else 0,
            dropped=self.dropped,
            failed=self.failed,
        )

    def close(self) -> None:
        """Stop receiving events published from now on."""
        if not self.active:
            return
        self.active = False
        if self.mailbox is not None:
            self.mailbox.close()
        self._on_close(self)
        self._notify_progress()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- what the bus asks of it ------------------------------------------------------------

    def handler_for(self, event_type: type[Event]) -> tuple[Callable[[Any], Any] | None, bool]:
        """The handler for events of ``event_type`` (None if it takes none) and whether it is async."""
        try:
            return self._handlers[event_type]
        except KeyError:
            handler = self._route(event_type)
            entry = (handler, handler is not None and is_async_handler(handler))
            self._handlers[event_type] = entry
            return entry

    def _sync_handler_for(self, event_type: type[Event]) -> Callable[[Any], Any]:
        handler, _ = self.handler_for(event_type)
        assert handler is not None, "only events with a handler are queued"
        return handler

    def enqueue(self, event: Event) -> None:
        """Put ``event`` in this subscriber's queue now (room was checked, or the policy makes it)."""
        assert self.mailbox is not None
        self.accepted += 1
        if self.mailbox.put(event) is not None:
            self.dropped += 1
            self._notify_progress()

    def reject(self) -> None:
        """Count an event its full ``error``-policy queue refused."""
        self.accepted += 1
        self.dropped += 1

    def unhandled(self) -> list[Event]:
        """Events accepted but not yet handled: the rest of the run in hand, then the queue."""
        waiting = self.mailbox.waiting() if self.mailbox is not None else []
        return self._in_hand + waiting

    def discard_unhandled(self) -> list[Event]:
        """Take away the accepted events no handler has been given yet, and return them, oldest first.

        The consumer handles none of them; they count as dropped. What they hold is the caller's to
        dispose of. The events a handler already has (the one being awaited, or the run a worker
        thread is calling handlers for) are left to it.
        """
        discarded = self.mailbox.take_all() if self.mailbox is not None else []
        if discarded:
            self.dropped += len(discarded)
            self._notify_progress()
        return discarded

    @property
    def settled(self) -> int:
        """How many accepted events are done with: handled, failed or dropped."""
        return self.delivered + self.failed + self.dropped

    async def wait_settled(self, target: int) -> None:
        """Wait until ``target`` accepted events are done with, or the subscription is closed and idle."""
        while self.settled < target and not self.finished:
            if self._progress is None:
                self._progress = anyio.Event()
            await self._progress.wait()

    def _notify_progress(self) -> None:
        if self._progress is not None:
            self._progress.set()
            self._progress = None

    # -- the consumer task of a queued subscription ------------------------------------------

    async def consume(self) -> None:
        """Handle queued events in order until the subscription is closed and its queue empty.

        Waiting events are handled one after another without a round trip through the event loop
        between them; a run of consecutive events for ``def`` handlers goes to one worker-thread
        call, where they run one at a time, in order. An event counts against ``maxsize`` until its
        handler has returned.
        """
        assert self.mailbox is not None
        mailbox = self.mailbox
        waiting = mailbox.items
        try:
            while True:
                await mailbox.wait_for_items()
                if not waiting:
                    return
                while waiting:
                    handler, is_async = self.handler_for(type(waiting[0]))
                    if is_async:
                        assert handler is not None, "only events with a handler are queued"
                        event = mailbox.take_into_hand()
                        self._in_hand = [event]
                        try:
                            await handler(event)
                        except Exception as exc:
                            failed = not self._record_failure(event, exc)
                        else:
                            self.delivered += 1
                            failed = False
                        finally:
                            mailbox.release(1)
                        if failed:
                            self._stop_after_failure(0)
                            return
                    else:
                        run = self._in_hand = mailbox.take_run(self._is_async_event)
                        try:
                            done = await self._handle_in_thread(run)
                        finally:
                            mailbox.release(len(run))
                        if done is not None:
                            self._stop_after_failure(len(run) - done)
                            return
                    self._in_hand = []
                    if self._progress is not None:
                        self._notify_progress()
        finally:
            # Cancelled or done: a publisher waiting for room must not wait for a consumer that is gone,
            # and a worker thread still calling handlers stops after its current call.
            mailbox.close()
            self._stopped.set()
            self.finished = True
            self._in_hand = []
            self._notify_progress()

    def _stop_after_failure(self, not_called: int) -> None:
        """It failed with on_error="raise": what it had not handled is dropped (events a worker
        thread had, but stopped before, included)."""
        self.dropped += not_called
        self.discard_unhandled()

    def _is_async_event(self, event: Event) -> bool:
        return self.handler_for(type(event))[1]

    async def _handle_in_thread(self, run: list[Event]) -> int | None:
        """Handle ``run``, consecutive events for ``def`` handlers, in a worker thread. After a
        failure that ends the subscription, return how many events were dealt with, the failed one
        included; otherwise None."""
        calls = [(self._sync_handler_for(type(event)), event) for event in run]
        if self._limiter is None:
            # Its own thread slot: `def` handlers never wait for worker threads that other work
            # holds (a compute thread waiting for this very subscriber, say).
            self._limiter = anyio.CapacityLimiter(1)
        done, failures = await anyio.to_thread.run_sync(
            _call_in_order, calls, self.on_error == "raise", self._stopped, abandon_on_cancel=True, limiter=self._limiter
        )
        self.delivered += done - len(failures)
        for index, error in failures:
            if not self._record_failure(run[index], error):
                return done
        return None

    def _record_failure(self, event: Event, exc: Exception) -> bool:
        """Count a handler's exception; return True if delivery goes on (``on_error="log"``)."""
        self.failed += 1
        failure = HandlerFailure(self.name, event.hook or "handler", event, exc)
        if self.on_error == "log":
            logger.error("%s", failure, exc_info=exc)
            return True
        self._on_failure(failure)
        self.close()
        return False


def _call_in_order(
    calls: list[tuple[Callable[[Any], Any], Event]], stop_on_error: bool, stopped: threading.Event
) -> tuple[int, list[tuple[int, Exception]]]:
    """Run in a worker thread: call each handler in order. Returns how many calls were made and
    which raised (index, exception), stopping after the first if ``stop_on_error``, and before the
    next call once ``stopped`` is set (the consumer was cancelled and abandoned this thread)."""
    failures: list[tuple[int, Exception]] = []
    for index, (handler, event) in enumerate(calls):
        if stopped.is_set():
            return index, failures
        try:
            handler(event)
        except Exception as exc:
            failures.append((index, exc))
            if stop_on_error:
                return index + 1, failures
    return len(calls), failures
