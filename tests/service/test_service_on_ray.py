"""The service with ``--executor ray``, end to end: the real process, its own local Ray (on loopback),
every job in a Ray worker of its own."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest

from trainer.jobs.ray_executor import LOOPBACK_ENV

from .client import epochs_ended, events_of, statuses, submit
from .server import Service, running_service

pytestmark = pytest.mark.anyio

RAY = ("--executor", "ray", "--ray-cpus-per-job", "0.5", "--max-concurrent", "2")


async def job_of(client: httpx.AsyncClient, job_id: str) -> dict[str, object]:
    answer = await client.get(f"/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def client_of(service: Service) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30)


async def test_jobs_train_in_ray_workers_their_events_in_order_and_cancel_and_resume_work(tmp_path: Path) -> None:
    with running_service(tmp_path, *RAY, env={LOOPBACK_ENV: "0"}) as service:
        async with client_of(service) as client:
            quick = await submit(client, epochs=3)
            long = await submit(client, epochs=2000)
            records = await events_of(client, quick)  # until the job ends
            assert epochs_ended(records) == [0, 1, 2]
            assert statuses(records) == ["queued", "running", "completed"]
            assert all(record["run"] == quick for record in records)

            while (await job_of(client, long))["epoch"] is None:
                await anyio.sleep(0.05)
            assert (await client.delete(f"/jobs/{long}")).json()["status"] == "cancelled"
            stopped_at = (await job_of(client, long))["epoch"]
            assert (await client.post(f"/jobs/{long}/resume")).status_code == 202
            while (await job_of(client, long))["epoch"] == stopped_at:
                await anyio.sleep(0.05)
            resumed = await job_of(client, long)
            jobs = [await job_of(client, quick), resumed]
            await client.delete(f"/jobs/{long}")
    pids = [job["worker"]["pid"] for job in jobs]  # type: ignore[index]
    assert service.process.pid not in pids and len(set(pids)) == 2
    assert resumed["status"] == "running" and resumed["attempts"] == 2
    assert resumed["epoch"] > stopped_at  # type: ignore[operator]
