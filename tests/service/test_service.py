"""The service, started as a user starts it (real uvicorn on 127.0.0.1), with httpx as the client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest

from .client import SMALL, epochs_ended, events_of, statuses, submit
from .server import Service, running_service

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("service"), "--max-concurrent", "3") as service:
        yield service


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as client:
        yield client


async def job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/jobs/{job_id}")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def first_epochs(client: httpx.AsyncClient, job_id: str, count: int, *, attempt: int = 1) -> None:
    """Read the job's stream until ``count`` epochs of run ``attempt`` have ended, then hang up."""
    running = False
    async with client.stream("GET", f"/jobs/{job_id}/events") as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            record = json.loads(line.removeprefix("data: "))
            if record["event"] == "JobStatusChanged":
                running = record["status"] == "running" and record["attempt"] == attempt
            elif running and record["event"] == "EpochEnd":
                count -= 1
                if count == 0:
                    return


async def test_three_jobs_at_once_complete_and_stream_every_epoch_in_order(client: httpx.AsyncClient) -> None:
    ids = [await submit(client, epochs=5, seed=seed) for seed in range(3)]
    streams: dict[str, list[dict[str, Any]]] = {}

    async def follow(job_id: str) -> None:
        streams[job_id] = await events_of(client, job_id)

    async with anyio.create_task_group() as tg:
        for job_id in ids:
            tg.start_soon(follow, job_id)
    for job_id in ids:
        assert epochs_ended(streams[job_id]) == [0, 1, 2, 3, 4]
        assert statuses(streams[job_id]) == ["queued", "running", "completed"]
        assert {record["run"] for record in streams[job_id]} == {job_id}
        described = await job(client, job_id)
        assert described["status"] == "completed" and described["epoch"] == 4 and "loss" in described["logs"]
        assert described["params"]["epochs"] == 5 and described["epochs"] == 5 and described["template"] == "mlp"
    listed = (await client.get("/jobs")).json()["jobs"]
    assert set(ids) <= {entry["id"] for entry in listed}


async def test_a_cancelled_job_stops_and_a_resumed_one_goes_on_from_its_last_epoch(client: httpx.AsyncClient) -> None:
    job_id = await submit(client, epochs=400)
    await first_epochs(client, job_id, 3)
    cancelled = (await client.delete(f"/jobs/{job_id}")).json()
    assert cancelled["status"] == "cancelled"
    stopped_at = cancelled["epoch"]
    assert 2 <= stopped_at < 399
    first_run = await events_of(client, job_id)  # finished: its history, then the stream ends
    assert statuses(first_run)[-1] == "cancelled" and epochs_ended(first_run)[-1] == stopped_at
    assert (await job(client, job_id))["epoch"] == stopped_at  # nothing trained after the cancel

    resumed = await client.post(f"/jobs/{job_id}/resume")
    assert resumed.status_code == 202 and resumed.json()["status"] in ("queued", "running")
    await first_epochs(client, job_id, 1, attempt=2)  # the history's epochs are the first run's: not those
    await client.delete(f"/jobs/{job_id}")
    records = await events_of(client, job_id)
    second_run = records[len(first_run):]
    first_resumed = next(record["epoch"] for record in second_run if record["event"] == "EpochBegin")
    assert 1 <= first_resumed <= stopped_at + 1  # from its last backup, not from scratch
    assert statuses(records) == ["queued", "running", "cancelled", "queued", "running", "cancelled"]
    assert (await job(client, job_id))["attempts"] == 2


async def test_a_client_that_stops_reading_does_not_slow_the_other_jobs(service: Service, client: httpx.AsyncClient) -> None:
    busy = {"samples": 4096, "batch_size": 8, "epochs": 3}  # 512 batches an epoch: plenty of batch events

    async def run_pair(stall: bool) -> list[list[dict[str, Any]]]:
        watched, other = await submit(client, **busy), await submit(client, epochs=4)
        async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as staller:
            if stall:
                stalled = staller.stream("GET", f"/jobs/{watched}/events", params={"level": "batch"})
                response = await stalled.__aenter__()  # headers read, the body never
                assert response.status_code == 200
            streams = [await events_of(client, other), await events_of(client, watched)]
            if stall:
                await stalled.__aexit__(None, None, None)
        return streams

    calm, stalled = await run_pair(stall=False), await run_pair(stall=True)
    for without, with_staller in zip(calm, stalled):
        assert statuses(with_staller) == statuses(without) == ["queued", "running", "completed"]
        assert epochs_ended(with_staller) == epochs_ended(without)


async def test_bad_requests_answer_422_or_404_and_change_nothing(client: httpx.AsyncClient) -> None:
    before = (await client.get("/jobs")).json()

    async def refused(body: bytes | None = None, **params: Any) -> list[dict[str, Any]]:
        if body is None:
            response = await client.post("/jobs", json={"template": "mlp", "params": {**SMALL, **params}})
        else:
            response = await client.post("/jobs", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid job request"
        return response.json()["details"]  # type: ignore[no-any-return]

    assert "Invalid JSON" in (await refused(b'{"template": "mlp"'))[0]["reason"]
    assert (await refused(b"[1, 2]"))[0]["reason"].startswith("Input should be an object")
    unknown = await refused(b'{"template": "mpl"}')
    assert unknown[0]["field"] == "template" and "Did you mean 'mlp'?" in unknown[0]["reason"]
    typo = await refused(epoch=3)
    assert typo[0]["field"] == "params.epoch" and "Did you mean 'epochs'?" in typo[0]["reason"]
    problems = await refused(epochs=0, layers=[16, -1], learning_rate=-0.1, dataset="mnist", batch_size=True)
    fields = [p["field"] for p in problems]
    assert fields == ["params.dataset", "params.layers.1", "params.learning_rate", "params.epochs", "params.batch_size"]
    assert "greater than or equal to 1" in problems[3]["reason"]

    for method, path in [("GET", "/jobs/nope"), ("DELETE", "/jobs/nope"), ("POST", "/jobs/nope/resume"), ("GET", "/jobs/nope/events")]:
        response = await client.request(method, path)
        assert response.status_code == 404 and response.json()["error"] == "unknown job 'nope'"

    done = await submit(client, epochs=1)
    await events_of(client, done)
    assert (await client.post(f"/jobs/{done}/resume")).status_code == 409
    assert (await client.delete(f"/jobs/{done}")).status_code == 409
    level = await client.get(f"/jobs/{done}/events", params={"level": "step"})
    assert level.status_code == 422 and level.json()["details"][0]["field"] == "level"
    after = (await client.get("/jobs")).json()["jobs"]
    assert after[: len(before["jobs"])] == before["jobs"] and [j["id"] for j in after[len(before["jobs"]):]] == [done]
