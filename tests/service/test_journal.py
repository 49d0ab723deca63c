"""The journal numbers events, serves readers from memory or the database alike, and bounds what waits."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import anyio.from_thread
import pytest

from trainer.events import EpochEnd
from trainer.jobs import JobStatus, JobStatusChanged
from trainer.service import journal as journal_module
from trainer.service.journal import Journal
from trainer.service.records import ServiceJob
from trainer.service.store import JobStore

pytestmark = pytest.mark.anyio


def opened(path: Path, **options: float) -> Journal:
    journal = Journal(JobStore(path / "service.sqlite3"), **options)  # type: ignore[arg-type]
    for job_id in ("a", "b"):
        journal.save(ServiceJob(job_id, job_id, "mlp", {"epochs": 3}))
    return journal


async def test_events_are_numbered_in_order_and_applied_to_their_jobs(tmp_path: Path) -> None:
    journal = opened(tmp_path)
    await journal.record(JobStatusChanged("a", JobStatus.RUNNING, 1))
    await journal.record(EpochEnd(run="b", logs={"loss": 0.5}, epoch=0))
    await journal.record(EpochEnd(run="a", logs={"loss": 0.25}, epoch=0))
    await journal.record(EpochEnd(run="stranger", logs={}, epoch=0))  # no job of the service: not kept
    events, seen = await journal.read()
    assert [(e.id, e.job, e.kind) for e in events] == [(1, "a", "JobStatusChanged"), (2, "b", "EpochEnd"), (3, "a", "EpochEnd")]
    assert seen == 3 and [e.id for e in (await journal.read(job="a", after=1))[0]] == [3]
    assert journal.jobs["a"].status is JobStatus.RUNNING and journal.jobs["a"].logs == {"loss": 0.25}


async def test_what_the_database_holds_reads_the_same_as_what_is_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal_module, "_IN_MEMORY", 4)
    journal = opened(tmp_path)
    for epoch in range(10):
        await journal.record(EpochEnd(run="ab"[epoch % 2], logs={"epoch": epoch}, epoch=epoch))
        if epoch % 3 == 2:
            await journal.flush()  # commits, and lets the oldest committed ones go from memory
    everything, _ = await journal.read()
    assert [e.id for e in everything] == list(range(1, 11))
    assert [e.id for e in (await journal.read(job="b", after=2))[0]] == [4, 6, 8, 10]
    assert (await journal.read(limit=3)) == (everything[:3], 3)
    await journal.flush()
    again = Journal(JobStore(tmp_path / "service.sqlite3"))  # a new process on the same file
    assert (await again.read())[0] == everything and again.jobs["b"].epoch == 9


async def test_a_new_process_numbers_above_every_id_an_earlier_one_gave(tmp_path: Path) -> None:
    first = opened(tmp_path)
    await first.record(EpochEnd(run="a", logs={}, epoch=0))
    await first.flush()
    await first.record(EpochEnd(run="a", logs={}, epoch=1))  # id 2, seen by a client, never committed
    killed = Journal(JobStore(tmp_path / "service.sqlite3"))
    await killed.record(EpochEnd(run="a", logs={}, epoch=1))
    events, _ = await killed.read(after=2)  # what the client that saw id 2 asks for
    assert [(e.id > 2, e.kind) for e in events] == [(True, "EpochEnd")]
    await killed.flush()
    assert [e.id for e in (await Journal(JobStore(tmp_path / "service.sqlite3")).read())[0]] == [1, events[0].id]


async def test_a_full_journal_holds_the_publisher_until_it_is_written(tmp_path: Path) -> None:
    journal = opened(tmp_path, max_pending=2)
    await journal.record(EpochEnd(run="a", logs={}, epoch=0))
    await journal.record(EpochEnd(run="a", logs={}, epoch=1))
    third_recorded = anyio.Event()

    async def third() -> None:
        await journal.record(EpochEnd(run="a", logs={}, epoch=2))
        third_recorded.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(third)
        await anyio.sleep(0.05)
        assert not third_recorded.is_set()  # two wait to be written: the third waits too
        await journal.flush()
        await third_recorded.wait()
    assert journal.last_id == 3


async def test_a_cancelled_writer_commits_what_was_pending(tmp_path: Path) -> None:
    journal = opened(tmp_path, flush_seconds=3600)
    async with anyio.create_task_group() as tg:
        tg.start_soon(journal.run_writer)
        await journal.record(EpochEnd(run="a", logs={"loss": 1.0}, epoch=0))
        await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert [e.kind for e in JobStore(tmp_path / "service.sqlite3").events()] == ["EpochEnd"]


async def test_what_is_recorded_while_a_batch_is_written_is_written_next(tmp_path: Path) -> None:
    journal = opened(tmp_path, flush_seconds=0.01)
    write, writing = journal.store.write, anyio.Event()

    def slow_write(*arguments: object) -> None:
        write(*arguments)  # type: ignore[arg-type]
        anyio.from_thread.run_sync(writing.set)
        time.sleep(0.2)

    journal.store.write = slow_write  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(journal.run_writer)
        with anyio.fail_after(10):
            await writing.wait()  # the first batch (jobs a and b) is being written
        journal.jobs["a"].status = JobStatus.COMPLETED
        journal.save(journal.jobs["a"])  # and nothing else happens after it
        with anyio.fail_after(10):
            while JobStore(tmp_path / "service.sqlite3").jobs()[0].status is not JobStatus.COMPLETED:
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()


async def test_ids_stay_above_every_earlier_one_when_retention_emptied_the_store(tmp_path: Path) -> None:
    first = opened(tmp_path)
    await first.record(EpochEnd(run="a", logs={}, epoch=0))
    await first.flush()
    seen = first.last_id
    await first.forget(["a", "b"])  # every job and event gone
    later = opened(tmp_path)
    await later.record(EpochEnd(run="a", logs={}, epoch=0))
    assert later.last_id > seen
