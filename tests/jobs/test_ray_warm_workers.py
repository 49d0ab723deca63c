"""Warm Ray workers on a real local Ray: up before a job comes, kept between runs, never a cause of waiting."""

from __future__ import annotations

import os
import signal
from functools import partial
from pathlib import Path
from types import ModuleType

import anyio
import numpy as np
import psutil
import pytest

from trainer import saving
from trainer.events import LIFECYCLE_EVENTS, LifecycleEvent
from trainer.jobs import JobManager, JobStatus, RayExecutor
from trainer.jobs.event_packing import unpack_events
from trainer.jobs.ray_worker import JobWorker

from ..callbacks.training_run import build_model
from .conftest import RAY_CPUS
from .specs import remote_spec
from .test_ray_executor import epoch_ended, index_of, lifecycle

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("local_ray")]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def ended(pid: int) -> bool:
    """Whether process ``pid`` ends within 30 s (Ray ends a killed actor's process soon after)."""
    with anyio.move_on_after(30):
        while alive(pid):
            await anyio.sleep(0.05)
        return True
    return False


def weights_of(path: str) -> list[np.ndarray]:
    model = build_model(dropout=0.25)
    saving.load_weights(model, path)
    return model.get_weights()


async def test_a_warm_worker_is_up_before_the_job_and_runs_one_job_after_another(tmp_path: Path) -> None:
    seen: dict[str, list[tuple[str, int | None]]] = {}

    def record(event: LifecycleEvent) -> None:
        seen.setdefault(event.run, []).append((type(event).__name__, index_of(event)))

    async with JobManager(max_concurrent=1) as in_process:  # the reference: the same build, in a process of its own making
        reference = in_process.submit(partial(remote_spec, epochs=3, weights_to=str(tmp_path / "reference.weights.npz")))
        assert await reference.wait() is JobStatus.COMPLETED

    executor = RayExecutor(num_cpus_per_job=0.5, warm_workers=1)
    async with JobManager(workdir=tmp_path / "work", max_concurrent=1, executor=executor) as jobs:
        jobs.bus.subscribe(LifecycleEvent, record)
        [warm] = executor.idle_workers  # up as the executor was entered, before any job
        failing = jobs.submit(partial(remote_spec, epochs=3, fail_at=1))
        assert await failing.wait() is JobStatus.FAILED and failing.error == "RuntimeError: boom at epoch 1"
        second = jobs.submit(partial(remote_spec, epochs=3, weights_to=str(tmp_path / "second.weights.npz")))
        assert await second.wait() is JobStatus.COMPLETED
        assert failing.worker == warm and second.worker == warm  # the job's own failure spares its worker
        assert executor.idle_workers == [warm]
        pid = warm["pid"]
    assert seen[second.id] == lifecycle(3)  # the second run's events are its own, from its first
    for got, want in zip(weights_of(str(tmp_path / "second.weights.npz")), weights_of(str(tmp_path / "reference.weights.npz")), strict=True):
        np.testing.assert_array_equal(got, want)  # nothing of the first run leaked into it
    assert await ended(pid)  # leaving the executor ends its idle workers


async def test_without_warm_workers_every_run_has_a_process_of_its_own() -> None:
    async with JobManager(max_concurrent=1, executor=RayExecutor(num_cpus_per_job=0.5)) as jobs:
        first = jobs.submit(partial(remote_spec, epochs=1))
        assert await first.wait() is JobStatus.COMPLETED
        second = jobs.submit(partial(remote_spec, epochs=1))
        assert await second.wait() is JobStatus.COMPLETED
    assert first.worker is not None and second.worker is not None
    assert first.worker["pid"] != second.worker["pid"]
    assert await ended(first.worker["pid"])


async def test_a_cancelled_runs_worker_is_not_kept(tmp_path: Path) -> None:
    async with JobManager(workdir=tmp_path, executor=RayExecutor(num_cpus_per_job=0.5, warm_workers=1)) as jobs:
        cancelled = jobs.submit(partial(remote_spec, epochs=60, pace=0.01))
        await epoch_ended(jobs, cancelled.id, 0)
        await jobs.cancel(cancelled.id)
        assert cancelled.worker is not None and await ended(cancelled.worker["pid"])
        after = jobs.submit(partial(remote_spec, epochs=1))
        assert await after.wait() is JobStatus.COMPLETED
        assert after.worker is not None and after.worker["pid"] != cancelled.worker["pid"]


