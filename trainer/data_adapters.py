"""Batches from a generator, an iterable, a PyDataset or an async iterable, as Keras 3 serves them.

What ``fit``, ``evaluate`` and ``predict`` take as ``x`` besides arrays (and ``fit`` as
``validation_data``):

* a Python generator or any iterator: one pass, the batches it yields;
* an iterable whose ``__iter__`` starts a new pass each time;
* Keras 3's ``PyDataset`` protocol: ``__len__`` batches, ``__getitem__(i)`` gives batch ``i``, and
  ``on_epoch_begin()``/``on_epoch_end()`` if it has them (called at each epoch's start and end);
  with ``shuffle`` (``fit``'s default), the batch order is shuffled each pass, as Keras does;
* (ours) an async iterable (``__aiter__``), such as an async generator, a database cursor or a
  network stream, for ``fit_async`` and its twins.

A batch is ``(x, y)`` or ``(x, y, sample_weight)``; for ``predict``, ``x`` alone or any of those.

Epochs follow Keras's rules. Without ``steps_per_epoch`` an epoch is one pass, to its end. With
it, an epoch takes that many batches and the next epoch carries on where it stopped; when the pass
ends first, the epoch ends early and the next one starts a new pass. A source that cannot start
again (a generator, an iterator) that runs out while epochs remain ends training after that epoch,
with Keras's warning ("Your input ran out of data; interrupting training"). ``params["steps"]`` is
``steps_per_epoch``, else the PyDataset's (or iterable's) length, else None: unknown.

Loading a batch never holds the event loop and overlaps the previous batch's compute (see
:mod:`trainer.prefetch`); converting it to float32 arrays runs in the compute thread.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from .prefetch import END, Prefetcher, Reader, with_prefetcher
from .validation import Batch

__all__ = [
    "RAN_OUT",
    "SourceBatches",
    "check_source_arguments",
    "describe_source",
    "is_batch_source",
    "prediction_batch",
    "run_with_sources",
    "training_batch",
]

T = TypeVar("T")

RAN_OUT = (
    "Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
    "generate at least `steps_per_epoch * epochs` batches."
)


def is_batch_source(x: object) -> bool:
    """Whether ``x`` is a source of batches rather than array data (arrays, lists, tuples, scalars)."""
    if x is None or isinstance(x, (np.ndarray, np.generic, list, tuple, dict, str, bytes, int, float)):
        return False
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return False
    return hasattr(x, "__aiter__") or hasattr(x, "__iter__") or _is_py_dataset(x)


def _is_py_dataset(x: object) -> bool:
    return hasattr(x, "__getitem__") and hasattr(x, "__len__")


def describe_source(x: object) -> str:
    """What kind of source ``x`` is, for messages: "a generator", "a PyDataset", ..."""
    if hasattr(x, "__aiter__"):
        return "an async iterable"
    if _is_py_dataset(x):
        return "a PyDataset"
    if hasattr(x, "__next__"):
        return "a generator" if hasattr(x, "gi_frame") else "an iterator"
    return "an iterable"


def check_source_arguments(what: str, x: object, **given: object) -> None:
    """Refuse the arguments that make no sense when ``x`` is a source of ready-made batches (Keras's rules)."""
    kind = describe_source(x)
    hints = {
        "y": "its batches hold the targets: yield (x, y) or (x, y, sample_weight)",
        "sample_weight": "its batches hold the weights: yield (x, y, sample_weight)",
        "class_weight": "weight the samples in its batches instead: yield (x, y, sample_weight)",
        "batch_size": "it makes its own batches; leave batch_size out",
        "validation_split": "validation_split is only supported for arrays; pass validation_data",
        "validation_batch_size": "validation_data makes its own batches; leave validation_batch_size out",
    }
    for name, value in given.items():
        unset = value is None or (name == "validation_split" and isinstance(value, (int, float)) and not value)
        if not unset:
            raise ValueError(f"`{name}` argument is not supported when {what} is {kind}: {hints[name]}")


class SourceBatches:
    """The batches of one source, epoch after epoch: what :class:`~trainer.batching.Batches` is for arrays.

    ``kind`` is ``"fit"`` (training: ends training when a one-shot source runs out while epochs
    remain, which needs ``epochs`` and ``model``), ``"evaluate"`` (validation or evaluation) or
    ``"predict"``. ``convert(raw)`` turns a raw batch into a :class:`Batch`, in the compute thread.
    Serves batches only with a prefetcher attached (see :func:`run_with_sources`).
    """

    def __init__(
        self,
        source: Any,
        kind: str,
        convert: Callable[[Any], Batch],
        *,
        what: str = "x",
        steps_per_epoch: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        epochs: int = 1,
        model: Any = None,
    ) -> None:
        self.source = source
        self.kind = kind
        self.what = what
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs
        self.prefetcher: Prefetcher | None = None
        self._convert = convert
        self._model = model
        self._opener = _Opener(source, shuffle, seed)
        self._reader: Reader | None = None
        self._passes = 0
        self._exhausted = False  # a one-shot source's one pass is over
        self._epoch = 0

    @property
    def steps(self) -> int | None:
        """Batches in a full epoch, ``params["steps"]``: None when not known before the data runs out."""
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        length = getattr(type(self.source), "__len__", None)
        return None if length is None else int(length(self.source))

    def start_at(self, epoch: int) -> None:
        """Serve epoch ``epoch`` next. A PyDataset is served as a run that trained the epochs before
        would be (same passes, same shuffles); an iterable or a generator goes on from where it is."""
        self._epoch = epoch
        if not self._opener.indexed:
            return
        if self.steps_per_epoch is None:
            self._reader, self._passes = None, epoch
            return
        batches = len(self.source)
        passes, used = 0, batches
        for _ in range(epoch):  # as Batches.start_at: an epoch ends early where its pass does
            if used >= batches:
                passes, used = passes + 1, 0
            used += min(self.steps_per_epoch, batches - used)
        self._passes = passes
        self._reader = self._opener.open(passes - 1, first=used) if passes and used < batches else None

    def epoch(self) -> Iterator[Batch]:
        """The batches of the next epoch (or validation pass)."""
        prefetcher = self.prefetcher
        if prefetcher is None:
            raise RuntimeError("SourceBatches serves batches only inside run_with_sources()")
        limit = self.steps_per_epoch
        last_epoch = self.kind != "fit" or self._epoch + 1 >= self.epochs
        _call_if_present(self.source, "on_epoch_begin")
        served = 0
        try:
            reader, fresh = self._reader_for_epoch(prefetcher)
            while limit is None or served < limit:
                # Load the next batch ahead, except past the last one the run needs: a batch read
                # from a generator for nothing would be lost to its owner.
                at_the_end = limit is not None and served + 1 == limit and last_epoch
                item = prefetcher.take(reader, ahead=not at_the_end)
                if item is END:
                    self._pass_over(prefetcher, reader)
                    if served == 0 and not fresh and not self._exhausted:
                        reader, fresh = self._reader_for_epoch(prefetcher)  # the pass ended with the last epoch
                        continue
                    break
                served += 1
                yield self._convert(item)
            else:
                if self._opener.one_shot and not last_epoch and prefetcher.peek(reader) is END:
                    self._pass_over(prefetcher, reader)  # known now, so training stops after this epoch
            if served == 0:
                raise ValueError(f"{self.what}, {describe_source(self.source)}, gave no batches")
            self._warn_if_ran_out()
        finally:
            self._epoch += 1
            _call_if_present(self.source, "on_epoch_end")

    def _reader_for_epoch(self, prefetcher: Prefetcher) -> tuple[Reader, bool]:
        """The reader of this epoch, and whether its pass is new."""
        if self._reader is not None and (self.steps_per_epoch is not None or self._opener.one_shot):
            return self._reader, False
        if self._exhausted:
            raise ValueError(
                f"{self.what}, {describe_source(self.source)}, has no batches left: its one pass was used up "
                f"before. Pass {'validation_steps' if self.what == 'validation_data' else 'steps'} to take "
                "only some batches each time, or a source that can start again: a PyDataset, or an "
                "iterable whose __iter__ starts a new pass."
            )
        if self._reader is not None:
            prefetcher.forget(self._reader)  # a pass left midway (training stopped): a new pass starts
        self._reader = self._opener.open(self._passes)
        self._passes += 1
        return self._reader, True

    def _pass_over(self, prefetcher: Prefetcher, reader: Reader) -> None:
        prefetcher.forget(reader)
        self._reader = None
        self._exhausted = self._opener.one_shot

    def _warn_if_ran_out(self) -> None:
        if self.kind != "fit" or not self._exhausted or self._epoch + 1 >= self.epochs or self._model is None:
            return
        warnings.warn(
            f"{RAN_OUT} {self.what}, {describe_source(self.source)}, has no batches left after epoch "
            f"{self._epoch + 1} of {self.epochs}, so training stops there. Pass steps_per_epoch (each epoch then "
            "takes that many batches from it), or a source that can start again: a PyDataset, or an "
            "iterable whose __iter__ starts a new pass.",
            UserWarning,
            stacklevel=2,
        )
        self._model.stop_training = True


class _Opener:
    """How to start a pass over a source, and what kind of source it is."""

    def __init__(self, source: Any, shuffle: bool, seed: int) -> None:
        self.source = source
        self.shuffle = shuffle
        self.seed = seed
        self.indexed = _is_py_dataset(source) and not hasattr(source, "__aiter__")
        # An iterator (a generator) has one pass; its reader is kept, with what it has loaded ahead.
        self.one_shot = not self.indexed and (hasattr(source, "__next__") or hasattr(source, "__anext__"))
        self._one_reader: Reader | None = None

    def open(self, pass_index: int, first: int = 0) -> Reader:
        if self.indexed:
            batches = len(self.source)
            order = np.random.default_rng((self.seed, pass_index)).permutation(batches) if self.shuffle else np.arange(batches)
            return _IndexedReader(self.source, order, first)
        if self._one_reader is None or not self.one_shot:
            self._one_reader = _AsyncReader(self.source) if hasattr(self.source, "__aiter__") else _IteratorReader(self.source, self.one_shot)
        return self._one_reader


class _IteratorReader(Reader):
    def __init__(self, source: Any, one_shot: bool) -> None:
        self._source = source
        self._iterator: Iterator[Any] | None = source if one_shot else None

    def load(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._source)  # here, in the loader's thread: it may do I/O
        return next(self._iterator, END)


class _AsyncReader(Reader):
    is_async = True

    def __init__(self, source: Any) -> None:
        self._source = source
        self._iterator: Any = None

    async def load_async(self) -> Any:
        if self._iterator is None:
            self._iterator = self._source.__aiter__()  # on the event loop, which it may belong to
        try:
            return await self._iterator.__anext__()
        except StopAsyncIteration:
            return END


class _IndexedReader(Reader):
    def __init__(self, dataset: Any, order: np.ndarray, first: int) -> None:
        self._dataset = dataset
        self._order = order
        self._position = first

    def load(self) -> Any:
        if self._position >= len(self._order):
            return END
        index = int(self._order[self._position])
        self._position += 1
        return self._dataset[index]


def _call_if_present(source: object, method: str) -> None:
    hook = getattr(source, method, None)
    if callable(hook):
        hook()


def training_batch(model: Any, what: str) -> Callable[[Any], Batch]:
    """How a raw batch of ``fit`` or ``evaluate`` becomes a checked :class:`Batch`."""

    def convert(raw: Any) -> Batch:
        if not isinstance(raw, (tuple, list)) or len(raw) not in (2, 3):
            got = f"a {type(raw).__name__}" + (f" of length {len(raw)}" if isinstance(raw, (tuple, list)) else "")
            raise ValueError(f"{what} must give batches (x, y) or (x, y, sample_weight); got {got}")
        return model._validate_data(*raw)  # type: ignore[no-any-return]

    return convert


def prediction_batch(model: Any) -> Callable[[Any], Batch]:
    """How a raw batch of ``predict`` (``x``, or a tuple whose first item is ``x``) becomes a :class:`Batch`."""

    def convert(raw: Any) -> Batch:
        x = raw[0] if isinstance(raw, (tuple, list)) else raw
        return Batch(model._validate_inputs(x), None, None)

    return convert


async def run_with_sources(batches: Sequence[object], body: Callable[[], Awaitable[T]]) -> T:
    """Run ``body`` (the run's compute), with a prefetcher for those of ``batches`` that are sources."""
    sources = [served for served in batches if isinstance(served, SourceBatches)]
    if not sources:
        return await body()

    def attach(prefetcher: Prefetcher | None) -> None:
        for source in sources:
            source.prefetcher = prefetcher

    return await with_prefetcher(attach, body)
