"""Events handed from worker threads to the event loop, in order, without waiting for them."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Awaitable, Callable

import anyio
import anyio.from_thread
import anyio.lowlevel

from .event import Event

__all__ = ["ThreadHandoff"]


class ThreadHandoff:
    """A bounded FIFO from any thread to one pump task on the event loop.

    Guarantees: events are published in the order they were handed over, whichever threads handed
    them, each once. A thread that hands over without waiting pays a lock and, when the pump is idle,
    a non-blocking wake-up of the loop; a thread that waits, or finds ``maxsize`` events already
    pending, publishes everything pending itself (on the loop) and returns when that is done.
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
        self._pending: deque[Event] = deque()
        self._lock = threading.Lock()
        self._wake_scheduled = False
        self._ready = anyio.Event()
        self._publishing = anyio.Lock()
        self._token = anyio.lowlevel.current_token()

    def hand_over(self, event: Event, *, wait: bool) -> None:
        """Called from a worker thread: queue ``event`` for publication on the loop."""
        with self._lock:
            self._pending.append(event)
            must_wait = wait or len(self._pending) > self.maxsize
            wake = not must_wait and not self._wake_scheduled
            self._wake_scheduled = self._wake_scheduled or wake
        if must_wait:
            anyio.from_thread.run(self.publish_pending, token=self._token)
        elif wake:
            # anyio's public from_thread calls all wait for the loop; this one only schedules.
            self._token.backend_class.run_sync_soon(self._wake, (), self._token.native_token)

    async def publish_pending(self, *, report_errors: bool = False) -> None:
        """Publish every event handed over so far, oldest first; one caller at a time.

        An inline handler's exception propagates, leaving later events pending, unless
        ``report_errors``: then it goes to ``on_error`` and publishing goes on.
        """
        async with self._publishing:
            while self._pending:
                event = self._pending.popleft()
                if not report_errors:
                    await self._publish(event)
                    continue
                try:
                    await self._publish(event)
                except Exception as exc:
                    self._on_error(event, exc)

    async def pump(self) -> None:
        """The loop-side task: publish what threads hand over without waiting, until cancelled.

        An inline handler's exception here has no publisher to reach, so it goes to ``on_error``.
        """
        while True:
            await self._ready.wait()
            self._ready = anyio.Event()
            await self.publish_pending(report_errors=True)

    def _wake(self) -> None:
        with self._lock:
            self._wake_scheduled = False
        self._ready.set()
