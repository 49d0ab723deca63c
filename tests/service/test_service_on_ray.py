"""The service with ``--executor ray``, end to end: a real process, its own local Ray, jobs in Ray workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from trainer.jobs.ray_executor import LOOPBACK_ENV

from .server import served_at, stop, wait_until_answering

TOKEN = "ray-end-to-end-token"


@pytest.fixture
def ray_service(tmp_path: Path) -> Iterator[tuple[httpx.Client, subprocess.Popen[str]]]:
    command = [sys.executable, "-m", "trainer.service", "--workdir", str(tmp_path), "--port", "0",
               "--executor", "ray", "--ray-cpus-per-job", "0.5", "--max-concurrent", "2"]  # fmt: skip
    env = {**os.environ, "TRAINER_SERVICE_TOKEN": TOKEN, LOOPBACK_ENV: "0"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as service:
        try:
            url = served_at(service)
            wait_until_answering(url, service)
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
                yield client, service
        finally:
            stop(service)


def wait_for(client: httpx.Client, job_id: str, *statuses: str) -> dict[str, object]:
    deadline = time.monotonic() + 90  # a bound for a hung test, not a speed check
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job  # type: ignore[no-any-return]
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach {statuses}: {job}")


def test_jobs_train_in_ray_workers_and_stream_their_events(ray_service: tuple[httpx.Client, subprocess.Popen[str]]) -> None:
    client, service = ray_service
    params = {"epochs": 3, "samples": 256, "layers": [16]}
    submitted = [client.post("/jobs", json={"template": "mlp", "params": params}) for _ in range(2)]
    assert [answer.status_code for answer in submitted] == [201, 201]
    ids = [answer.json()["id"] for answer in submitted]
    jobs = [wait_for(client, job_id, "completed", "failed") for job_id in ids]
    assert [job["status"] for job in jobs] == ["completed", "completed"], jobs
    pids = {job["worker"]["pid"] for job in jobs}  # type: ignore[index]
    assert service.pid not in pids and len(pids) == 2
    assert [job["epoch"] for job in jobs] == [2, 2]
    with client.stream("GET", f"/jobs/{ids[0]}/events") as events:
        records = [json.loads(line[len("data: "):]) for line in events.iter_lines() if line.startswith("data: ")]
    epochs = [record["epoch"] for record in records if record["event"] == "EpochEnd"]
    assert epochs == [0, 1, 2]
    assert [record["status"] for record in records if record["event"] == "JobStatusChanged"][-1] == "completed"
    assert all(record["run"] == ids[0] for record in records)
