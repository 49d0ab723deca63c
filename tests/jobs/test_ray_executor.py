"""The Ray executor on a real local Ray: events in order, cancel and resume, a killed worker, loopback only."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from types import ModuleType

import anyio
import numpy as np
import psutil
import pytest

from trainer import saving
from trainer.callbacks.backup_and_restore import BACKUP_FILE
from trainer.events import LIFECYCLE_EVENTS, EpochBegin, EpochEnd, LifecycleEvent, TrainBatchBegin, TrainBatchEnd, TrainBegin, TrainEnd
from trainer.jobs import JobManager, JobStatus, JobStatusChanged, RayExecutor, job_record
from trainer.jobs.ray_worker import JobWorker

from ..callbacks.training_run import build_model
from .specs import BATCH_SIZE, NODE_LOSS_EPOCHS, SAMPLES, remote_spec

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("local_ray")]

STEPS = SAMPLES // BATCH_SIZE


def lifecycle(epochs: int) -> list[tuple[str, int | None]]:
    """What one run of ``epochs`` epochs publishes, in order: (event, epoch or batch)."""
    expected: list[tuple[str, int | None]] = [("TrainBegin", None)]
    for epoch in range(epochs):
        expected.append(("EpochBegin", epoch))
        for batch in range(STEPS):
            expected += [("TrainBatchBegin", batch), ("TrainBatchEnd", batch)]
        expected.append(("EpochEnd", epoch))
    return [*expected, ("TrainEnd", None)]


def index_of(event: LifecycleEvent) -> int | None:
    return getattr(event, "epoch", getattr(event, "batch", None))


def statuses(history: list[object]) -> list[str]:
    return [event.status.value for event in history if isinstance(event, JobStatusChanged)]


async def epoch_ended(jobs: JobManager, job_id: str, epoch: int) -> None:
    """Wait until the job's epoch ``epoch`` has ended, as the manager's bus tells it."""
    async with jobs.bus.stream(EpochEnd, where=lambda event: event.run == job_id) as ends:
        if jobs.get(job_id).epoch is not None and jobs.get(job_id).epoch >= epoch:  # type: ignore[operator]
            return
        async for end in ends:
            if end.epoch >= epoch:
                return


async def test_three_jobs_complete_each_in_a_worker_of_its_own_every_event_in_order() -> None:
    seen: dict[str, list[tuple[str, int | None]]] = {}

    def record(event: LifecycleEvent) -> None:
        seen.setdefault(event.run, []).append((type(event).__name__, index_of(event)))

    async with JobManager(max_concurrent=3, executor=RayExecutor(num_cpus_per_job=0.5)) as jobs:
        jobs.bus.subscribe(LifecycleEvent, record)
        submitted = [jobs.submit(partial(remote_spec, epochs=3)) for _ in range(3)]
        assert [await job.wait() for job in submitted] == [JobStatus.COMPLETED] * 3
    for job in submitted:
        assert seen[job.id] == lifecycle(3)
        assert statuses(job.history()) == ["queued", "running", "completed"]
        assert [e.epoch for e in job.history() if isinstance(e, EpochEnd)] == [0, 1, 2]
        assert job.epoch == 2 and "loss" in job.logs and "accuracy" in job.logs
        record_ = job_record(job)
        assert record_["worker"]["pid"] != os.getpid() and isinstance(record_["worker"]["host"], str)
    assert len({job.worker["pid"] for job in submitted if job.worker}) == 3


async def test_events_arrive_typed_with_their_logs() -> None:
    arrived: list[LifecycleEvent] = []
    async with JobManager(executor=RayExecutor()) as jobs:
        jobs.bus.subscribe((TrainBegin, TrainBatchBegin, TrainBatchEnd, EpochEnd, TrainEnd), arrived.append)
        job = jobs.submit(partial(remote_spec, epochs=1))
        assert await job.wait() is JobStatus.COMPLETED
    assert all(event.run == job.id for event in arrived)
    ends = [event for event in arrived if isinstance(event, TrainBatchEnd)]
    assert [event.batch for event in ends] == list(range(STEPS))
    assert all(isinstance(event.logs["loss"], float) and event.logs["loss"] > 0 for event in ends)
    assert isinstance(arrived[-1], TrainEnd) and arrived[-1].logs == arrived[-2].logs


async def test_a_subscriber_that_comes_mid_run_gets_the_kinds_it_takes_from_then_on() -> None:
    seen: list[tuple[str, int | None]] = []
    async with JobManager(executor=RayExecutor()) as jobs:
        job = jobs.submit(partial(remote_spec, epochs=12, pace=0.01))
        await epoch_ended(jobs, job.id, 1)  # till then the worker made no TrainBatchBegin: nobody took it
        jobs.bus.subscribe((EpochBegin, TrainBatchBegin), lambda e: seen.append((type(e).__name__, index_of(e))))
        assert await job.wait() is JobStatus.COMPLETED
    whole = [entry for entry in lifecycle(12) if entry[0] in ("EpochBegin", "TrainBatchBegin")]
    # The worker hears of it with its next list, its compute thread at its next step: in the epoch
    # after, every batch's comes, in order, to the end.
    heard = next(index for index, entry in enumerate(seen) if entry[0] == "TrainBatchBegin")
    first = next(index for index in range(heard, len(seen)) if seen[index][0] == "EpochBegin")
    assert seen[first][1] is not None and seen[first][1] < 11
    assert seen[first:] == whole[whole.index(seen[first]) :]


async def test_cancel_stops_the_remote_job_and_resume_finishes_it_from_its_backup(tmp_path: Path) -> None:
    async with JobManager(workdir=tmp_path, executor=RayExecutor()) as jobs:
        job = jobs.submit(partial(remote_spec, epochs=60, pace=0.01))
        await epoch_ended(jobs, job.id, 1)
        assert await jobs.cancel(job.id) is job
        assert job.status is JobStatus.CANCELLED and job.error is None
        stopped_after = job.epoch
        assert stopped_after is not None and stopped_after < 59
        state, _ = saving.load_backup(build_model(dropout=0.25), tmp_path / job.id / BACKUP_FILE)
        resume_at = int(state["epoch"])
        assert resume_at == stopped_after + 1  # every epoch the worker ended reached the manager
        first_run = len(job.history())
        jobs.resume(job.id)
        assert await job.wait() is JobStatus.COMPLETED
    second_run = job.history()[first_run:]
    assert [e.epoch for e in second_run if isinstance(e, EpochBegin)][0] == resume_at
    assert [e.epoch for e in job.history() if isinstance(e, EpochEnd)] == list(range(60))
    assert statuses(job.history()) == ["queued", "running", "cancelled", "queued", "running", "completed"]


async def test_a_failure_in_the_worker_fails_the_job_with_its_error(tmp_path: Path) -> None:
    async with JobManager(workdir=tmp_path, executor=RayExecutor()) as jobs:
        job = jobs.submit(partial(remote_spec, epochs=4, fail_at=1))
        assert await job.wait() is JobStatus.FAILED
    assert job.error == "RuntimeError: boom at epoch 1"
    assert [e.epoch for e in job.history() if isinstance(e, EpochEnd)][:1] == [0]


async def test_a_killed_worker_fails_its_job_others_go_on_and_resume_ends_as_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    epochs = 12
    uninterrupted = str(tmp_path / "uninterrupted.weights.npz")
    async with JobManager() as in_process:  # the same build, never stopped
        reference = in_process.submit(partial(remote_spec, epochs=epochs, weights_to=uninterrupted))
        assert await reference.wait() is JobStatus.COMPLETED

    resumed = str(tmp_path / "resumed.weights.npz")
    executor = RayExecutor(num_cpus_per_job=0.5)
    async with JobManager(workdir=tmp_path / "work", max_concurrent=3, executor=executor) as jobs:
        victim = jobs.submit(partial(remote_spec, epochs=epochs, pace=0.01, weights_to=resumed))
        others = [jobs.submit(partial(remote_spec, epochs=4, pace=0.005)) for _ in range(2)]
        await epoch_ended(jobs, victim.id, 1)
        assert victim.worker is not None
        os.kill(victim.worker["pid"], signal.SIGKILL)
        with anyio.fail_after(30):
            assert await victim.wait() is JobStatus.FAILED
        assert victim.error is not None and "WorkerDiedError" in victim.error and "died" in victim.error
        assert str(victim.worker["pid"]) in victim.error
        assert [await job.wait() for job in others] == [JobStatus.COMPLETED] * 2
        jobs.resume(victim.id)
        assert await victim.wait() is JobStatus.COMPLETED
    assert statuses(victim.history()) == ["queued", "running", "failed", "queued", "running", "completed"]
    model = build_model(dropout=0.25)
    saving.load_weights(model, uninterrupted)
    expected = model.get_weights()
    saving.load_weights(model, resumed)
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def test_the_ray_the_tests_started_listens_and_connects_on_loopback_only(local_ray: ModuleType) -> None:
    # Every process of the Ray this session started, with what it has open; Ray's short-lived
    # helpers may exit while they are read, and are left out.
    seen = []
    for process in psutil.Process().children(recursive=True):
        try:
            seen.append((process.name(), process.net_connections(kind="inet")))
        except psutil.NoSuchProcess:
            continue
    names = {name for name, _ in seen}
    assert any("gcs_server" in name for name in names) and any("raylet" in name for name in names), names
    listening, connected = [], []
    for name, connections in seen:
        for connection in connections:
            if connection.status == psutil.CONN_LISTEN:
                listening.append((name, connection.laddr.ip, connection.laddr.port))
            elif connection.raddr:
                connected.append((name, connection.raddr.ip, connection.raddr.port))
    assert len(listening) >= 3  # the GCS, the raylet, the object manager at least
    assert [entry for entry in listening if not is_loopback(entry[1])] == []
    assert [entry for entry in connected if not is_loopback(entry[1])] == []


async def backed_up_epoch(backup: Path) -> int | None:
    while True:
        try:
            state, _ = await anyio.to_thread.run_sync(saving.load_backup, build_model(dropout=0.25), backup)
        except FileNotFoundError:
            return None
        except ValueError:  # read while the worker replaced it: read the new one
            await anyio.sleep(0.01)
            continue
        return int(state["epoch"])


async def test_a_manager_that_stops_reading_makes_the_worker_wait(tmp_path: Path) -> None:
    gate = anyio.Event()

    async def hold(event: TrainBatchEnd) -> None:
        await gate.wait()  # inline: the manager's bus takes nothing more from the worker meanwhile

    # What may wait between the worker's compute thread and the manager, in events: the run's
    # forwarding queue (1024) and thread handoff (256), then its stream (maxsize), its unread
    # backlog, and one list of at most maxsize on its way. Of an epoch's events only those the
    # manager's bus has subscribers for are made: its begin and end and its batches' ends.
    bound = 1024 + 256 + 3 * 16
    per_epoch = 2 + STEPS
    async with JobManager(workdir=tmp_path, executor=RayExecutor(backlog=16, maxsize=16)) as jobs:
        subscription = jobs.bus.subscribe(TrainBatchEnd, hold, mode="inline")
        job = jobs.submit(partial(remote_spec, epochs=1000))
        backup = tmp_path / job.id / BACKUP_FILE
        with anyio.fail_after(60):  # the worker's backups stop advancing: it waits for the manager
            stalled, since = None, anyio.current_time()
            while stalled is None or anyio.current_time() - since < 1.0:
                epoch = await backed_up_epoch(backup)
                if epoch != stalled:
                    stalled, since = epoch, anyio.current_time()
                await anyio.sleep(0.1)
        assert stalled is not None and stalled <= bound // per_epoch + 2  # of 1000 epochs
        assert job.status is JobStatus.RUNNING
        subscription.close()
        gate.set()
        await epoch_ended(jobs, job.id, stalled + 5)  # reading again, the manager lets it go on
        await jobs.cancel(job.id)
    ended = [e.epoch for e in job.history() if isinstance(e, EpochEnd)]
    assert ended == list(range(len(ended)))  # nothing lost while it waited


def test_a_job_whose_node_is_lost_fails_and_resumes_on_another_node_to_the_same_weights(tmp_path: Path) -> None:
    # Its own process: a two-node cluster (ray.cluster_utils), and this session has a Ray already.
    command = [sys.executable, "-m", "tests.jobs.two_nodes", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=170, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["failed"] == "failed" and outcome["resumed"] == "completed"
    assert "WorkerDiedError" in outcome["error"] and "died" in outcome["error"]
    assert outcome["first_raylet"] == outcome["first_node_raylet"] != outcome["second_raylet"]  # another node
    assert outcome["resumed_at"] >= 2  # from the backup, not from the start

    async def uninterrupted(weights: str) -> None:
        async with JobManager(workdir=tmp_path / "reference") as jobs:
            job = jobs.submit(partial(remote_spec, epochs=NODE_LOSS_EPOCHS, weights_to=weights))
            assert await job.wait() is JobStatus.COMPLETED

    reference = str(tmp_path / "uninterrupted.weights.npz")
    anyio.run(uninterrupted, reference)
    model = build_model(dropout=0.25)
    saving.load_weights(model, reference)
    expected = model.get_weights()
    saving.load_weights(model, outcome["weights"])
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_array_equal(got, want)


async def test_a_job_to_attach_to_whose_actor_is_gone_trains_anew_as_a_new_attempt(tmp_path: Path) -> None:
    async with JobManager(workdir=tmp_path, executor=RayExecutor(namespace="tests-attach")) as jobs:
        job = jobs.submit(partial(remote_spec, epochs=2), job_id="gone", attempts=3, attach_after=5)
        assert await job.wait() is JobStatus.COMPLETED
    assert job.attempts == 4
    assert [(e.status.value, e.attempt) for e in job.history() if isinstance(e, JobStatusChanged)] == [
        ("queued", 4), ("running", 4), ("completed", 4)
    ]
    assert [e.epoch for e in job.history() if isinstance(e, EpochEnd)] == [0, 1]


def test_a_detached_worker_nobody_reads_from_stops_its_run_keeping_its_backup_and_ends(
    local_ray: ModuleType, tmp_path: Path
) -> None:
    ray = local_ray
    name, namespace = "trainer-job-orphan", "tests-orphan"
    actor = ray.remote(JobWorker).options(name=name, namespace=namespace, lifetime="detached", num_cpus=0.5).remote(1.0)
    every_kind = frozenset(range(len(LIFECYCLE_EVENTS)))
    ray.get(actor.start.remote(partial(remote_spec, epochs=100_000), "orphan", str(tmp_path), every_kind,
                               maxsize=16, backlog=16, replay=4, flush_seconds=0.01))  # fmt: skip
    pid = ray.get(actor.where.remote())["pid"]
    worker = psutil.Process(pid)
    for _ in range(600):  # up to 60 s: a bound for a hung test, not a speed check
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:  # no actor of that name any more
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the orphaned worker still lives after 60 s")
    assert (tmp_path / BACKUP_FILE).exists()  # stopped as a cancellation stops: its backup kept
    with contextlib.suppress(psutil.NoSuchProcess):
        worker.wait(timeout=30)
