"""Server-Sent Events: a job's events (or every job's), stored ones replayed by id, then live ones.

At epoch level a stream reads the journal, so it is lossless: a reader that falls behind is sent
everything it missed, from memory or from the database, and holds nothing meanwhile. At batch level
the batch events come from the bus, coalesced to the newest of each kind for a reader that falls
behind (``keep_latest``), while the epoch-level events among them are sent from the journal, in
order, none lost, with their ids: a reconnecting client with ``Last-Event-ID`` is sent the stored
ones it missed.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable

from eventbus import Event, EventBus
from trainer.jobs import JobStatusChanged, event_record, level_types, of_job

from .journal import Journal
from .store import StoredEvent

__all__ = ["EncodedEvents", "batch_level", "epoch_level", "stored_message"]

_BATCH_READS = 1000  # events a stream sends in one write at most


def stored_message(event: StoredEvent) -> str:
    return f"id: {event.id}\nevent: {event.kind}\ndata: {event.data}\n\n"


async def epoch_level(
    journal: Journal, *, job: str | None, after: int, finished: Callable[[], bool]
) -> AsyncGenerator[str, None]:
    """The stored events after ``after``, then each as it is recorded. A job's stream ends once the
    job is ``finished()`` and every event of it has been sent; every job's stream never ends."""
    while True:
        events, seen = await journal.read(job=job, after=after, limit=_BATCH_READS)
        if events:
            yield "".join(map(stored_message, events))
        after = seen
        if job is not None and not events and finished():
            return
        if not events:
            await journal.wait_after(seen)


class EncodedEvents:
    """Each live event as a Server-Sent Event, encoded once however many streams send it.

    A bus hands the same event object to every stream, so it is remembered by identity: the last
    ``size`` events, each held (so its id is not reused) until it leaves the memo.
    """

    def __init__(self, journal: Journal, size: int = 4096) -> None:
        self._journal = journal
        self._size = size
        self._memo: OrderedDict[int, tuple[Event, str]] = OrderedDict()

    def __call__(self, event: Event) -> str:
        held = self._memo.get(id(event))
        if held is not None and held[0] is event:
            return held[1]
        stored = self._journal.event_id(event)
        text = f"event: {type(event).__name__}\ndata: {json.dumps(event_record(event))}\n\n"
        if stored is not None:
            text = f"id: {stored}\n{text}"
        self._memo[id(event)] = (event, text)
        if len(self._memo) > self._size:
            self._memo.popitem(last=False)
        return text


async def batch_level(
    journal: Journal, bus: EventBus, encoded: EncodedEvents, *, job: str, after: int, finished: Callable[[], bool]
) -> AsyncGenerator[str, None]:
    """The job's stored events after ``after``, then every event of it live, batch events too, until
    it finishes."""
    async with bus.stream(level_types("batch"), maxsize=256, overflow="keep_latest", where=of_job(job)) as live:
        # Subscribed first: whatever is recorded from now on arrives live too, and is skipped there.
        while True:
            events, _ = await journal.read(job=job, after=after, limit=_BATCH_READS)
            if not events:
                break
            yield "".join(map(stored_message, events))
            after = events[-1].id
        if finished():
            return
        while True:
            texts = []
            for event in await live.receive_batch():
                stored = journal.event_id(event)
                if stored is None:  # a batch event: not stored, sent as it comes
                    texts.append(encoded(event))
                    continue
                if stored <= after:
                    continue
                # Stored events come from the journal, the ones the live stream coalesced away too:
                # everything of the job up to this one, in order.
                while after < stored:
                    missed, _ = await journal.read(job=job, after=after, limit=_BATCH_READS)
                    caught_up = [e for e in missed if e.id <= stored]
                    if not caught_up:
                        break
                    texts.extend(map(stored_message, caught_up))
                    after = caught_up[-1].id
                after = max(after, stored)
                if isinstance(event, JobStatusChanged) and event.status.finished and finished():
                    yield "".join(texts)
                    return
            if texts:
                yield "".join(texts)
