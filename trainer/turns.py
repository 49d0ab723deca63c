"""Compute turns: concurrent runs take turns at training, a time slice each, instead of all at once.

In CPython the steps of a small model are mostly interpreter work under the GIL, so several runs
computing at the same moment do not finish sooner: their threads hand the GIL to one another
thousands of times a second, and the event loop waits behind them for its own turn at the GIL. Taking
turns keeps the runs progressing together while only ``slots`` threads compete at a time.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import anyio.from_thread

__all__ = ["ComputeTurns", "current_turns", "taking_turns"]

_CANCEL_POLL_SECONDS = 0.02


class ComputeTurns:
    """At most ``slots`` runs compute at a time; the others wait their turn, first come first served.

    A run takes its turn at a step boundary and keeps it from step to step until ``slice_seconds``
    have passed and another run waits: it then passes the turn on and queues behind the others. It
    also gives its turn up whenever its thread waits for the event loop (for inline callbacks, or for
    room in a full queue), so a run never holds a turn that another run's progress is needed to
    free. A waiting run notices its cancellation within 20 ms. Thread-safe.
    """

    def __init__(self, slots: int = 1, slice_seconds: float = 0.01) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"ComputeTurns: slots must be a positive integer; got {slots!r}")
        if not isinstance(slice_seconds, (int, float)) or isinstance(slice_seconds, bool) or not slice_seconds > 0:
            raise ValueError(f"ComputeTurns: slice_seconds must be a positive number; got {slice_seconds!r}")
        self._slots = slots
        self.slice_seconds = float(slice_seconds)
        self._free = slots
        self._waiting: deque[threading.Lock] = deque()
        self._lock = threading.Lock()

    @property
    def slots(self) -> int:
        """How many runs may compute at a time."""
        return self._slots

    def _turn(self) -> _Turn:
        return _Turn(self)

    def _acquire(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            baton = threading.Lock()
            baton.acquire()
            self._waiting.append(baton)
        while not baton.acquire(timeout=_CANCEL_POLL_SECONDS):
            try:
                anyio.from_thread.check_cancelled()
            except BaseException:
                self._withdraw(baton)
                raise

    def _withdraw(self, baton: threading.Lock) -> None:
        with self._lock:
            if baton in self._waiting:
                self._waiting.remove(baton)
                return
        self._release()  # handed over while giving up: pass it on

    def _release(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()  # straight to the next in line: nobody barges in
            else:
                self._free += 1

    def _others_wait(self) -> bool:
        return bool(self._waiting)


class _Turn:
    """One run's place in a :class:`ComputeTurns`, used from its compute thread (an anyio worker thread)."""

    def __init__(self, turns: ComputeTurns) -> None:
        self._turns = turns
        self._since: float | None = None  # when the turn was taken; None while not held

    def keep_or_pass(self) -> None:
        """Before a step: take the turn if not held, or pass it on if its slice is over and another
        run waits, then wait for it again. Raises if the task awaiting the run is cancelled (the
        turn may then be held: :meth:`give_back` when the run ends)."""
        since = self._since
        if since is not None:
            if time.monotonic() - since < self._turns.slice_seconds or not self._turns._others_wait():
                return
            self.give_back()
        anyio.from_thread.check_cancelled()  # fails at once outside a worker thread, not only when it must wait
        self._turns._acquire()
        self._since = time.monotonic()
        anyio.from_thread.check_cancelled()  # a cancellation that came with the turn: stop before computing

    def give_back(self) -> None:
        """Hand the turn to the next in line, or free it; does nothing if the turn is not held."""
        if self._since is not None:
            self._since = None
            self._turns._release()


_current: contextvars.ContextVar[ComputeTurns | None] = contextvars.ContextVar("trainer_compute_turns", default=None)


def current_turns() -> ComputeTurns | None:
    """The turns that runs started in this context take, if any."""
    return _current.get()


@contextmanager
def taking_turns(turns: ComputeTurns | None) -> Iterator[None]:
    """Runs started inside this block (and in the tasks it starts) take turns at ``turns``; with
    ``None``, they compute whenever they like, even inside an outer ``taking_turns``."""
    token = _current.set(turns)
    try:
        yield
    finally:
        _current.reset(token)
