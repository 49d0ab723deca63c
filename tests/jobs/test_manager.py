"""JobManager: the concurrency limit, cancel, resume, failures, bounded history, following a job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from trainer.callbacks import Callback
from trainer.callbacks.backup_and_restore import BACKUP_FILE
from trainer.events import EpochBegin, EpochEnd, TrainBatchEnd
from trainer.jobs import (
    JobLimitError,
    JobManager,
    JobStateError,
    JobStatus,
    JobStatusChanged,
    TrainingSpec,
    UnknownJobError,
)

from .specs import CountBatches, FailAt, WaitForBackup, spec_builder

pytestmark = pytest.mark.anyio


def statuses(job_history: list[object]) -> list[str]:
    return [event.status.value for event in job_history if isinstance(event, JobStatusChanged)]


def epochs_ended(job_history: list[object]) -> list[int]:
    return [event.epoch for event in job_history if isinstance(event, EpochEnd)]


async def test_a_job_completes_and_keeps_its_epoch_level_history() -> None:
    async with JobManager() as jobs:
        job = jobs.submit(spec_builder(epochs=3), name="small")
        assert job.status is JobStatus.QUEUED and jobs.get(job.id) is job and jobs.list() == [job]
        assert await job.wait() is JobStatus.COMPLETED
    history = job.history()
    assert statuses(history) == ["queued", "running", "completed"]
    assert epochs_ended(history) == [0, 1, 2]
    assert not any(isinstance(event, TrainBatchEnd) for event in history)
    assert job.epoch == 2 and "loss" in job.logs and job.error is None and job.attempts == 1


async def test_at_most_max_concurrent_jobs_train_at_once() -> None:
    running, most = set(), 0

    def track(event: JobStatusChanged) -> None:
        nonlocal most
        if event.status is JobStatus.RUNNING:
            running.add(event.run)
        else:
            running.discard(event.run)
        most = max(most, len(running))

    async with JobManager(max_concurrent=2) as jobs:
        jobs.bus.subscribe(JobStatusChanged, track)
        submitted = [jobs.submit(spec_builder(epochs=2)) for _ in range(5)]
        await anyio.lowlevel.checkpoint()
        assert [job.status for job in submitted].count(JobStatus.QUEUED) >= 3
        assert [await job.wait() for job in submitted] == [JobStatus.COMPLETED] * 5
    assert most == 2


async def test_cancel_stops_a_running_job_within_one_step_and_keeps_its_backup(tmp_path: Path) -> None:
    counter = CountBatches(at=(2, 3))
    async with JobManager(workdir=tmp_path) as jobs:
        job = jobs.submit(spec_builder(epochs=50, callbacks=[counter]))
        await counter.reached.wait()
        batches_at_cancel = counter.batches
        assert await jobs.cancel(job.id) is job
        assert job.status is JobStatus.CANCELLED and job.error is None
        assert counter.batches - batches_at_cancel <= 1
        assert statuses(job.history())[-1] == "cancelled"
        assert (tmp_path / job.id / BACKUP_FILE).exists()
        assert await jobs.cancel(job.id) is job  # cancelling again changes nothing


async def test_cancel_stops_a_job_whose_inline_callback_hangs() -> None:
    entered = anyio.Event()

    class Hangs(Callback):
        delivery = "inline"

        async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            entered.set()
            with anyio.move_on_after(30):  # a server that does not answer (finite: a regression fails, never hangs)
                await anyio.sleep_forever()

    async with JobManager() as jobs:
        job = jobs.submit(spec_builder(epochs=50, callbacks=[Hangs()]))
        await entered.wait()
        with anyio.fail_after(10):
            assert await jobs.cancel(job.id) is job
        assert job.status is JobStatus.CANCELLED
        assert not [event for event in job.history() if isinstance(event, EpochEnd)]  # stopped in its first epoch


async def test_cancel_a_queued_job_before_it_starts() -> None:
    started = CountBatches(at=(0, 0))
    async with JobManager(max_concurrent=1) as jobs:
        first = jobs.submit(spec_builder(epochs=3, callbacks=[started]))
        await started.reached.wait()
        second = jobs.submit(spec_builder(epochs=3))
        await jobs.cancel(second.id)
        assert second.status is JobStatus.CANCELLED and second.started_at is None
        assert statuses(second.history()) == ["queued", "cancelled"]
        assert await first.wait() is JobStatus.COMPLETED


async def test_a_resumed_job_continues_from_its_last_backed_up_epoch(tmp_path: Path) -> None:
    gate = WaitForBackup(epoch=3, workdir=tmp_path)
    builds = [spec_builder(epochs=6, callbacks=[gate]), spec_builder(epochs=6)]

    def build() -> TrainingSpec:
        return builds.pop(0)()  # the second run is built without the gate

    async with JobManager(workdir=tmp_path) as jobs:
        job = jobs.submit(build)
        await gate.reached.wait()
        await jobs.cancel(job.id)
        assert job.epoch == 2
        first_run = len(job.history())
        assert jobs.resume(job.id) is job and job.status is JobStatus.QUEUED and job.attempts == 2
        assert await job.wait() is JobStatus.COMPLETED
    second_run = job.history()[first_run:]
    assert [e.epoch for e in second_run if isinstance(e, EpochBegin)] == [3, 4, 5]
    assert epochs_ended(job.history()) == [0, 1, 2, 3, 4, 5]
    assert statuses(job.history()) == ["queued", "running", "cancelled", "queued", "running", "completed"]
    assert [e.attempt for e in job.history() if isinstance(e, JobStatusChanged)] == [1, 1, 1, 2, 2, 2]
    assert not (tmp_path / job.id).exists()  # a completed job's backup is removed


async def test_a_failing_job_says_failed_with_the_error_and_others_go_on(tmp_path: Path) -> None:
    def broken_build() -> TrainingSpec:
        raise ValueError("no such data set")

    async with JobManager(workdir=tmp_path) as jobs:
        failing = jobs.submit(spec_builder(epochs=5, callbacks=[FailAt(epoch=1)]))
        unbuildable = jobs.submit(broken_build)
        healthy = jobs.submit(spec_builder(epochs=3))
        assert await failing.wait() is JobStatus.FAILED
        assert await unbuildable.wait() is JobStatus.FAILED
        assert await healthy.wait() is JobStatus.COMPLETED
    assert "RuntimeError: boom at epoch 1" in (failing.error or "")
    assert unbuildable.error == "ValueError: no such data set"
    last = failing.history()[-1]
    assert isinstance(last, JobStatusChanged) and last.error == failing.error


async def test_a_failed_job_can_be_resumed_from_its_backup(tmp_path: Path) -> None:
    runs = [spec_builder(epochs=4, callbacks=[FailAt(epoch=2)]), spec_builder(epochs=4)]
    async with JobManager(workdir=tmp_path) as jobs:
        job = jobs.submit(lambda: runs.pop(0)())
        assert await job.wait() is JobStatus.FAILED
        first_run = len(job.history())
        jobs.resume(job.id)
        assert await job.wait() is JobStatus.COMPLETED and job.error is None
    assert statuses(job.history()) == ["queued", "running", "failed", "queued", "running", "completed"]
    resumed_at = [e.epoch for e in job.history()[first_run:] if isinstance(e, EpochBegin)]
    assert 1 <= resumed_at[0] <= 3 and resumed_at[-1] == 3  # the last backup written before the failure


async def test_the_history_is_bounded_and_can_hold_batch_events() -> None:
    async with JobManager(history=5) as jobs:
        short = jobs.submit(spec_builder(epochs=4))
        await short.wait()
    assert len(short.history()) == 5 and statuses(short.history())[-1] == "completed"
    async with JobManager(history=1000, history_level="batch") as jobs:
        detailed = jobs.submit(spec_builder(epochs=2))
        await detailed.wait()
    assert sum(isinstance(event, TrainBatchEnd) for event in detailed.history()) == 2 * 8


async def test_a_late_follower_gets_the_history_then_the_rest_and_the_stream_ends() -> None:
    counter = CountBatches(at=(1, 2))
    async with JobManager() as jobs:
        job = jobs.submit(spec_builder(epochs=4, callbacks=[counter]))
        await counter.reached.wait()
        async with jobs.follow(job.id) as events:
            seen = [event async for event in events]
        after = [event async for event in jobs.follow(job.id)]  # finished: the history alone
    assert epochs_ended(seen) == [0, 1, 2, 3]
    assert statuses(seen) == ["queued", "running", "completed"]
    assert seen == after


async def test_reading_in_batches_gives_what_iterating_gives() -> None:
    counter = CountBatches(at=(1, 2))
    async with JobManager() as jobs:
        job = jobs.submit(spec_builder(epochs=4, callbacks=[counter]))
        await counter.reached.wait()
        batched, batches = [], 0
        async with jobs.follow(job.id) as events:
            while True:
                try:
                    batched += await events.receive_batch()
                except anyio.EndOfStream:
                    break
                batches += 1
        iterated = [event async for event in jobs.follow(job.id)]
    assert batches < len(batched)  # the history came in one read
    assert batched == iterated
    assert epochs_ended(batched) == [0, 1, 2, 3] and statuses(batched)[-1] == "completed"


async def test_a_follower_that_never_reads_does_not_hold_training() -> None:
    async with JobManager(max_concurrent=2) as jobs:
        first = jobs.submit(spec_builder(epochs=30))
        stalled = jobs.follow(first.id, level="batch", maxsize=16)
        second = jobs.submit(spec_builder(epochs=3))
        assert await first.wait() is JobStatus.COMPLETED
        assert await second.wait() is JobStatus.COMPLETED
        assert stalled._live.subscription.stats.queued <= 16
        await stalled.aclose()


async def test_past_keep_finished_the_first_to_finish_is_forgotten_with_its_backup(tmp_path: Path) -> None:
    async with JobManager(workdir=tmp_path, max_concurrent=2, keep_finished=1) as jobs:
        long = jobs.submit(spec_builder(epochs=400))
        first = jobs.submit(spec_builder(epochs=1), info={"asked": "first"})
        assert first.info == {"asked": "first"}
        await first.wait()
        second = jobs.submit(spec_builder(epochs=1))
        await second.wait()
        assert jobs.list() == [long, second]  # the running job stays, however many finish
        with pytest.raises(UnknownJobError):
            jobs.get(first.id)
        await jobs.cancel(long.id)
        assert jobs.list() == [long]  # the newest to finish is kept, with its backup
        jobs.resume(long.id)
        await jobs.cancel(long.id)
    assert sorted(path.name for path in tmp_path.iterdir()) == [long.id]


async def test_a_forgotten_cancelled_job_loses_its_backup_and_a_resumed_one_is_never_forgotten(tmp_path: Path) -> None:
    async with JobManager(workdir=tmp_path, max_concurrent=2, keep_finished=1) as jobs:
        backed_up = WaitForBackup(epoch=1, workdir=tmp_path)
        resumed = jobs.submit(spec_builder(epochs=400, callbacks=[backed_up]))
        await backed_up.reached.wait()  # the only job so far: the backup is its own
        cancelled = jobs.submit(spec_builder(epochs=400))
        await jobs.cancel(cancelled.id)
        (tmp_path / cancelled.id).mkdir(exist_ok=True)
        (tmp_path / cancelled.id / "kept.txt").write_text("what a cancelled job keeps")
        await jobs.cancel(resumed.id)  # finished after it: kept, and the cancelled one forgotten
        assert jobs.list() == [resumed] and not (tmp_path / cancelled.id).exists()
        jobs.resume(resumed.id)  # running again: no longer counted among the finished
        done = jobs.submit(spec_builder(epochs=1))
        await done.wait()
        assert jobs.list() == [resumed, done]
        assert (tmp_path / resumed.id / BACKUP_FILE).is_file()
        await jobs.cancel(resumed.id)


async def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        JobManager(max_concurrent=0)
    with pytest.raises(ValueError, match="keep_finished must be a positive integer; got 0"):
        JobManager(keep_finished=0)
    with pytest.raises(ValueError, match="compute_slots must be a positive integer, or None for no turns; got 0"):
        JobManager(compute_slots=0)
    with pytest.raises(ValueError, match="bus, run_id"):
        spec_builder(epochs=1, run_id="mine")()
    async with JobManager(max_concurrent=1, max_queued=2) as jobs:
        with pytest.raises(UnknownJobError, match="unknown job 'nope'") as unknown:
            jobs.get("nope")
        assert isinstance(unknown.value, KeyError)
        with pytest.raises(TypeError, match="info must be a mapping"):
            jobs.submit(spec_builder(epochs=1), info="epochs=1")  # type: ignore[arg-type]
        running = jobs.submit(spec_builder(epochs=20))
        jobs.submit(spec_builder(epochs=1))
        with pytest.raises(JobLimitError):
            jobs.submit(spec_builder(epochs=1))
        with pytest.raises(JobStateError, match="is queued; only a cancelled or failed job can be resumed"):
            jobs.resume(running.id)
        with pytest.raises(ValueError, match="maxsize"):
            jobs.follow(running.id, maxsize=4)
        await jobs.cancel(running.id)
        done = jobs.list()[1]
        await done.wait()
        with pytest.raises(JobStateError, match="has completed"):
            await jobs.cancel(done.id)
        with pytest.raises(JobStateError, match="is completed"):
            jobs.resume(done.id)


async def test_leaving_the_manager_cancels_what_is_still_running() -> None:
    async with JobManager(max_concurrent=1) as jobs:
        both = [jobs.submit(spec_builder(epochs=200)) for _ in range(2)]
        await anyio.sleep(0.05)
        assert sorted(job.status.value for job in both) == ["queued", "running"]
    assert [job.status for job in both] == [JobStatus.CANCELLED] * 2
