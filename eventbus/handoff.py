"""Events handed from worker threads to the event loop, in order, with or without waiting for them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import anyio.from_thread
import anyio.lowlevel

from .errors import BusClosedError
from .event import Event

__all__ = ["CANCEL_POLL_SECONDS", "GATHER_SECONDS", "ThreadHandoff"]


CANCEL_POLL_SECONDS = 0.02
"""How often a thread waiting for the loop checks whether the task that started it was cancelled."""

GATHER_SECONDS = 0.005
"""How long the pump, having published what was pending, stays awake for more before it sleeps.

Meanwhile threads handing over without waiting do not wake the loop: it takes what they handed over
in one go, so a compute thread publishing thousands of events a second wakes the loop at most about
every this many seconds, not once per event. A thread that waits, or a barrier, wakes it at once."""


class _Outcome:
    """What a waiting thread waits for: its event published (or withdrawn), and what that raised."""

    __slots__ = ("done", "error", "raise_in_thread", "taken", "withdrawn")

    def __init__(self, raise_in_thread: bool) -> None:
        self.done = threading.Event()
        self.raise_in_thread = raise_in_thread  # else a handler's error goes to on_error, as without waiting
        self.error: BaseException | None = None
        self.taken = False  # the loop has begun publishing it: too late to withdraw
        self.withdrawn = False  # its thread gave up waiting: never to be published


class ThreadHandoff:
    """A bounded FIFO from any thread to one pump task on the event loop.

    Guarantees: events are published in the order they were handed over, whichever threads handed
    them, each once, by the pump task alone (a barrier, :meth:`wait_published`, only waits for it, so
    cancelling a barrier never cuts a handler short). A thread that hands over without waiting pays
    a lock and, when the pump sleeps, a non-blocking wake-up of the loop; the pump, once awake,
    gathers for :data:`GATHER_SECONDS` whatever else comes before it sleeps again, so many events
    cost one wake-up, and the pump takes them under one lock; ``deliver_at_once(events, start)``, if
    given, may publish a run of them in one step (returning how many), the rest going through
    ``publish`` one by one. Such an event is published within about that time. A thread that waits, or
    finds ``maxsize`` events already pending, wakes the pump at once and returns once its event and
    all before it are published; if it asked to wait, it raises what an inline handler raised for
    its event.

    Cancellation: a waiting thread started by :func:`anyio.to_thread.run_sync` checks every
    :data:`CANCEL_POLL_SECONDS` whether its host task was cancelled, and if so withdraws its event
    (if no handler has it yet, none ever will) and raises the cancellation. Handlers already running
    go on, unless the cancellation reaches the pump task too (as when the bus lives inside the
    cancelled task). What an inline handler raises for an event handed over without waiting goes
    to ``on_error``. Once closed, handing over raises :class:`BusClosedError`; once the pump stops,
    threads still waiting are released with :class:`BusClosedError`.
    """

    def __init__(
        self,
        publish: Callable[[Event], Awaitable[None]],
        on_error: Callable[[Event, Exception], None],
        maxsize: int,
        deliver_at_once: Callable[[list[Event], int], int] | None = None,
    ) -> None:
        self._publish = publish
        self._deliver_at_once = deliver_at_once
        self._on_error = on_error
        self.maxsize = maxsize
        self._pending: deque[tuple[Event, _Outcome | None]] = deque()
        self._lock = threading.Lock()
        self._awake = False  # the pump is awake, or a wake-up is on its way: no need to send another
        self._closed = False
        self._handed = 0  # events handed over so far
        self._settled = 0  # of those, how many the pump is done with: published, withdrawn or released
        self._ready = anyio.Event()
        self._progress: anyio.Event | None = None  # set when _settled grows, for a barrier waiting on it
        self._pump_task: int | None = None
        self._token = anyio.lowlevel.current_token()

    def hand_over(self, event: Event, *, wait: bool, before_waiting: Callable[[], object] | None = None) -> None:
        """Called from a worker thread: queue ``event`` for publication on the loop. If this thread
        is to wait for the loop, ``before_waiting()`` is called first."""
        with self._lock:
            if self._closed:
                raise BusClosedError("cannot publish: the bus has been left")
            outcome = _Outcome(raise_in_thread=wait) if wait or len(self._pending) >= self.maxsize else None
            self._pending.append((event, outcome))
            self._handed += 1
            wake = not self._awake or outcome is not None  # a waiting thread must not wait for the gathering
            self._awake = True
        if wake:
            # anyio's public from_thread calls all wait for the loop; this one only schedules.
            self._token.backend_class.run_sync_soon(self._wake, (), self._token.native_token)
        if outcome is not None:
            if before_waiting is not None:
                before_waiting()
            self._wait_for(outcome)

    def close(self) -> None:
        """Refuse further hand-overs; those already made are still published."""
        with self._lock:
            self._closed = True

    async def wait_published(self) -> None:
        """A barrier, on the loop: wait until the pump is done with every event handed over so far.

        Only the pump publishes, so cancelling this wait never interrupts a handler. Called by a
        handler the pump is running, it returns at once: the events before that handler's are done
        with, and waiting for its own would wait for itself.
        """
        target = self._handed
        if self._settled >= target or anyio.get_current_task().id == self._pump_task:
            return
        self._wake()
        while self._settled < target:
            if self._progress is None:
                self._progress = anyio.Event()
            await self._progress.wait()

    async def pump(self) -> None:
        """The loop-side task: publish what threads hand over, oldest first, until cancelled; then
        release the threads still waiting, with :class:`BusClosedError`. Never raises what a
        handler raised: that goes to the waiting thread, or to ``on_error``."""
        self._pump_task = anyio.get_current_task().id
        try:
            while True:
                await self._ready.wait()
                while True:
                    self._ready = anyio.Event()
                    unawaited = False
                    while (taken := self._take_next()) is not None:
                        events, outcome = taken
                        if outcome is None:
                            unawaited = True
                            await self._publish_unawaited(events)
                            continue
                        try:
                            await self._publish_entry(events[0], outcome)
                        finally:
                            self._settle(1)  # published, or cut short by the pump's end: done with either way
                    if unawaited:
                        # More are likely to follow: gather them. (A thread that waits gets no further
                        # until it is answered, so after waited-for events alone there is nothing to gather.)
                        with anyio.move_on_after(GATHER_SECONDS):
                            await self._ready.wait()
                    if self._sleep_if_idle():
                        break
        finally:
            self._release_waiting_threads()

    async def _publish_unawaited(self, events: list[Event]) -> None:
        """Publish ``events``, handed over without waiting, in order: as many at once as
        ``deliver_at_once`` takes, the others one by one. A handler's exception goes to ``on_error``."""
        index = 0
        try:
            while index < len(events):
                delivered = self._deliver_at_once(events, index) if self._deliver_at_once is not None else 0
                if not delivered:
                    event, delivered = events[index], 1
                    try:
                        await self._publish(event)
                    except Exception as exc:
                        self._on_error(event, exc)
                index += delivered
                self._settle(delivered)
        finally:
            self._settle(len(events) - index)  # cut short by the pump's end: done with either way

    async def _publish_entry(self, event: Event, outcome: _Outcome | None) -> None:
        try:
            await self._publish(event)
        except Exception as exc:
            if outcome is not None and outcome.raise_in_thread:
                outcome.error = exc
            else:
                self._on_error(event, exc)
        except BaseException:
            if outcome is not None:
                outcome.error = BusClosedError("the bus stopped publishing before this event's handlers returned")
            raise
        finally:
            if outcome is not None:
                outcome.done.set()

    def _settle(self, count: int) -> None:
        self._settled += count
        if self._progress is not None:
            self._progress.set()
            self._progress = None

    def _sleep_if_idle(self) -> bool:
        """Whether nothing is pending; then the next hand-over wakes the pump."""
        with self._lock:
            if self._pending:
                return False
            self._awake = False
            return True

    def _take_next(self) -> tuple[list[Event], _Outcome | None] | None:
        """What to publish next: the events handed over without waiting up to the next waited-for
        one, all at once (no thread waits for them, so none can be withdrawn), or that one alone,
        with its outcome; None if nothing is pending."""
        with self._lock:
            pending = self._pending
            while pending:
                event, outcome = pending[0]
                if outcome is None:
                    events = []
                    while pending and pending[0][1] is None:
                        events.append(pending.popleft()[0])
                    return events, None
                pending.popleft()
                if not outcome.withdrawn:
                    outcome.taken = True
                    return [event], outcome
                self._settle(1)
            return None

    def _wait_for(self, outcome: _Outcome) -> None:
        """In the handing thread: wait until ``outcome`` is done, or the host task is cancelled."""
        while not outcome.done.wait(CANCEL_POLL_SECONDS):
            try:
                _check_cancelled()
            except BaseException:
                with self._lock:
                    outcome.withdrawn = not outcome.taken
                raise
        if isinstance(outcome.error, BusClosedError):
            _check_cancelled()  # it stopped because the host task was cancelled: raise that instead
        if outcome.error is not None:
            raise outcome.error

    def _release_waiting_threads(self) -> None:
        with self._lock:
            self._closed = True
            waiting = [outcome for _, outcome in self._pending if outcome is not None]
            self._settle(len(self._pending))
            self._pending.clear()
        for outcome in waiting:
            outcome.error = BusClosedError("the bus was left before this event was published")
            outcome.done.set()

    def _wake(self) -> None:
        self._ready.set()


def _check_cancelled() -> None:
    """Raise the backend's cancellation if the task that started this worker thread was cancelled."""
    try:
        anyio.from_thread.check_cancelled()
    except anyio.NoEventLoopError:
        pass  # not an anyio worker thread: there is no host task to be cancelled
