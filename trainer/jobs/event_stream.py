"""One job's events for a reader: what its history holds, then what happens, until the job finishes."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio

from eventbus import Event, EventStream

from .events import JobStatusChanged

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["JobEventStream"]


class JobEventStream:
    """An async iterator over one job's events; make it with :meth:`JobManager.follow`.

    It yields the job's recorded history first, then the events published after it was made (none
    missed, none repeated: the history is read in the same step as the live stream subscribes), and
    ends when the job finishes: at once if it had finished already, else after the
    :class:`JobStatusChanged` that says so. The live part is a bus stream with ``keep_latest``:
    a reader that falls behind gets the newest event of each kind, never holds training, and holds
    at most ``maxsize`` waiting events. Close it (``async with``) to unsubscribe.
    """

    def __init__(self, backlog: Iterable[Event], live: EventStream[Event], *, finished: bool) -> None:
        self._backlog = deque(backlog)
        self._live = live
        self._done = finished

    def __aiter__(self) -> JobEventStream:
        return self

    async def __anext__(self) -> Event:
        if self._backlog:
            return self._backlog.popleft()
        if self._done:
            raise StopAsyncIteration
        event = await self._live.__anext__()
        self._done = _is_finish(event)
        return event

    async def receive_batch(self) -> list[Event]:
        """Every event ready to read, in order: the history at first, then what waits in the live
        stream (waiting for one if none does). Raises :class:`anyio.EndOfStream` where iteration
        would stop. For a reader that pays per read, such as a socket write."""
        if self._backlog:
            batch = list(self._backlog)
            self._backlog.clear()
            return batch
        if self._done:
            raise anyio.EndOfStream
        batch = await self._live.receive_batch()
        for index, event in enumerate(batch):
            if _is_finish(event):
                self._done = True
                return batch[: index + 1]
        return batch

    async def aclose(self) -> None:
        """Stop receiving events; what is already waiting can still be read."""
        await self._live.aclose()

    async def __aenter__(self) -> JobEventStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _is_finish(event: Event) -> bool:
    return isinstance(event, JobStatusChanged) and event.status.finished
