"""Lifecycle events packed for the trip from a Ray worker to the manager: one pickle of plain tuples per list.

A list of event dataclasses costs Ray's serializer a call per event and per field; the same events
as ``(kind, time, logs, *index)`` tuples are one C-speed pickle, and the manager rebuilds each
event with a few attribute stores. Every event of a list belongs to one run, which is not shipped.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Sequence
from typing import Any

from trainer.events import LIFECYCLE_EVENTS, LifecycleEvent

__all__ = ["pack_events", "unpack_events"]

_CODES = {event_type: code for code, event_type in enumerate(LIFECYCLE_EVENTS)}
_COMMON = ("run", "logs", "time")
# Each kind's fields beyond run, logs and time (its epoch or batch), in declaration order.
_INDEXES: tuple[tuple[str, ...], ...] = tuple(
    tuple(field.name for field in dataclasses.fields(event_type) if field.name not in _COMMON)
    for event_type in LIFECYCLE_EVENTS
)


def pack_events(events: Sequence[LifecycleEvent]) -> bytes:
    """``events`` (of one run) as bytes: their kind, ``time``, ``logs`` (a plain dict copy) and index."""
    packed: list[tuple[Any, ...]] = []
    for event in events:
        code = _CODES[type(event)]
        packed.append((code, event.time, dict(event.logs), *(getattr(event, name) for name in _INDEXES[code])))
    return pickle.dumps(packed, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_events(data: bytes, run: str) -> list[LifecycleEvent]:
    """The events :func:`pack_events` packed, each with ``run``; their ``logs`` are plain dicts."""
    events: list[LifecycleEvent] = []
    for code, time, logs, *index in pickle.loads(data):  # noqa: S301  # from the cluster's own workers
        event_type = LIFECYCLE_EVENTS[code]
        # Field by field, as LifecycleEvent.snapshot does: __init__ would validate what was valid already.
        event = object.__new__(event_type)
        object.__setattr__(event, "run", run)
        object.__setattr__(event, "logs", logs)
        object.__setattr__(event, "time", time)
        for name, value in zip(_INDEXES[code], index):
            object.__setattr__(event, name, value)
        events.append(event)
    return events
