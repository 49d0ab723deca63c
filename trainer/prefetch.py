"""Loading a data source's next batch while the model computes the one before, off the compute thread.

The compute thread asks for each batch (:meth:`Prefetcher.take`); the load itself runs in a worker
thread of the prefetcher's own (a generator's ``next``, a PyDataset's ``__getitem__``) or, for an
async iterable, on the event loop, never in the loop's thread for sync code. Once a batch is handed
over, the next one starts loading, so it is ready (or nearly) when the compute thread asks for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.abc import TaskGroup

__all__ = ["END", "Reader", "Prefetcher", "with_prefetcher"]

T = TypeVar("T")

END: Any = object()
"""What a load returns when its pass has no batch left."""


class Reader:
    """One pass over a source: ``load()`` (sync) or ``load_async()`` gives the next raw batch or :data:`END`.

    Its loads run one at a time, in order (a generator cannot run twice at once); the prefetcher
    holds at most one of them in advance.
    """

    is_async = False

    def load(self) -> Any:
        raise NotImplementedError

    async def load_async(self) -> Any:
        raise NotImplementedError


class _Pending:
    """A load under way: its result, or its error, once it is done."""

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    async def fill(self, load: Awaitable[Any]) -> None:
        try:
            self._value = await load
        except Exception as error:  # the compute thread raises it when it takes this batch
            self._error = error
        finally:
            self._done.set()

    async def result(self) -> Any:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class Prefetcher:
    """Loads batches for the compute thread of one run, one ahead of it per reader."""

    def __init__(self, task_group: TaskGroup) -> None:
        self._task_group = task_group
        # Its own thread slot: the application's default limiter may be taken by callbacks' threads.
        self._limiter = anyio.CapacityLimiter(1)
        self._pending: dict[Reader, _Pending] = {}

    def take(self, reader: Reader, *, ahead: bool) -> Any:
        """From the compute thread: the reader's next batch (or :data:`END`); then, if ``ahead``,
        start loading the one after it."""
        return anyio.from_thread.run(self._take, reader, ahead)

    def peek(self, reader: Reader) -> Any:
        """From the compute thread: the reader's next batch (or :data:`END`), left for the next :meth:`take`."""
        return anyio.from_thread.run(self._peek, reader)

    def forget(self, reader: Reader) -> None:
        """From the compute thread: a reader whose pass is over; what it had loaded ahead is dropped."""
        anyio.from_thread.run_sync(self._pending.pop, reader, None)

    async def _take(self, reader: Reader, ahead: bool) -> Any:
        pending = self._pending.pop(reader, None)
        item = await (pending.result() if pending is not None else self._load(reader))
        if ahead and item is not END:
            pending = _Pending()
            self._pending[reader] = pending
            self._task_group.start_soon(pending.fill, self._load(reader))
        return item

    async def _peek(self, reader: Reader) -> Any:
        pending = self._pending.get(reader)
        if pending is None:
            pending = self._pending[reader] = _Pending()
            self._task_group.start_soon(pending.fill, self._load(reader))
        return await pending.result()

    async def _load(self, reader: Reader) -> Any:
        if reader.is_async:
            return await reader.load_async()
        return await anyio.to_thread.run_sync(reader.load, limiter=self._limiter)


async def with_prefetcher(attach: Callable[[Prefetcher | None], None], body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` with a prefetcher attached (``attach(prefetcher)``, then ``attach(None)``), and the
    loads still under way when it ends cancelled. ``body``'s exception propagates as it is."""
    failure: Exception | None = None
    result: T | None = None
    async with anyio.create_task_group() as task_group:
        attach(Prefetcher(task_group))
        try:
            result = await body()
        except Exception as error:  # raised after the task group, so it is not wrapped in a group
            failure = error
        finally:
            attach(None)
            task_group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result  # type: ignore[return-value]
