"""The training service under load: 8 jobs training, 50 Server-Sent-Event clients connected.

    python -m tests.benchmarks.bench_service [--jobs 8] [--clients 50] [--epochs 6] [--level batch]

Runs ``examples/service.py`` in its own process on 127.0.0.1 and prints JSON lines: ``GET /jobs``
latency (p50, p99) while the jobs train, events per second delivered to the clients, and the jobs'
training throughput (samples per second, all jobs together) against one job training alone, measured
in the same run. Needs the ``service`` and ``test`` extras (httpx).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

SERVICE = Path(__file__).parents[2] / "examples" / "service.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_up(client: httpx.AsyncClient) -> None:
    with anyio.fail_after(30):
        while True:
            try:
                await client.get("/jobs")
                return
            except httpx.TransportError:
                await anyio.sleep(0.1)


async def train(client: httpx.AsyncClient, request: dict[str, Any]) -> str:
    response = await client.post("/jobs", json=request)
    response.raise_for_status()
    return str(response.json()["id"])


async def wait_finished(client: httpx.AsyncClient, job_ids: list[str]) -> list[dict[str, Any]]:
    while True:
        jobs = [(await client.get(f"/jobs/{job_id}")).json() for job_id in job_ids]
        if all(job["status"] in ("completed", "failed", "cancelled") for job in jobs):
            return jobs
        await anyio.sleep(0.2)


def samples_per_second(jobs: list[dict[str, Any]], samples: int, epochs: int) -> float:
    """All the samples the jobs trained on, over the time from the first start to the last finish."""
    span = max(job["finished_at"] for job in jobs) - min(job["started_at"] for job in jobs)
    return len(jobs) * samples * epochs / span


async def listen(client: httpx.AsyncClient, job_id: str, level: str, counts: list[int]) -> None:
    async with client.stream("GET", f"/jobs/{job_id}/events", params={"level": level}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                counts[0] += 1


async def poll_latency(client: httpx.AsyncClient, latencies: list[float], stop: anyio.Event) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        (await client.get("/jobs")).raise_for_status()
        latencies.append(time.perf_counter() - start)
        await anyio.sleep(0.02)


async def measure(args: argparse.Namespace, base_url: str) -> list[dict[str, Any]]:
    request = {"dataset": "synthetic", "layers": [64, 64], "samples": args.samples, "batch_size": 32, "epochs": args.epochs}
    limits = httpx.Limits(max_connections=args.clients + 10)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        await wait_until_up(client)
        alone = await wait_finished(client, [await train(client, request)])
        alone_rate = samples_per_second(alone, args.samples, args.epochs)

        job_ids = [await train(client, request) for _ in range(args.jobs)]
        counts, latencies, stop = [0], [], anyio.Event()
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for index in range(args.clients):
                tg.start_soon(listen, client, job_ids[index % len(job_ids)], args.level, counts)
            tg.start_soon(poll_latency, client, latencies, stop)
            together = await wait_finished(client, job_ids)
            stop.set()
        elapsed = time.perf_counter() - started
    together_rate = samples_per_second(together, args.samples, args.epochs)
    cuts = statistics.quantiles(latencies, n=100)
    return [
        {"benchmark": "service", "variant": "GET /jobs latency", "p50_ms": round(cuts[49] * 1e3, 2),
         "p99_ms": round(cuts[98] * 1e3, 2), "requests": len(latencies), "jobs": args.jobs, "clients": args.clients},
        {"benchmark": "service", "variant": f"SSE delivery ({args.level} level)", "events": counts[0],
         "events_per_s": round(counts[0] / elapsed, 1), "clients": args.clients},
        {"benchmark": "service", "variant": "training throughput", "one_job_samples_per_s": round(alone_rate),
         "jobs_together_samples_per_s": round(together_rate), "ratio": round(together_rate / alone_rate, 2),
         "jobs": args.jobs, "statuses": sorted({job["status"] for job in together})},
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--level", choices=["epoch", "batch"], default="batch")
    parser.add_argument("--max-concurrent", type=int, default=None, help="jobs training at once (default: --jobs)")
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, str(SERVICE), "--port", str(port), "--max-concurrent", str(args.max_concurrent or args.jobs)]
    with subprocess.Popen(command) as service:
        try:
            results = anyio.run(measure, args, f"http://127.0.0.1:{port}")
        finally:
            service.terminate()
            service.wait(timeout=30)
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
