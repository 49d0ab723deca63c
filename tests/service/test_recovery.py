"""A service killed with SIGKILL and started again on its workdir loses nothing: jobs, events, training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest

from .client import epochs_ended, events_of, statuses
from .server import Service, running_service
from .templates import WEIGHTS_DIR

pytestmark = pytest.mark.anyio

APP = ("--app", "tests.service.templates:TEMPLATES", "--max-concurrent", "1")


async def submit(client: httpx.AsyncClient, tag: str, **params: Any) -> str:
    response = await client.post("/jobs", json={"template": "regression", "params": {"tag": tag, **params}})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def wait_for_epoch(client: httpx.AsyncClient, job_id: str, epoch: int) -> None:
    async with client.stream("GET", f"/jobs/{job_id}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"EpochEnd"' in line and f'"epoch": {epoch},' in line:
                return
    raise AssertionError(f"job {job_id} ended before epoch {epoch}")


async def backed_up(backup_dir: Path) -> None:
    """Wait until the job's backup is on disk (its writes run behind training, more so under load)."""
    with anyio.fail_after(30):
        while not any(backup_dir.glob("*.backup.npz")):
            await anyio.sleep(0.01)


def client_of(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=60)


async def test_a_killed_service_restarts_with_every_job_and_resumes_the_interrupted_ones(tmp_path: Path) -> None:
    workdir, weights = tmp_path / "service", tmp_path / "weights"
    weights.mkdir()
    env = {WEIGHTS_DIR: str(weights)}
    with running_service(workdir, *APP, env=env) as service:
        async with client_of(service) as client:
            done = await submit(client, "done", epochs=30)
            history = await events_of(client, done)  # until it completes
            interrupted = await submit(client, "interrupted", epochs=30)
            waiting = await submit(client, "waiting", epochs=2)  # queued behind it: one job at a time
            await wait_for_epoch(client, interrupted, 3)
            await backed_up(workdir / "jobs" / interrupted)
            service.kill()
    (workdir / "jobs" / "0rphan").mkdir()  # a backup no job owns

    with running_service(workdir, *APP, env=env) as service:
        async with client_of(service) as client:
            listed = {job["id"]: job for job in (await client.get("/jobs")).json()["jobs"]}
            assert list(listed) == [done, interrupted, waiting]
            assert listed[done]["status"] == "completed" and listed[done]["epoch"] == 29
            assert listed[interrupted]["attempts"] == 2 and listed[interrupted]["status"] in ("queued", "running")
            assert listed[waiting]["attempts"] == 1  # it had never started
            assert await events_of(client, done) == history  # its whole history, ids and all

            resumed = await events_of(client, interrupted)
            assert statuses(resumed) == ["queued", "running", "queued", "running", "completed"]
            second_run = resumed[[r["event"] for r in resumed].index("JobStatusChanged", 3):]
            assert epochs_ended(second_run)[0] >= 1  # from its last backup, not from scratch
            assert epochs_ended(second_run)[-1] == 29
            assert statuses(await events_of(client, waiting))[-1] == "completed"
            assert not (workdir / "jobs" / "0rphan").exists()

    uninterrupted = np.load(weights / "done.weights.npz")
    resumed_weights = np.load(weights / "interrupted.weights.npz")
    assert sorted(uninterrupted.files) == sorted(resumed_weights.files)
    for name in uninterrupted.files:
        np.testing.assert_array_equal(resumed_weights[name], uninterrupted[name])


async def test_last_event_id_replays_what_a_client_missed_across_a_restart(tmp_path: Path) -> None:
    workdir = tmp_path / "service"
    with running_service(workdir) as service:
        async with client_of(service) as client:
            response = await client.post("/jobs", json={"template": "mlp", "params": {"epochs": 4, "samples": 64}})
            job_id = response.json()["id"]
            everything = await events_of(client, job_id)
    ids = [record["sse_id"] for record in everything]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(set(ids))

    with running_service(workdir) as service:
        async with client_of(service) as client:
            for seen in (0, 3, len(everything) - 1):
                missed = await events_of(client, job_id, last_event_id=ids[seen])
                assert missed == everything[seen + 1 :]
            assert await events_of(client, job_id, last_event_id=ids[-1]) == []
            stored = await client.get(f"/jobs/{job_id}/events", params={"last_event_id": "x"})
            assert stored.status_code == 422
