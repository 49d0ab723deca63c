"""The service with ``--executor ray``, end to end: the real process, its own local Ray (on loopback),
every job in a Ray worker of its own."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx
import psutil
import pytest

from trainer.jobs.ray_executor import LOOPBACK_ENV
from trainer.service.mlp_template import mlp

from ..jobs.test_ray_warm_workers import ended
from .client import SMALL, epochs_ended, events_of, statuses, submit
from .server import Service, running_service, stop

pytestmark = pytest.mark.anyio

RAY = ("--executor", "ray", "--ray-cpus-per-job", "0.5", "--max-concurrent", "2")


async def job_of(client: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    answer = await client.get(f"/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def client_of(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30)


def job_workers(service: Service) -> list[int]:
    """The pids of the service's Ray job workers (Ray titles an actor's process after its class)."""
    found = []
    for process in psutil.Process(service.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if " ".join(process.cmdline()).startswith("ray::JobWorker"):
                found.append(process.pid)
    return found


async def test_jobs_train_in_ray_workers_their_events_in_order_and_cancel_and_resume_work(tmp_path: Path) -> None:
    # One warm worker, up before the jobs come: one of them starts on it. A cancelled run's worker ends.
    with running_service(tmp_path, *RAY, "--ray-warm-workers", "1", env={LOOPBACK_ENV: "0"}) as service:
        [warm] = job_workers(service)  # the service's start waited for it
        async with client_of(service) as client:
            quick = await submit(client, epochs=3)
            long = await submit(client, epochs=2000)
            records = await events_of(client, quick)  # until the job ends
            assert epochs_ended(records) == [0, 1, 2]
            assert statuses(records) == ["queued", "running", "completed"]
            assert all(record["run"] == quick for record in records)
            quick_worker: dict[str, int] = (await job_of(client, quick))["worker"]  # type: ignore[assignment]

            while (await job_of(client, long))["epoch"] is None:
                await anyio.sleep(0.05)
            cancelled_worker: dict[str, int] = (await job_of(client, long))["worker"]  # type: ignore[assignment]
            assert (await client.delete(f"/jobs/{long}")).json()["status"] == "cancelled"
            stopped_at = (await job_of(client, long))["epoch"]
            assert (await client.post(f"/jobs/{long}/resume")).status_code == 202
            while (await job_of(client, long))["epoch"] == stopped_at:
                await anyio.sleep(0.05)
            resumed = await job_of(client, long)
            assert await ended(cancelled_worker["pid"])
            jobs = [await job_of(client, quick), resumed]
            await client.delete(f"/jobs/{long}")
    pids = [job["worker"]["pid"] for job in jobs]  # type: ignore[index]
    assert service.process.pid not in pids and cancelled_worker["pid"] != pids[1]
    assert warm in {quick_worker["pid"], cancelled_worker["pid"]}
    assert resumed["status"] == "running" and resumed["attempts"] == 2
    assert resumed["epoch"] > stopped_at  # type: ignore[operator]


@contextmanager
def ray_head() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A Ray cluster's head as an operator starts one, ``ray start --head --block``, on loopback;
    yield its address once it listens; stop it (SIGTERM stops its processes) on leaving."""
    with socket.socket() as probe:  # a free port for its GCS
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    command = [ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
               "--disable-usage-stats", "--block"]  # fmt: skip
    with subprocess.Popen(command, env={**os.environ, LOOPBACK_ENV: "0"}, stdout=subprocess.DEVNULL, text=True) as head:
        try:
            deadline = time.monotonic() + 60  # a bound for a hung start, not a speed check
            while True:
                assert head.poll() is None, "ray start --head exited"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the Ray head did not listen within 60 s"
                    time.sleep(0.1)
            yield f"127.0.0.1:{port}", head
        finally:
            stop(head)


