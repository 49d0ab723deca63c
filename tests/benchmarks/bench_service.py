"""The training service under load: 8 jobs training, 50 Server-Sent-Event clients connected.

    python -m tests.benchmarks.bench_service [--jobs 8] [--clients 50] [--epochs 12] [--levels epoch batch]

Runs ``python -m trainer.service`` in its own process on 127.0.0.1, its store on (it always is), and
prints JSON lines, one per event level the clients ask for: ``GET /jobs`` latency (p50, p99) while the jobs train, events per second
delivered to the clients, and the jobs' training throughput (samples per second, all jobs together)
against one job training alone, each alone run just before its together run in the same service.
Figures are medians over ``--repeats`` repetitions; the latencies pool every request. The clients
run in this process, on the same cores as the service: ``client_cpu_s`` says what they used. Needs
the ``service`` and ``test`` extras (httpx).

A last line times a restart: a workdir holding ``--restart-jobs`` finished jobs (10 000 by default,
each with 30 stored events), from the process's start to ``GET /jobs`` answering with all of them.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from trainer.jobs import JobStatus
from trainer.service.records import ServiceJob
from trainer.service.store import JobStore, StoredEvent

from ..service.server import running_service, served_at, token_in

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


async def once(client: httpx.AsyncClient, args: argparse.Namespace, level: str, latencies: list[float]) -> dict[str, Any]:
    """One job alone, then ``args.jobs`` together with the clients following them at ``level``."""
    params = {"dataset": "synthetic", "layers": [64, 64], "samples": args.samples, "batch_size": 32, "epochs": args.epochs}
    request = {"template": "mlp", "params": params}
    alone = await wait_finished(client, [await train(client, request)])
    job_ids = [await train(client, request) for _ in range(args.jobs)]
    counts, stop = [0], anyio.Event()
    started, cpu_before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    async with anyio.create_task_group() as tg:
        for index in range(args.clients):
            tg.start_soon(listen, client, job_ids[index % len(job_ids)], level, counts)
        tg.start_soon(poll_latency, client, latencies, stop)
        together = await wait_finished(client, job_ids)
        stop.set()
    elapsed, cpu_after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    return {
        "events_per_s": counts[0] / elapsed,
        "ratio": samples_per_second(together, args.samples, args.epochs) / samples_per_second(alone, args.samples, args.epochs),
        "one_job_samples_per_s": samples_per_second(alone, args.samples, args.epochs),
        "client_cpu_share": (cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime) / elapsed,
        "statuses": {job["status"] for job in together},
    }  # fmt: skip


async def measure(args: argparse.Namespace, base_url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=args.clients + 10)
    results = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120, limits=limits) as client:
        for level in args.levels:
            latencies: list[float] = []
            runs = [await once(client, args, level, latencies) for _ in range(args.repeats)]
            cuts = statistics.quantiles(latencies, n=100)
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "statuses"}
            results.append({
                "benchmark": "service", "variant": f"{args.jobs} jobs, {args.clients} clients at {level} level",
                "compute_slots": args.compute_slots or None,
                "get_jobs_p50_ms": round(cuts[49] * 1e3, 1), "get_jobs_p99_ms": round(cuts[98] * 1e3, 1),
                "requests": len(latencies), "events_per_s": round(median["events_per_s"]),
                "throughput_vs_one_job": round(median["ratio"], 2),
                "ratios": [round(run["ratio"], 2) for run in runs],
                "one_job_samples_per_s": round(median["one_job_samples_per_s"]),
                "client_cpu_cores": round(median["client_cpu_share"], 2),
                "statuses": sorted(set().union(*(run["statuses"] for run in runs))),
            })  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levels", nargs="+", choices=["epoch", "batch"], default=["epoch", "batch"])
    parser.add_argument("--max-concurrent", type=int, default=None, help="jobs training at once (default: --jobs)")
    parser.add_argument("--compute-slots", type=int, default=1, help="jobs computing at one moment; 0: all that run")
    parser.add_argument("--restart-jobs", type=int, default=10_000, help="stored jobs for the restart timing; 0: skip it")
    args = parser.parse_args()
    options = ["--max-concurrent", str(args.max_concurrent or args.jobs), "--compute-slots", str(args.compute_slots)]
    with tempfile.TemporaryDirectory() as workdir:
        with running_service(workdir, *options) as service:
            results = anyio.run(measure, args, service.url, service.headers)
    for result in results:
        print(json.dumps(result))
    if args.restart_jobs:
        print(json.dumps(restart(args.restart_jobs)))


def restart(count: int, events_per_job: int = 30) -> dict[str, Any]:
    """Seconds from starting a service on a workdir of ``count`` finished jobs to ``GET /jobs`` listing them."""
    with tempfile.TemporaryDirectory() as workdir:
        store = JobStore(Path(workdir, "service.sqlite3"))
        now = time.time() - count  # finished within the retention age
        jobs = [ServiceJob(f"job{index:05d}", "mlp", "mlp", {"epochs": events_per_job}, status=JobStatus.COMPLETED,
                           epoch=events_per_job - 1, submitted_at=now + index, finished_at=now + index + 0.5) for index in range(count)]  # fmt: skip
        data = json.dumps({"event": "EpochEnd", "epoch": 0, "logs": {"loss": 0.5, "accuracy": 0.9}})
        events = [StoredEvent(index + 1, jobs[index // events_per_job].id, "EpochEnd", data) for index in range(count * events_per_job)]
        store.write([job.record() for job in jobs], events)
        store.close()
        command = [sys.executable, "-m", "trainer.service", "--workdir", workdir, "--port", "0", "--keep-finished", str(count)]
        started = time.perf_counter()
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
            try:
                url = served_at(process)
                assert process.stdout is not None
                headers = {"Authorization": f"Bearer {token_in(process.stdout.readline())}"}
                while True:
                    try:
                        listed = httpx.get(f"{url}/jobs", headers=headers, timeout=30).json()
                        break
                    except httpx.TransportError:
                        time.sleep(0.01)
                ready = time.perf_counter() - started
            finally:
                process.terminate()
                process.wait(timeout=30)
    assert listed["total"] == count, listed.get("total")
    return {"benchmark": "service restart", "variant": f"{count} stored jobs, {count * events_per_job} events",
            "seconds_to_serve": round(ready, 2)}  # fmt: skip


if __name__ == "__main__":
    main()
