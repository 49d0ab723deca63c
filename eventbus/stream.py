"""An async iterator over a bus's events, for application code."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Generic, TypeVar

import anyio

from .event import Event

if TYPE_CHECKING:
    from types import TracebackType

    from .subscription import Subscription

__all__ = ["EventStream"]

E = TypeVar("E", bound=Event)


class EventStream(Generic[E]):
    """The events of one type, in publication order, as an async iterator.

    It is subscribed from the moment :meth:`EventBus.stream` returns, so no event published after
    that is missed. Iteration ends once the stream is closed (``aclose()``, or leaving
    ``async with``, or dropping the stream object) or the bus is left, after the events already
    queued have been read. Prefer ``async with``: it closes the stream at a known moment. Its queue
    is bounded; its overflow policy says what a publisher does when the reader falls behind. The bus's
    ``drain()`` does not wait for streams: the application reads them at its own pace.
    """

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        # A stream dropped without aclose() (``async for ...: break``) must not stay subscribed,
        # or its full queue would hold every publisher.
        weakref.finalize(self, subscription.close)

    def __aiter__(self) -> EventStream[E]:
        return self

    async def __anext__(self) -> E:
        mailbox = self.subscription.mailbox
        assert mailbox is not None
        await mailbox.wait_for_items()
        if not mailbox:
            raise StopAsyncIteration
        self.subscription.delivered += 1
        return mailbox.take_one()  # type: ignore[return-value]

    async def receive_batch(self) -> list[E]:
        """Wait for an event, then return every event waiting, oldest first (at most the queue's size).

        For a reader that pays per read rather than per event (a socket write, a database
        transaction): the further it falls behind, the more each read carries. Raises
        :class:`anyio.EndOfStream` once the stream is closed and every queued event has been read.
        Like iteration, it is not a checkpoint when events are already waiting.
        """
        mailbox = self.subscription.mailbox
        assert mailbox is not None
        await mailbox.wait_for_items()
        if not mailbox:
            raise anyio.EndOfStream
        batch = mailbox.take_all()
        self.subscription.delivered += len(batch)
        return batch  # type: ignore[return-value]

    async def aclose(self) -> None:
        """Stop receiving events; those already queued can still be read."""
        self.subscription.close()

    async def __aenter__(self) -> EventStream[E]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