async def test_a_worker_handed_back_goes_to_the_run_waiting_for_room_on_the_cluster(
    local_ray: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    # Each run reserves every CPU of the cluster: the second run's own worker cannot be placed while
    # the first trains, and the first's worker, kept warm, must go to it rather than wait idle.
    with anyio.fail_after(30):  # the workers earlier tests killed give their CPUs back
        while local_ray.available_resources().get("CPU", 0) < RAY_CPUS:
            await anyio.sleep(0.05)
    executor = RayExecutor(num_cpus_per_job=RAY_CPUS, warm_workers=2)
    with anyio.fail_after(60):  # a bound for a hang, as waiting for the worker the cluster has no room for would be
        async with JobManager(max_concurrent=2, executor=executor) as jobs:
            assert "CPUs for 1 of the 2 warm workers" in caplog.text
            first = jobs.submit(partial(remote_spec, epochs=4, pace=0.005))
            second = jobs.submit(partial(remote_spec, epochs=2))
            assert [await first.wait(), await second.wait()] == [JobStatus.COMPLETED] * 2
            assert first.worker is not None and second.worker == first.worker


async def test_an_idle_worker_that_died_is_dropped_and_the_next_run_starts_a_new_one() -> None:
    async with JobManager(max_concurrent=1, executor=RayExecutor(num_cpus_per_job=0.5, warm_workers=1)) as jobs:
        first = jobs.submit(partial(remote_spec, epochs=1))
        assert await first.wait() is JobStatus.COMPLETED
        assert first.worker is not None
        os.kill(first.worker["pid"], signal.SIGKILL)  # idle now, waiting for the next run
        assert await ended(first.worker["pid"])
        second = jobs.submit(partial(remote_spec, epochs=1))
        assert await second.wait() is JobStatus.COMPLETED, second.error
        assert second.worker is not None and second.worker["pid"] != first.worker["pid"]


def test_a_worker_refuses_a_second_run_until_its_first_is_over(local_ray: ModuleType, tmp_path: Path) -> None:
    ray = local_ray
    actor = ray.remote(JobWorker).options(num_cpus=0.5).remote()
    every_kind = frozenset(range(len(LIFECYCLE_EVENTS)))
    start = partial(actor.start.remote, maxsize=64, backlog=64, replay=4, flush_seconds=0.0)
    try:
        assert ray.get(actor.over.remote())  # no run yet
        ray.get(start(partial(remote_spec, epochs=100_000), "first", str(tmp_path / "first"), every_kind))
        assert not ray.get(actor.over.remote())
        with pytest.raises(ray.exceptions.RayTaskError, match="has not ended"):
            ray.get(start(partial(remote_spec, epochs=1), "second", str(tmp_path / "second"), every_kind))
        ray.get(actor.stop.remote())
        after, finished = 0, False
        while not finished:  # every event of the stopped run taken
            after, _, finished = ray.get(actor.fetch.remote(after))
        assert ray.get(actor.over.remote())
        ray.get(start(partial(remote_spec, epochs=1), "third", str(tmp_path / "third"), every_kind))
        events: list[LifecycleEvent] = []
        after, finished = 0, False
        while not finished:
            after, packed, finished = ray.get(actor.fetch.remote(after))
            events += unpack_events(packed, "third")
        assert [(type(event).__name__, index_of(event)) for event in events] == lifecycle(1)  # its own, from its first
    finally:
        ray.kill(actor)


async def test_a_worker_whose_events_cannot_be_shipped_fails_its_job_and_is_not_kept() -> None:
    # The fetch fails while the run still trains: that worker is busy, so it must not be handed on.
    async with JobManager(max_concurrent=1, executor=RayExecutor(num_cpus_per_job=0.5, warm_workers=1)) as jobs:
        [warm] = jobs.executor.idle_workers  # type: ignore[attr-defined]
        broken = jobs.submit(partial(remote_spec, epochs=1000, pace=0.001, unpicklable_logs=True))
        assert await broken.wait() is JobStatus.FAILED
        assert broken.error is not None and "pickle" in broken.error.lower()
        assert broken.worker == warm and await ended(warm["pid"])
        after = jobs.submit(partial(remote_spec, epochs=1))
        assert await after.wait() is JobStatus.COMPLETED, after.error
        assert after.worker is not None and after.worker["pid"] != warm["pid"]
