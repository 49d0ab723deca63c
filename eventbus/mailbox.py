"""A bounded FIFO for one consumer, with the overflow policies of the bus."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

import anyio

__all__ = ["Mailbox", "Overflow", "OVERFLOW_POLICIES"]

Overflow = Literal["block", "drop_oldest", "keep_latest", "error"]
OVERFLOW_POLICIES: tuple[Overflow, ...] = ("block", "drop_oldest", "keep_latest", "error")

T = TypeVar("T")


class Mailbox(Generic[T]):
    """The queue between the publishers of a bus and one consumer.

    It counts what its subscriber *holds*: the items waiting, the items a consumer has taken into
    its hands and not yet released (handled), and the places publishers have reserved. Guarantees:
    items leave in the order they were put, each at most once; what it holds never exceeds
    ``maxsize``, so a consumer that takes a run of items at once (batching) does not let its
    publishers run further ahead. Only waiting items can be discarded by an overflow policy: an item
    in a consumer's hands is already being handled. Not thread-safe: every call happens on the event
    loop's thread (the bus brings worker threads' publishes there).
    """

    __slots__ = ("maxsize", "overflow", "held", "_items", "_readable", "_writable", "closed")

    def __init__(self, maxsize: int, overflow: Overflow) -> None:
        self.maxsize = maxsize
        self.overflow = overflow
        # Items waiting, in the consumer's hands and not yet released, and places kept by deliveries
        # under way, in one count: the publishers' room check is one comparison. Read it, never set it.
        self.held = 0
        self._items: deque[T] = deque()
        self._readable: anyio.Event | None = None
        self._writable: anyio.Event | None = None
        self.closed = False

    def __len__(self) -> int:
        """How many items are waiting (not taken yet)."""
        return len(self._items)

    @property
    def full(self) -> bool:
        """Whether it holds ``maxsize`` items: waiting, in the consumer's hands, and reserved."""
        return self.held >= self.maxsize

    def has_room_for(self, item: T) -> bool:
        """Whether :meth:`put` would take ``item`` now: there is room, or the policy can make some
        (``drop_oldest`` always can: when nothing waits, the newcomer is the one discarded)."""
        if self.held < self.maxsize or self.overflow == "drop_oldest":
            return True
        return self.overflow == "keep_latest" and self._superseded(item) is not None

    def reserve(self) -> None:
        """Keep a place for an item a delivery under way will bring; there must be room. The
        deliverer gives it back with :meth:`unreserve`, then puts the item in the place freed."""
        self.held += 1

    def unreserve(self) -> None:
        """Give back a place :meth:`reserve` kept."""
        self.held -= 1
        if self._writable is not None:
            self._wake_writers()

    def put(self, item: T) -> T | None:
        """Append ``item`` now, making room as the policy says; returns the item discarded, if any
        (with ``drop_oldest`` and nothing waiting to discard, ``item`` itself: it is not queued).

        :meth:`has_room_for` must have said yes.
        """
        dropped = None
        if self.held >= self.maxsize:
            if self.overflow == "drop_oldest":
                if not self._items:
                    return item  # every place is in the consumer's hands: they cannot be taken back
                index: int | None = 0
            else:
                index = self._superseded(item)
            if index is None:
                raise RuntimeError(f"mailbox ({self.overflow}) is full; check has_room_for() first")
            dropped = self._items[index]
            del self._items[index]
        else:
            self.held += 1
        self._items.append(item)
        if self._readable is not None:
            self._readable.set()
            self._readable = None
        return dropped

    def put_all(self, items: list[T]) -> None:
        """Append ``items`` now, in order; there must be room for them all."""
        self.held += len(items)
        self._items.extend(items)
        if self._readable is not None:
            self._readable.set()
            self._readable = None

    def _superseded(self, newcomer: T | None = None) -> int | None:
        """Where the oldest waiting item that a newer one of the same type supersedes is: preferably
        one of ``newcomer``'s type, else one with a younger twin already queued. None if every
        waiting item is the only one of its type."""
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
        while self.held >= self.maxsize and not self.closed:
            if self._writable is None:
                self._writable = anyio.Event()
            await self._writable.wait()

    async def wait_for_items(self) -> None:
        """Wait until the mailbox holds an item or is closed."""
        while not self._items and not self.closed:
            if self._readable is None:
                self._readable = anyio.Event()
            await self._readable.wait()

    @property
    def items(self) -> deque[T]:
        """The waiting items, oldest first, for a consumer to look at (never to change: take them
        with :meth:`take_all_into_hand` or :meth:`take_run`)."""
        return self._items

    def take_run(self, alone: Callable[[T], bool]) -> list[T]:
        """Take into the consumer's hands the oldest item, and with it the items after it for which
        ``alone(item)`` is false, up to the next one for which it is true. They still count against
        ``maxsize`` until :meth:`release`. The mailbox must not be empty."""
        first = self._items.popleft()
        run = [first]
        if not alone(first):
            while self._items and not alone(self._items[0]):
                run.append(self._items.popleft())
        return run

    def take_all_into_hand(self) -> list[T]:
        """Take every waiting item into the consumer's hands, oldest first; they count against
        ``maxsize`` until :meth:`release`, and no overflow policy can discard them any more."""
        items = list(self._items)
        self._items.clear()
        return items

    def release(self, count: int) -> None:
        """The consumer is done with ``count`` items it took: their places are free."""
        self.held -= count
        if self._writable is not None:
            self._wake_writers()

    def take_all(self) -> list[T]:
        """Remove and return every waiting item, oldest first; the taker is done with them."""
        items = list(self._items)
        self._items.clear()
        self.held -= len(items)
        self._wake_writers()
        return items

    def waiting(self) -> list[T]:
        """The waiting items, oldest first, left in place."""
        return list(self._items)

    def take_one(self) -> T:
        """Remove and return the oldest item (the taker is done with it); the mailbox must not be empty."""
        item = self._items.popleft()
        self.held -= 1
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
