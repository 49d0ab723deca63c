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
from typing import Literal

import anyio.from_thread

__all__ = ["ComputeTurns", "current_turns", "taking_turns"]

_CANCEL_POLL_SECONDS = 0.02

_Line = Literal["returning", "front", "back"]


class ComputeTurns:
    """At most ``slots`` runs compute at a time; the others wait their turn, first come first served.

    A run takes its turn before a group of steps and keeps it from group to group until
    ``slice_seconds`` have passed and another run waits: it then passes the turn on and queues
    behind the others. It lends its turn whenever its thread waits for the event loop to publish
    an event (for inline callbacks, or for room in a full queue), so waiting for the loop never
    holds a turn that another run's progress may be needed to free. Back within its slice, a run
    that lent its turn comes first: a holder hands a turn over at its next group of steps when such
    a run is back, and queues at the front with the rest of its slice (at the back if none is
    left). A slice counts the time a run held or lent its turn, never its time in line. So a run
    whose callbacks the loop serves at every batch keeps more of its share, though not all of it.
    A run waiting for a turn notices its cancellation within 20 ms. Thread-safe.
    """

    def __init__(self, slots: int = 1, slice_seconds: float = 0.01) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"ComputeTurns: slots must be a positive integer; got {slots!r}")
        if not isinstance(slice_seconds, (int, float)) or isinstance(slice_seconds, bool) or not slice_seconds > 0:
            raise ValueError(f"ComputeTurns: slice_seconds must be a positive number; got {slice_seconds!r}")
        self._slots = slots
        self.slice_seconds = float(slice_seconds)
        self._free = slots
        self._returning: deque[threading.Lock] = deque()  # runs back from lending their turn: first
        self._waiting: deque[threading.Lock] = deque()
        self._lock = threading.Lock()

    @property
    def slots(self) -> int:
        """How many runs may compute at a time."""
        return self._slots

    def _turn(self) -> _Turn:
        return _Turn(self)

    def _acquire(self, line: _Line) -> None:
        with self._lock:
            if self._free and not self._waiting and not self._returning:
                self._free -= 1
                return
            baton = threading.Lock()
            baton.acquire()
            if line == "returning":
                self._returning.append(baton)
            elif line == "front":
                self._waiting.appendleft(baton)
            else:
                self._waiting.append(baton)
        while not baton.acquire(timeout=_CANCEL_POLL_SECONDS):
            try:
                anyio.from_thread.check_cancelled()
            except BaseException:
                self._withdraw(baton)
                raise

    def _withdraw(self, baton: threading.Lock) -> None:
        with self._lock:
            for line in (self._returning, self._waiting):
                if baton in line:
                    line.remove(baton)
                    return
        self._release()  # handed over while giving up: pass it on

    def _hand_to_returning(self) -> bool:
        """Hand a held turn to the first run back from lending, if one still waits (another holder
        may have been first); whether it did."""
        with self._lock:
            if not self._returning:
                return False
            self._returning.popleft().release()
            return True

    def _release(self) -> None:
        with self._lock:
            line = self._returning or self._waiting
            if line:
                line.popleft().release()  # straight to the next in line: nobody barges in
            else:
                self._free += 1


class _Turn:
    """One run's place in a :class:`ComputeTurns`, used from its compute thread (an anyio worker thread)."""

    def __init__(self, turns: ComputeTurns) -> None:
        self._turns = turns
        self._since: float | None = None  # when the turn's slice began; None while not held
        self._lent: float | None = None  # when the slice of a turn lent out began

    def keep_or_pass(self) -> None:
        """Before a step: take the turn if not held, or pass it on if its slice is over and another
        run waits (or at once, if a run it was lent by wants it back), then wait for it again.
        Raises if the task awaiting the run is cancelled (the turn may then be held: :meth:`give_back`
        when the run ends)."""
        turns, since, now = self._turns, self._since, time.monotonic()
        line: _Line = "back"
        used = 0.0  # how much of its slice is gone once it has the turn again
        if since is not None:
            if turns._returning and turns._hand_to_returning():
                # A borrowed turn went back; the borrower stays next with the rest of its slice, if any.
                self._since = None
                if now - since < turns.slice_seconds:
                    line, used = "front", now - since
            elif now - since < turns.slice_seconds or not turns._waiting:
                return
            else:
                self.give_back()
        lent, self._lent = self._lent, None
        if lent is not None and now - lent < turns.slice_seconds:
            line, used = "returning", now - lent  # the slice went on while lent
        anyio.from_thread.check_cancelled()  # fails at once outside a worker thread, not only when it must wait
        turns._acquire(line)
        self._since = time.monotonic() - used
        anyio.from_thread.check_cancelled()  # a cancellation that came with the turn: stop before computing

    def lend(self) -> None:
        """Before waiting for the event loop: let others compute meanwhile; the slice goes on."""
        if self._since is not None:
            self._lent = self._since
            self.give_back()

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
