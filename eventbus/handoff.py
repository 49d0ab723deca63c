"""Events handed from worker threads to the event loop, in order, without waiting for them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import anyio.from_thread
import anyio.lowlevel

from .errors import BusClosedError
from .event import Event

__all__ = ["ThreadHandoff"]


class _Outcome:
    """Where a waiting thread finds what publishing its event raised."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: Exception | None = None


class ThreadHandoff:
    """A bounded FIFO from any thread to one pump task on the event loop.

    Guarantees: events are published in the order they were handed over, whichever threads handed
    them, each once. A thread that hands over without waiting pays a lock and, when the pump is idle,
    a non-blocking wake-up of the loop; a thread that waits, or finds ``maxsize`` events already
    pending, has everything pending published (on the loop) before it returns, even if the task that
    started the thread is cancelled meanwhile (the cancellation then waits for those inline handlers
    to return). What an inline handler
    raises for a waiting thread's event is raised in that thread; for an event handed over without
    waiting, it goes to ``on_error``. Once closed, handing over raises :class:`BusClosedError`.
    """

    def __init__(
        self,
        publish: Callable[[Event], Awaitable[None]],
        on_error: Callable[[Event, Exception], None],
        maxsize: int,
    ) -> None:
        self._publish = publish
        self._on_error = on_error
        self.maxsize = maxsize
        self._pending: deque[tuple[Event, _Outcome | None]] = deque()
        self._lock = threading.Lock()
        self._wake_scheduled = False
        self._closed = False
        self._ready = anyio.Event()
        self._publishing = anyio.Lock()
        self._token = anyio.lowlevel.current_token()

    def hand_over(self, event: Event, *, wait: bool, before_waiting: Callable[[], object] | None = None) -> None:
        """Called from a worker thread: queue ``event`` for publication on the loop. If this thread
        is to wait for the loop, ``before_waiting()`` is called first."""
        outcome = _Outcome() if wait else None
        with self._lock:
            if self._closed:
                raise BusClosedError("cannot publish: the bus has been left")
            self._pending.append((event, outcome))
            must_wait = wait or len(self._pending) > self.maxsize
            wake = not must_wait and not self._wake_scheduled
            self._wake_scheduled = self._wake_scheduled or wake
        if must_wait:
            if before_waiting is not None:
                before_waiting()
            anyio.from_thread.run(self._publish_for_waiting_thread, token=self._token)
            if outcome is not None and outcome.error is not None:
                raise outcome.error
        elif wake:
            # anyio's public from_thread calls all wait for the loop; this one only schedules.
            self._token.backend_class.run_sync_soon(self._wake, (), self._token.native_token)

    def close(self) -> None:
        """Refuse further hand-overs; those already made are still published by :meth:`publish_pending`."""
        with self._lock:
            self._closed = True

    async def publish_pending(self) -> None:
        """Publish every event handed over so far, oldest first; one caller at a time. Never raises
        what a handler raised: that goes to the waiting thread, or to ``on_error``."""
        async with self._publishing:
            while self._pending:
                event, outcome = self._pending.popleft()
                try:
                    await self._publish(event)
                except Exception as exc:
                    if outcome is not None:
                        outcome.error = exc
                    else:
                        self._on_error(event, exc)

    async def _publish_for_waiting_thread(self) -> None:
        # Shielded: the thread's event is published even if the task that started the thread has
        # been cancelled meanwhile (the thread notices that itself, afterwards). Left in that
        # task's cancelled scope, anyio would spin at its first checkpoint, unable to deliver it.
        with anyio.CancelScope(shield=True):
            await self.publish_pending()

    async def pump(self) -> None:
        """The loop-side task: publish what threads hand over without waiting, until cancelled."""
        while True:
            await self._ready.wait()
            self._ready = anyio.Event()
            await self.publish_pending()

    def _wake(self) -> None:
        with self._lock:
            self._wake_scheduled = False
        self._ready.set()
