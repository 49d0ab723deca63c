"""What the service tests send and read: job requests, and Server-Sent Events parsed into records."""

from __future__ import annotations

import json
from typing import Any

import httpx

from trainer.service.api import RECONNECT_MS

SMALL = {"dataset": "synthetic", "layers": [16], "samples": 128, "batch_size": 16}  # 8 steps per epoch


async def submit(client: httpx.AsyncClient, template: str = "mlp", **params: Any) -> str:
    response = await client.post("/jobs", json={"template": template, "params": {**SMALL, **params}})
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/jobs/{response.json()['id']}"
    return str(response.json()["id"])


async def events_of(
    client: httpx.AsyncClient, job_id: str, level: str = "epoch", last_event_id: int | None = None
) -> list[dict[str, Any]]:
    """Every event of the job's stream, until the service ends it (when the job finishes); each
    record with its SSE ``id`` (None if it has none) under ``"sse_id"``."""
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    records = []
    async with client.stream("GET", f"/jobs/{job_id}/events", params={"level": level}, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        kind, event_id = None, None
        lines = response.aiter_lines()
        assert await anext(lines) == f"retry: {RECONNECT_MS}"  # a browser reconnects that soon, not in 3 s
        async for line in lines:
            if line.startswith("id: "):
                event_id = int(line.removeprefix("id: "))
            elif line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                record = json.loads(line.removeprefix("data: "))
                assert record["event"] == kind
                records.append({**record, "sse_id": event_id})
                kind, event_id = None, None
    return records


def epochs_ended(records: list[dict[str, Any]]) -> list[int]:
    return [record["epoch"] for record in records if record["event"] == "EpochEnd"]


def statuses(records: list[dict[str, Any]]) -> list[str]:
    return [record["status"] for record in records if record["event"] == "JobStatusChanged"]
