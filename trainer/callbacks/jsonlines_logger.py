"""JSONLinesLogger: one JSON object per lifecycle event, for services and log shippers."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from trainer.events import (
    LIFECYCLE_EVENTS,
    BatchEvent,
    EpochBegin,
    EpochEnd,
    EpochEvent,
    LifecycleEvent,
    TestBegin,
    TestEnd,
    TrainBegin,
    TrainEnd,
)
from trainer.json_values import jsonable
from trainer.lookup import unknown_name_message

from .appending import append_whole
from .callback import Callback

__all__ = ["DEFAULT_EVENTS", "JSONLinesLogger"]

DEFAULT_EVENTS: tuple[type[LifecycleEvent], ...] = (TrainBegin, TrainEnd, EpochBegin, EpochEnd, TestBegin, TestEnd)
"""Epoch-level events and the begin and end of training and testing: nothing per batch."""

_EVENT_OF_HOOK = {event.hook: event for event in LIFECYCLE_EVENTS}

EventSelection = Iterable[str | type[LifecycleEvent]]


class JSONLinesLogger(Callback):
    """Appends one JSON object per line to ``path`` for each selected lifecycle event::

        {"run": "3f2a9c0d41b7", "event": "EpochEnd", "hook": "on_epoch_end", "epoch": 0,
         "logs": {"loss": 0.25}, "time": 1764000000.123}

    ``epoch`` (epoch events) or ``batch`` (batch events) is there when the event has one. ``run``
    is ``run`` if given (a job id), else a fresh random id per ``fit``/``evaluate``/``predict`` call.
    ``time`` is when the logger handled the event (seconds since the Unix epoch). Log values are made
    strict JSON: numpy values become numbers or lists, NaN and infinities the strings ``"nan"``,
    ``"inf"``, ``"-inf"``.

    ``events`` selects hook names (``"on_train_batch_end"``) and event classes (a base class such as
    ``trainer.events.BatchEvent`` or ``LifecycleEvent`` selects all its kinds); by default
    :data:`DEFAULT_EVENTS`. Events not selected cost nothing: their hooks are not subscribed.

    Queued: it runs in a worker thread, in order, while training goes on. The file is only ever
    appended to, one line per write, so it holds whole lines only, and several runs may share it.
    """

    delivery = "queued"

    def __init__(self, path: str | os.PathLike[str], events: EventSelection = DEFAULT_EVENTS, run: str | None = None) -> None:
        super().__init__()
        self.path = os.fspath(path)
        if run is not None and not isinstance(run, str):
            raise TypeError(f"JSONLinesLogger: run must be a string (a job id) or None; got {run!r}")
        self.run = run
        self._run_id = run or ""
        self.hooks = _selected_hooks(events)
        for hook in self.hooks:
            # An instance attribute shadows the base class's no-op, so only selected hooks get subscribed.
            setattr(self, hook, self._writer(hook))

    def set_params(self, params: dict[str, Any]) -> None:
        # Called once as each fit, evaluate or predict call sets up its callbacks.
        super().set_params(params)
        self._run_id = self.run or uuid.uuid4().hex[:12]

    def _writer(self, hook: str) -> Callable[..., None]:
        event = _EVENT_OF_HOOK[hook]
        index_name = "epoch" if issubclass(event, EpochEvent) else "batch" if issubclass(event, BatchEvent) else None

        def write(*args: Any) -> None:
            *index, logs = args
            record: dict[str, Any] = {"run": self._run_id, "event": event.__name__, "hook": hook}
            if index_name is not None:
                record[index_name] = index[0]
            record["logs"] = jsonable(dict(logs or {}))
            record["time"] = time.time()
            append_whole(self.path, json.dumps(record, allow_nan=False, default=repr) + "\n")

        return write


def _selected_hooks(events: EventSelection) -> tuple[str, ...]:
    """The hooks that ``events`` names, in the order of ``LIFECYCLE_EVENTS``."""
    if isinstance(events, (str, type)):
        events = [events]
    selected: set[str] = set()
    for item in events:
        if isinstance(item, str):
            if item not in _EVENT_OF_HOOK:
                raise ValueError(f"JSONLinesLogger: {unknown_name_message('callback hook', item, list(_EVENT_OF_HOOK))}")
            selected.add(item)
        elif isinstance(item, type) and issubclass(item, LifecycleEvent):
            selected.update(event.hook for event in LIFECYCLE_EVENTS if issubclass(event, item))
        else:
            raise TypeError(
                f"JSONLinesLogger: events must be hook names or trainer.events classes, such as 'on_epoch_end' or "
                f"EpochEnd; got {item!r}"
            )
    return tuple(hook for hook in _EVENT_OF_HOOK if hook in selected)
