"""The service's durable state: one SQLite file in the workdir, holding every job and its epoch-level events.

:class:`JobStore` is plain, blocking ``sqlite3``: the service calls it from a worker thread (see
:class:`~trainer.service.journal.Journal`), one call at a time, never on the event loop's thread.
The database runs in WAL mode with ``synchronous=NORMAL``: a committed batch survives the process
being killed (SIGKILL); a power cut may lose the last batches, never corrupt the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .records import ServiceJob

__all__ = ["JobStore", "StoredEvent"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job, id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One recorded event: its service-wide ``id`` (increasing), its job, class name and JSON record."""

    id: int
    job: str
    kind: str
    data: str


class JobStore:
    """Jobs and events in ``path`` (created if missing). Not thread-safe: one caller at a time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        # check_same_thread=False: the service uses it from worker threads, one call at a time.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def jobs(self) -> list[ServiceJob]:
        """Every stored job, in submission order."""
        # An upsert keeps a row's rowid, so rowid order is the order the jobs were first written in.
        rows = self._db.execute("SELECT record FROM jobs ORDER BY rowid").fetchall()
        return [ServiceJob.from_record(json.loads(record)) for (record,) in rows]

    def next_id_block(self) -> int:
        """A number no earlier caller on this file was given (0, 1, 2, ...), committed before it returns."""
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'id_block'").fetchone()
            block = 0 if row is None else int(row[0]) + 1
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('id_block', ?)", (block,))
        return block

    def write(self, jobs: Iterable[dict[str, Any]], events: Sequence[StoredEvent]) -> None:
        """Save ``jobs`` (whole records, as :meth:`ServiceJob.record` gives them) and append ``events``,
        in one transaction."""
        rows = [(job["id"], json.dumps(job), job["finished_at"]) for job in jobs]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO jobs (id, record, finished_at) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET record = excluded.record, finished_at = excluded.finished_at",
                rows,
            )
            self._db.executemany(
                "INSERT INTO events (id, job, kind, data) VALUES (?, ?, ?, ?)",
                [(event.id, event.job, event.kind, event.data) for event in events],
            )

    def events(self, *, job: str | None = None, after: int = 0, limit: int = 10_000) -> list[StoredEvent]:
        """The stored events with an id above ``after`` (of ``job``, or of every job), oldest first,
        at most ``limit`` of them."""
        if job is None:
            query, args = "SELECT id, job, kind, data FROM events WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        else:
            query = "SELECT id, job, kind, data FROM events WHERE job = ? AND id > ? ORDER BY id LIMIT ?"
            args = (job, after, limit)  # type: ignore[assignment]
        return [StoredEvent(*row) for row in self._db.execute(query, args)]

    def delete(self, job_ids: Sequence[str]) -> None:
        """Forget these jobs and their events."""
        with self._transaction():
            for job_id in job_ids:
                self._db.execute("DELETE FROM events WHERE job = ?", (job_id,))
                self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def _transaction(self) -> Any:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` on an error (the connection is in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
