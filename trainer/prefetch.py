"""Loading a data source's next batch while the model computes the one before, off the event loop.

The compute thread asks for each batch (:meth:`Prefetcher.take`). A sync source's loads (a
generator's ``next``, a PyDataset's ``__getitem__``) run in a loader thread of the run's own, handed
over thread to thread, without a round trip through the event loop; an async iterable's run on the
event loop, which it belongs to. Once a batch is handed over, the next one starts loading, so it is
ready (or nearly) when the compute thread asks for it.
"""

from __future__ import annotations

import queue
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.abc import TaskGroup

__all__ = ["END", "Prefetcher", "Reader", "with_prefetcher"]

T = TypeVar("T")

END: Any = object()
"""What a load returns when its pass has no batch left."""

_STOP: Any = object()
_POLL_SECONDS = 0.02  # how often a compute thread waiting for a batch checks for cancellation


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


class _Failed:
    """A load that raised: the compute thread raises it when it takes that batch."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Pending:
    """An async load under way on the event loop: its result, or its error, once it is done."""

    def __init__(self) -> None:
        self._done = anyio.Event()
        self._value: Any = None

    async def fill(self, reader: Reader) -> None:
        try:
            self._value = await reader.load_async()
        except Exception as error:
            self._value = _Failed(error)
        finally:
            self._done.set()

    async def result(self) -> Any:
        await self._done.wait()
        return self._value


class Prefetcher:
    """Loads batches for the compute thread of one run, one ahead of it.

    Sync readers share one loader thread, which loads one batch at a time: what the compute thread
    asked for, or the next batch of the reader it took from last.
    """

    def __init__(self, task_group: TaskGroup) -> None:
        self._task_group = task_group
        # At most one request waits (the loader takes one at a time), plus the stop: bounded.
        self._requests: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._results: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._loading: Reader | None = None  # the sync reader whose batch the loader is on
        self._loaded: dict[Reader, Any] = {}  # sync batches loaded ahead, collected, not yet taken
        self._pending: dict[Reader, _Pending] = {}  # async loads ahead
        self._loader_started = False

    def take(self, reader: Reader, *, ahead: bool) -> Any:
        """From the compute thread: the reader's next batch (or :data:`END`); then, if ``ahead``,
        start loading the one after it."""
        if reader.is_async:
            item = anyio.from_thread.run(self._take_async, reader, ahead)
        else:
            item = self._collect(reader)
            if ahead and item is not END:
                self._request(reader)
        if isinstance(item, _Failed):
            raise item.error
        return item

    def peek(self, reader: Reader) -> Any:
        """From the compute thread: the reader's next batch (or :data:`END`), left for the next :meth:`take`."""
        if reader.is_async:
            item = anyio.from_thread.run(self._peek_async, reader)
        else:
            item = self._loaded[reader] = self._collect(reader)
        if isinstance(item, _Failed):
            raise item.error
        return item

    def forget(self, reader: Reader) -> None:
        """From the compute thread: a reader whose pass is over; what it had loaded ahead is dropped."""
        if reader.is_async:
            anyio.from_thread.run_sync(self._pending.pop, reader, None)
            return
        if self._loading is reader:
            self._wait_for_result()
        self._loaded.pop(reader, None)

    def stop(self) -> None:
        """On the event loop, once the compute thread is done: let the loader thread end."""
        if self._loader_started:
            self._requests.put_nowait(_STOP)

    # ----- sync readers: thread to thread

    def _collect(self, reader: Reader) -> Any:
        if reader in self._loaded:
            return self._loaded.pop(reader)
        if self._loading is not None and self._loading is not reader:
            self._loaded[self._loading] = self._wait_for_result()  # another reader's batch: kept for it
        if self._loading is None:
            self._request(reader)
        return self._wait_for_result()

    def _request(self, reader: Reader) -> None:
        if not self._loader_started:
            self._loader_started = True
            anyio.from_thread.run_sync(self._task_group.start_soon, self._run_loader)
        self._loading = reader
        self._requests.put_nowait(reader)

    def _wait_for_result(self) -> Any:
        while True:
            try:
                item = self._results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                anyio.from_thread.check_cancelled()
                continue
            self._loading = None
            return item

    async def _run_loader(self) -> None:
        # Its own thread slot: the application's default limiter may be taken by callbacks' threads.
        await anyio.to_thread.run_sync(self._serve, limiter=anyio.CapacityLimiter(1))

    def _serve(self) -> None:
        """The loader thread: load what is asked, one at a time, until told to stop."""
        while True:
            reader = self._requests.get()
            if reader is _STOP:
                return
            try:
                item = reader.load()
            except Exception as error:
                item = _Failed(error)
            self._results.put(item)

    # ----- async readers: on the event loop

    async def _take_async(self, reader: Reader, ahead: bool) -> Any:
        pending = self._pending.pop(reader, None)
        if pending is None:
            pending = self._start(reader)
            self._pending.pop(reader)
        item = await pending.result()
        if ahead and item is not END and not isinstance(item, _Failed):
            self._start(reader)
        return item

    async def _peek_async(self, reader: Reader) -> Any:
        pending = self._pending.get(reader) or self._start(reader)
        return await pending.result()

    def _start(self, reader: Reader) -> _Pending:
        pending = self._pending[reader] = _Pending()
        self._task_group.start_soon(pending.fill, reader)
        return pending


async def with_prefetcher(attach: Callable[[Prefetcher | None], None], body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` with a prefetcher attached (``attach(prefetcher)``, then ``attach(None)``); the
    loads still under way when it ends are cancelled or, in a thread, finish first. ``body``'s
    exception propagates as it is."""
    failure: Exception | None = None
    result: T | None = None
    async with anyio.create_task_group() as task_group:
        prefetcher = Prefetcher(task_group)
        attach(prefetcher)
        try:
            result = await body()
        except Exception as error:  # raised after the task group, so it is not wrapped in a group
            failure = error
        finally:
            attach(None)
            prefetcher.stop()
            task_group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result  # type: ignore[return-value]
