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
    events waiting for a handler (in its queue, or taken by its consumer and not yet begun);
    ``dropped``: events its overflow policy discarded, or that were waiting when it failed.
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
        self._in_hand: list[Event] = []  # the events the consumer has taken, handled or not
        self._handled = 0  # how many of them it is done with
        self._given = 0  # how many of them it has given to a handler (or a worker thread) so far
        self._progress: anyio.Event | None = None

    def __repr__(self) -> str:
        types = ", ".join(t.__qualname__ for t in self.event_types)
        return f"<Subscription {self.name!r} {self.mode} to ({types}) {'active' if self.active else 'closed'}>"

    @property
    def stats(self) -> SubscriptionStats:
        # Waiting: in the queue, or taken by the consumer and not yet given to a handler.
        waiting = len(self.mailbox) + len(self._in_hand) - self._given if self.mailbox is not None else 0
        return SubscriptionStats(delivered=self.delivered, queued=waiting, dropped=self.dropped, failed=self.failed)

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

    def enqueue_all(self, events: list[Event]) -> None:
        """Put ``events`` in this subscriber's queue now, in order, as :meth:`enqueue` each would."""
        mailbox = self.mailbox
        assert mailbox is not None
        if mailbox.held + len(events) > mailbox.maxsize:
            for event in events:
                self.enqueue(event)  # the policy makes room: one by one
            return
        self.accepted += len(events)
        mailbox.put_all(events)

    def reject(self) -> None:
        """Count an event its full ``error``-policy queue refused."""
        self.accepted += 1
        self.dropped += 1

    def unhandled(self) -> list[Event]:
        """Events accepted but not yet handled: those in the consumer's hands, then the queue."""
        waiting = self.mailbox.waiting() if self.mailbox is not None else []
        return self._in_hand[self._handled :] + waiting

    def discard_unhandled(self) -> list[Event]:
        """Take away the accepted events no handler has been given yet, and return them, oldest first.

        The consumer handles none of them; they count as dropped. What they hold is the caller's to
        dispose of. The events a handler already has (the one being awaited, or the run a worker
        thread is calling handlers for) are left to it.
        """
        discarded = self._in_hand[self._given :]
        if discarded:
            del self._in_hand[self._given :]  # the consumer's batch: it stops before them
            assert self.mailbox is not None
            self.mailbox.release(len(discarded))
        if self.mailbox is not None:
            discarded += self.mailbox.take_all()
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

        Each time it wakes, the consumer takes what is waiting into its hands and handles it without a
        round trip through the event loop between events: with ``overflow="block"`` or ``"error"``,
        every waiting event at once; with ``"drop_oldest"`` or ``"keep_latest"``, one event for an
        ``async def`` handler, so that those still waiting can yet be discarded or coalesced. A run
        of consecutive events for ``def`` handlers goes to one worker-thread call, where they run
        one at a time, in order. An event counts against ``maxsize`` until its handler has returned.
        """
        assert self.mailbox is not None
        mailbox = self.mailbox
        take_everything = mailbox.overflow in ("block", "error")  # nothing waiting could be discarded anyway
        try:
            while True:
                await mailbox.wait_for_items()
                if not mailbox:
                    return
                batch = mailbox.take_all_into_hand() if take_everything else mailbox.take_run(self._is_async_event)
                self._in_hand, self._handled, self._given = batch, 0, 0
                if not await self._handle(batch):
                    return
                self._in_hand, self._handled, self._given = [], 0, 0
        finally:
            # Cancelled or done: a publisher waiting for room must not wait for a consumer that is gone,
            # and a worker thread still calling handlers stops after its current call.
            mailbox.close()
            self._stopped.set()
            self.finished = True
            self._in_hand, self._handled, self._given = [], 0, 0
            self._notify_progress()

    async def _handle(self, batch: list[Event]) -> bool:
        """Handle ``batch``, events taken into hand, in order, releasing each once its handler has
        returned; False if a failure ended the subscription (what was not handled is dropped).
        :meth:`discard_unhandled` may meanwhile cut off the events not yet given to a handler."""
        mailbox = self.mailbox
        assert mailbox is not None
        handlers = self._handlers
        position = 0
        while position < len(batch):
            self._handled = position
            event = batch[position]
            # The handler for the event's type, looked up here rather than by handler_for(): this runs
            # once per event for every queued subscriber, where a call costs as much as the rest.
            handler, is_async = handlers.get(type(event)) or self.handler_for(type(event))
            if is_async:
                assert handler is not None, "only events with a handler are queued"
                self._given = position + 1
                try:
                    await handler(event)
                except Exception as exc:
                    failed = not self._record_failure(event, exc)
                else:
                    self.delivered += 1
                    failed = False
                finally:
                    mailbox.release(1)
                position += 1
                if failed:
                    self._stop_after_failure(0)
                    return False
            else:
                end = position + 1
                while end < len(batch) and not self._is_async_event(batch[end]):
                    end += 1
                run = batch[position:end]
                self._given = end
                try:
                    done = await self._handle_in_thread(run)
                finally:
                    mailbox.release(len(run))
                if done is not None:
                    self._stop_after_failure(len(run) - done)
                    return False
                position = end
            if self._progress is not None:
                self._notify_progress()
        return True

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
