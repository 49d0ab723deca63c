"""What the service tests send and read: job requests, and Server-Sent Events parsed into records."""

from __future__ import annotations

import json
from typing import Any

import httpx

SMALL = {"dataset": "synthetic", "layers": [16], "samples": 128, "batch_size": 16}  # 8 steps per epoch


async def submit(client: httpx.AsyncClient, **fields: Any) -> str:
    response = await client.post("/jobs", json={**SMALL, **fields})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/jobs/{response.json()['id']}"
    return str(response.json()["id"])


async def events_of(client: httpx.AsyncClient, job_id: str, level: str = "epoch") -> list[dict[str, Any]]:
    """Every event of the job's stream, until the service ends it (when the job finishes)."""
    records = []
    async with client.stream("GET", f"/jobs/{job_id}/events", params={"level": level}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                record = json.loads(line.removeprefix("data: "))
                assert record["event"] == kind
                records.append(record)
    return records


def epochs_ended(records: list[dict[str, Any]]) -> list[int]:
    return [record["epoch"] for record in records if record["event"] == "EpochEnd"]


def statuses(records: list[dict[str, Any]]) -> list[str]:
    return [record["status"] for record in records if record["event"] == "JobStatusChanged"]