async def test_the_service_joins_a_running_cluster_with_ray_address(tmp_path: Path) -> None:
    with ray_head() as (address, head):
        # Joining a cluster by its address, Ray authenticates only if told to (its token: ~/.ray/auth_token).
        env = {LOOPBACK_ENV: "0", "RAY_AUTH_MODE": "token"}
        with running_service(tmp_path, "--executor", "ray", "--ray-address", address, env=env) as service:
            async with client_of(service) as client:
                quick = await submit(client, epochs=2)
                assert statuses(await events_of(client, quick))[-1] == "completed"
                long = await submit(client, epochs=2000)
                while (job := await job_of(client, long))["epoch"] is None:
                    await anyio.sleep(0.05)
                cluster = {process.pid for process in psutil.Process(head.pid).children(recursive=True)}
                await client.delete(f"/jobs/{long}")
            started_by_the_service = {child.pid for child in psutil.Process(service.process.pid).children(True)}
    assert job["worker"]["pid"] in cluster  # type: ignore[index]  # a worker of the cluster that `ray start` made
    assert job["worker"]["pid"] not in started_by_the_service  # type: ignore[index]  # no local Ray of its own


REATTACH_EPOCHS = 800  # long enough to outlive the service's restart, and its backlog on the worker


async def test_a_service_killed_and_restarted_reattaches_to_its_job_still_training_on_the_cluster(tmp_path: Path) -> None:
    workdir = tmp_path / "service"
    env = {LOOPBACK_ENV: "0", "RAY_AUTH_MODE": "token"}
    with ray_head() as (address, head):
        options = ("--executor", "ray", "--ray-address", address, "--ray-cpus-per-job", "0.5")
        with running_service(workdir, *options, env=env) as first:
            async with client_of(first) as client:
                job_id = await submit(client, epochs=REATTACH_EPOCHS)
                while (before := await job_of(client, job_id))["epoch"] is None or before["epoch"] < 2:  # type: ignore[operator]
                    await anyio.sleep(0.05)
            first.process.kill()  # SIGKILL: no shutdown, the job's actor is left running on the cluster
            first.process.wait()
        worker = psutil.Process(before["worker"]["pid"])  # type: ignore[index]
        assert worker.is_running() and worker.pid in {p.pid for p in psutil.Process(head.pid).children(recursive=True)}
        with running_service(workdir, *options, env=env) as second:
            async with client_of(second) as client:
                records = await events_of(client, job_id)  # the stored history, then live, until the job ends
                after = await job_of(client, job_id)
        with anyio.fail_after(30):  # its actor ends once its events are read: no actor left behind
            while worker.is_running() and worker.status() != psutil.STATUS_ZOMBIE:
                await anyio.sleep(0.1)
    assert after["status"] == "completed" and after["attempts"] == 1  # the same run: not started again
    assert after["worker"]["pid"] == before["worker"]["pid"]  # type: ignore[index]
    assert statuses(records) == ["queued", "running", "completed"]
    assert epochs_ended(records) == list(range(REATTACH_EPOCHS))  # every epoch once, in order, none twice
    assert [record["event"] for record in records].count("TrainBegin") == 1
    ids = [record["sse_id"] for record in records]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # The numbers of an uninterrupted run of the same (seeded) job, epoch by epoch, to the last.
    spec = mlp(**{**SMALL, "epochs": REATTACH_EPOCHS})  # type: ignore[arg-type]
    history = await anyio.to_thread.run_sync(
        lambda: spec.model.fit(spec.x, spec.y, epochs=spec.epochs, batch_size=spec.batch_size, verbose=0, **spec.fit_kwargs)
    )
    ended = [record["logs"] for record in records if record["event"] == "EpochEnd"]
    for key in ("loss", "accuracy"):
        assert [logs[key] for logs in ended] == json.loads(json.dumps(history.history[key]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--ray-warm-workers", "1"), "--ray-warm-workers needs --executor ray"),
        (("--executor", "ray", "--ray-address", "127.0.0.1:1", "--ray-warm-workers", "1"), "needs a local Ray"),
        (("--executor", "ray", "--ray-warm-workers", "-1"), "warm_workers must be an integer >= 0"),
    ],
)
def test_warm_workers_the_service_cannot_have_are_refused_at_start(
    tmp_path: Path, options: tuple[str, ...], message: str
) -> None:
    command = [sys.executable, "-m", "trainer.service", "--workdir", str(tmp_path), "--port", "0", *options]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert finished.returncode != 0 and finished.stdout == ""
    assert message in finished.stderr
