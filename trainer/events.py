"""The training lifecycle as typed events: one class per Keras callback hook.

Every event names its run and carries the hook's ``logs``; epoch events carry ``epoch`` and batch
events ``batch`` (0-based, as Keras's Python API). Inline subscribers receive the live ``logs``
mapping, so what they add is seen downstream, as in Keras; queued subscribers receive a read-only
copy taken when the event reached them (:meth:`LifecycleEvent.snapshot`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Mapping
from time import monotonic
from types import MappingProxyType
from typing import Any, TypeVar

from eventbus import Event

__all__ = [
    "BatchEvent",
    "DeferredWork",
    "EpochBegin",
    "EpochEnd",
    "EpochEvent",
    "LIFECYCLE_EVENTS",
    "LifecycleEvent",
    "PredictBatchBegin",
    "PredictBatchEnd",
    "PredictBegin",
    "PredictEnd",
    "TestBatchBegin",
    "TestBatchEnd",
    "TestBegin",
    "TestEnd",
    "TrainBatchBegin",
    "TrainBatchEnd",
    "TrainBegin",
    "TrainEnd",
]

L = TypeVar("L", bound="LifecycleEvent")


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(event_type: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(event_type)
    if names is None:
        names = _FIELD_NAMES[event_type] = tuple(field.name for field in dataclasses.fields(event_type))
    return names


@dataclasses.dataclass(frozen=True, slots=True)
class LifecycleEvent(Event):
    """Something that happened in a ``fit``, ``evaluate`` or ``predict`` run.

    ``run`` identifies the run (unique within the process, e.g. ``"fit-3"``), so an application
    listening to many runs on one bus can tell them apart. ``time`` is when it happened, on the
    monotonic clock (:func:`time.monotonic`): a queued subscriber, which handles it later, can
    still time what it describes. It plays no part in comparing events.
    """

    run: str
    logs: Mapping[str, Any]
    time: float = dataclasses.field(default_factory=monotonic, kw_only=True, compare=False)

    def snapshot(self: L) -> L:
        """A copy with read-only ``logs``. An event whose ``logs`` already are a read-only mapping
        (a snapshot) is its own snapshot."""
        if type(self.logs) is MappingProxyType:
            return self
        # A field-by-field copy: dataclasses.replace() would validate and call __init__ again, which
        # costs several times more, once per batch for every run with a queued callback.
        clone = object.__new__(type(self))
        for name in _field_names(type(self)):
            object.__setattr__(clone, name, getattr(self, name))
        object.__setattr__(clone, "logs", MappingProxyType(dict(self.logs)))
        return clone

    def hook_args(self) -> tuple[Any, ...]:
        """The arguments of the Keras hook method: ``(logs,)``, or ``(index, logs)``."""
        return (self.logs,)


@dataclasses.dataclass(frozen=True, slots=True)
class EpochEvent(LifecycleEvent):
    epoch: int

    def hook_args(self) -> tuple[Any, ...]:
        return (self.epoch, self.logs)


@dataclasses.dataclass(frozen=True, slots=True)
class BatchEvent(LifecycleEvent):
    batch: int

    def hook_args(self) -> tuple[Any, ...]:
        return (self.batch, self.logs)


@dataclasses.dataclass(frozen=True, slots=True)
class TrainBegin(LifecycleEvent):
    """``fit`` starts; logs are empty."""

    hook = "on_train_begin"


@dataclasses.dataclass(frozen=True, slots=True)
class TrainEnd(LifecycleEvent):
    """``fit`` ends; logs are the last epoch's."""

    hook = "on_train_end"


@dataclasses.dataclass(frozen=True, slots=True)
class EpochBegin(EpochEvent):
    """An epoch starts; logs are empty."""

    hook = "on_epoch_begin"


@dataclasses.dataclass(frozen=True, slots=True)
class EpochEnd(EpochEvent):
    """An epoch ends; logs are its training metrics, and ``val_`` ones if it validated."""

    hook = "on_epoch_end"


@dataclasses.dataclass(frozen=True, slots=True)
class TrainBatchBegin(BatchEvent):
    """A training batch (or group of ``steps_per_execution``) starts."""

    hook = "on_train_batch_begin"


@dataclasses.dataclass(frozen=True, slots=True)
class TrainBatchEnd(BatchEvent):
    """A training batch ends; logs are running means since the epoch began."""

    hook = "on_train_batch_end"


@dataclasses.dataclass(frozen=True, slots=True)
class TestBegin(LifecycleEvent):
    """Evaluation, or validation within ``fit``, starts."""

    hook = "on_test_begin"


@dataclasses.dataclass(frozen=True, slots=True)
class TestEnd(LifecycleEvent):
    """Evaluation ends; logs are its final metrics, unprefixed."""

    hook = "on_test_end"


@dataclasses.dataclass(frozen=True, slots=True)
class TestBatchBegin(BatchEvent):
    """An evaluation batch starts."""

    hook = "on_test_batch_begin"


@dataclasses.dataclass(frozen=True, slots=True)
class TestBatchEnd(BatchEvent):
    """An evaluation batch ends; logs are running means."""

    hook = "on_test_batch_end"


@dataclasses.dataclass(frozen=True, slots=True)
class PredictBegin(LifecycleEvent):
    """Prediction starts."""

    hook = "on_predict_begin"


@dataclasses.dataclass(frozen=True, slots=True)
class PredictEnd(LifecycleEvent):
    """Prediction ends."""

    hook = "on_predict_end"


@dataclasses.dataclass(frozen=True, slots=True)
class PredictBatchBegin(BatchEvent):
    """A prediction batch starts."""

    hook = "on_predict_batch_begin"


@dataclasses.dataclass(frozen=True, slots=True)
class PredictBatchEnd(BatchEvent):
    """A prediction batch ends; logs hold its ``outputs``."""

    hook = "on_predict_batch_end"


LIFECYCLE_EVENTS: tuple[type[LifecycleEvent], ...] = (
    TrainBegin, TrainEnd, EpochBegin, EpochEnd, TrainBatchBegin, TrainBatchEnd,
    TestBegin, TestEnd, TestBatchBegin, TestBatchEnd,
    PredictBegin, PredictEnd, PredictBatchBegin, PredictBatchEnd,
)  # fmt: skip
"""Every concrete lifecycle event, one per Keras hook."""


@dataclasses.dataclass(frozen=True, slots=True)
class DeferredWork(Event):
    """The slow part of an inline callback's hook, handed to that callback's queued lane.

    An inline ``async def`` hook that returns an awaitable (``return self._write(weights)``) has done
    its consistent, cheap part at once; the awaitable runs later, in order, concurrently with training.
    """

    hook = "on_deferred_work"
    run: str
    callback: str
    for_hook: str
    work: Awaitable[Any] = dataclasses.field(repr=False)
    owner: object = dataclasses.field(repr=False, compare=False)
