"""A bounded FIFO for one consumer, with the overflow policies of the bus."""

from __future__ import annotations

from collections import deque
from typing import Generic, Literal, TypeVar

import anyio

__all__ = ["Mailbox", "Overflow", "OVERFLOW_POLICIES"]

Overflow = Literal["block", "drop_oldest", "keep_latest", "error"]
OVERFLOW_POLICIES: tuple[Overflow, ...] = ("block", "drop_oldest", "keep_latest", "error")

T = TypeVar("T")


class Mailbox(Generic[T]):
    """The queue between the publishers of a bus and one consumer.

    Guarantees: items leave in the order they were put, each at most once; ``len`` never exceeds
    ``maxsize``. Not thread-safe: every call happens on the event loop's thread (the bus brings
    worker threads' publishes there).
    """

    __slots__ = ("maxsize", "overflow", "_items", "_readable", "_writable", "closed")

    def __init__(self, maxsize: int, overflow: Overflow) -> None:
        self.maxsize = maxsize
        self.overflow = overflow
        self._items: deque[T] = deque()
        self._readable: anyio.Event | None = None
        self._writable: anyio.Event | None = None
        self.closed = False

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.maxsize

    def has_room_for(self, item: T) -> bool:
        """Whether :meth:`put` would take ``item`` now: there is room, or the policy can make some."""
        if len(self._items) < self.maxsize or self.overflow == "drop_oldest":
            return True
        return self.overflow == "keep_latest" and self._superseded(item) is not None

    def put(self, item: T) -> T | None:
        """Append ``item`` now, making room as the policy says; returns the item discarded, if any.

        :meth:`has_room_for` must have said yes.
        """
        dropped = None
        if len(self._items) >= self.maxsize:
            index = 0 if self.overflow == "drop_oldest" else self._superseded(item)
            if index is None:
                raise RuntimeError(f"mailbox ({self.overflow}) is full; check has_room_for() first")
            dropped = self._items[index]
            del self._items[index]
        self._items.append(item)
        if self._readable is not None:
            self._readable.set()
            self._readable = None
        return dropped

    def _superseded(self, newcomer: T | None = None) -> int | None:
        """Where the oldest item that a newer one of the same type supersedes waits: preferably one of
        ``newcomer``'s type, else one with a younger twin already queued. None if every waiting item
        is the only one of its type."""
        if newcomer is not None:
            for index, waiting in enumerate(self._items):
                if type(waiting) is type(newcomer):
                    return index
        latest = {type(item): index for index, item in enumerate(self._items)}
        for index, waiting in enumerate(self._items):
            if latest[type(waiting)] != index:
                return index
        return None

    async def wait_for_room(self) -> None:
        """Wait until the mailbox has room or is closed."""
        while len(self._items) >= self.maxsize and not self.closed:
            if self._writable is None:
                self._writable = anyio.Event()
            await self._writable.wait()

    async def wait_for_items(self) -> None:
        """Wait until the mailbox holds an item or is closed."""
        while not self._items and not self.closed:
            if self._readable is None:
                self._readable = anyio.Event()
            await self._readable.wait()

    def take_all(self) -> list[T]:
        """Remove and return every waiting item, oldest first."""
        items = list(self._items)
        self._items.clear()
        self._wake_writers()
        return items

    def waiting(self) -> list[T]:
        """The waiting items, oldest first, left in place."""
        return list(self._items)

    def take_one(self) -> T:
        """Remove and return the oldest item; the mailbox must not be empty."""
        item = self._items.popleft()
        self._wake_writers()
        return item

    def close(self) -> None:
        """Mark the mailbox closed and wake every waiter; items already queued can still be taken."""
        self.closed = True
        for waiter in (self._readable, self._writable):
            if waiter is not None:
                waiter.set()
        self._readable = self._writable = None

    def _wake_writers(self) -> None:
        if self._writable is not None:
            self._writable.set()
            self._writable = None
