"""Jobs on a local Ray against jobs in process, side by side; prints JSON lines.

    python -m tests.benchmarks.bench_ray [--jobs 4] [--repeats 3] [--models small large] [--service-jobs 4]
                                         [--epoch-factor 1] [--ray-cpus N]

Run from the repository's root (the Ray workers import ``ray_jobs`` from it to build the jobs). For two
models (the small MLP 16-64-64-4 at batch 32, interpreter work under one GIL in process, and the
MLP 784-256-10 at batch 128, BLAS work), ``--jobs`` jobs submitted at once to a
:class:`~trainer.jobs.JobManager`, in process (compute turns, one slot: the default) and on Ray
(``RayExecutor(num_cpus_per_job=1)``, a local Ray of ``--jobs`` logical CPUs on this machine, or
``--ray-cpus``: with fewer, jobs wait for a CPU as in a full cluster; and
with ``warm_workers=--jobs``, whose workers are up before the jobs are submitted, as the service's
own process is for jobs in process),
each with two kinds of listener on the manager's bus: epoch-level only (what the service's journal
takes) and batch-level too (a subscriber to every batch event, as a batch-level event stream is).
The variants alternate, in a new order each round, ``--repeats`` rounds. For each: the total
samples per second from submitting to the last job's end and while every job trained (the last
job's first epoch begin to the first job's last epoch end, whole epochs counted), the CPU time
per sample (this process's, and on Ray each worker process's, its start included), a job's start
(submit to its first event on the manager's bus: its TrainBegin, after its build), an event's trip
with the batch listener (a batch event's publication in the worker to its handling on the
manager's bus, same machine so one monotonic clock), and the event loop's lag meanwhile (a
heartbeat sleeping 1 ms). Medians over the rounds; lag p99 over all.

Then the service (``python -m trainer.service``, its own process) in process and with ``--executor
ray`` (its own local Ray, every job reserving half a CPU so that ``--service-jobs`` fit on this
machine's CPUs): ``GET /jobs`` latency p99 while ``--service-jobs`` jobs train with one
epoch-level event stream each (``bench_service``'s measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from functools import partial
from typing import Any

import anyio
import httpx
import psutil

from trainer.events import BatchEvent, EpochBegin, EpochEnd, LifecycleEvent, TrainBatchBegin, TrainBatchEnd, TrainEnd
from trainer.jobs import JobManager, RayExecutor, level_types
from trainer.jobs.ray_executor import LOOPBACK_ENV

from ..service.server import running_service
from .bench_service import once
from .ray_jobs import SHAPES, bench_spec


async def round_of(
    name: str, jobs_at_once: int, executor: RayExecutor | None, listen: str, epoch_factor: int
) -> dict[str, Any]:
    """One round: ``jobs_at_once`` jobs of ``name``, a listener at ``listen`` level; what it measured."""
    lags: list[float] = []
    trips: list[float] = []
    first_event: dict[str, float] = {}
    begins: dict[str, list[float]] = {}  # each job's epoch begins and ends, on the clock of the process it trains in
    ends: dict[str, list[float]] = {}
    submitted: dict[str, float] = {}
    worker_cpu: dict[int, float] = {}  # each Ray worker process's CPU seconds, its start included, by pid
    done = anyio.Event()

    def on_lifecycle(event: LifecycleEvent) -> None:
        first_event.setdefault(event.run, time.monotonic())
        if isinstance(event, EpochBegin):
            begins.setdefault(event.run, []).append(event.time)
        elif isinstance(event, EpochEnd):
            ends.setdefault(event.run, []).append(event.time)
        elif isinstance(event, TrainEnd) and executor is not None:  # its worker lives until its last events are fetched
            pid = manager.get(event.run).worker["pid"]  # a warm one trains job after job: its last reading counts
            cpu = psutil.Process(pid).cpu_times()
            worker_cpu[pid] = cpu.user + cpu.system

    def on_batch(event: BatchEvent) -> None:
        trips.append(time.monotonic() - event.time)

    async def heartbeat() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    async with JobManager(max_concurrent=jobs_at_once, executor=executor) as manager:
        manager.bus.subscribe(tuple(level_types("epoch")[:-1]), on_lifecycle)  # lifecycle kinds, not JobStatusChanged
        if listen == "batch":
            manager.bus.subscribe((TrainBatchBegin, TrainBatchEnd), on_batch)
        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeat)
            start, cpu_start = time.monotonic(), time.process_time()
            jobs = []
            for _ in range(jobs_at_once):
                job = manager.submit(partial(bench_spec, name, epoch_factor))
                submitted[job.id] = time.monotonic()
                jobs.append(job)
            for job in jobs:
                await job.wait()
            elapsed, cpu = time.monotonic() - start, time.process_time() - cpu_start
            done.set()
    assert all(job.status.value == "completed" for job in jobs), [job.error for job in jobs]
    features, hidden, classes, samples, batch_size, epochs = SHAPES[name]
    total = jobs_at_once * samples * epochs * epoch_factor
    # While every job trains: from the last job's first epoch begin to the first job's last epoch end.
    window = (max(times[0] for times in begins.values()), min(times[-1] for times in ends.values()))
    in_window = sum(window[0] <= begin and end <= window[1]
                    for job_id in begins for begin, end in zip(begins[job_id], ends[job_id]))  # fmt: skip
    return {
        "samples_per_s": total / elapsed,
        # This process's CPU (the manager, and in process the jobs too) and the Ray workers' (Ray's own
        # daemons, a few percent of a core here, left out), per sample: a cost the machine's load hardly moves.
        "cpu_us_per_sample": (cpu + sum(worker_cpu.values())) / total * 1e6,
        # None when no whole epoch of every job overlapped (their starts spread over longer than a job takes)
        "training_samples_per_s": in_window * samples / (window[1] - window[0]) if in_window else None,
        "start_s": statistics.median(first_event[job_id] - submitted[job_id] for job_id in submitted),
        "trip_us": statistics.median(trips) * 1e6 if trips else None,
        "trip_p99_us": statistics.quantiles(trips, n=100)[98] * 1e6 if trips else None,
        "lags": lags,
    }


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _ratio(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference


def _rounded(value: float | None, digits: int = 0) -> float | None:
    return None if value is None else round(value, digits)


VARIANTS = [("in_process", "epoch"), ("in_process", "batch"), ("ray", "epoch"), ("ray", "batch"),
            ("ray_warm", "epoch"), ("ray_warm", "batch")]


def executor_of(name: str, jobs: int) -> RayExecutor | None:
    """``ray_warm``: as many warm workers as jobs, up (entering the manager waits for them) before the clock starts."""
    return {"in_process": None, "ray": RayExecutor(num_cpus_per_job=1),
            "ray_warm": RayExecutor(num_cpus_per_job=1, warm_workers=jobs)}[name]  # fmt: skip


def bench_jobs(name: str, args: argparse.Namespace) -> None:
    results: dict[tuple[str, str], list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    order = list(VARIANTS)
    for round_ in range(args.repeats):
        random.Random(round_).shuffle(order)  # a new order each round: no variant always follows the same one
        for executor, listen in order:
            results[executor, listen].append(
                anyio.run(round_of, name, args.jobs, executor_of(executor, args.jobs), listen, args.epoch_factor))
    medians = {variant: {key: _median([r[key] for r in rounds]) for key in rounds[0] if key != "lags"}
               for variant, rounds in results.items()}  # fmt: skip
    for (executor, listen), figures in medians.items():
        reference = medians["in_process", listen]
        lags = [lag for r in results[executor, listen] for lag in r["lags"]]
        print(json.dumps({
            "benchmark": f"jobs_at_once {name}", "variant": f"{executor}, {listen}-level listener", "jobs": args.jobs,
            "samples_per_s": _rounded(figures["samples_per_s"]),
            "training_samples_per_s": _rounded(figures["training_samples_per_s"]),
            "vs_in_process": _rounded(_ratio(figures["samples_per_s"], reference["samples_per_s"]), 2),
            "training_vs_in_process": _rounded(
                _ratio(figures["training_samples_per_s"], reference["training_samples_per_s"]), 2),
            "cpu_us_per_sample": _rounded(figures["cpu_us_per_sample"], 2),
            "cpu_vs_in_process": _rounded(_ratio(figures["cpu_us_per_sample"], reference["cpu_us_per_sample"]), 2),
            "job_start_s": _rounded(figures["start_s"], 3),
            "event_trip_us": _rounded(figures["trip_us"]),
            "event_trip_p99_us": _rounded(figures["trip_p99_us"]),
            "loop_lag_p99_ms": round(1000 * statistics.quantiles(lags, n=100)[98], 2),
            "epochs": SHAPES[name][-1] * args.epoch_factor, "ray_cpus": args.ray_cpus or args.jobs, "repeats": args.repeats, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        }), flush=True)  # fmt: skip


def bench_service(args: argparse.Namespace) -> None:
    """``GET /jobs`` p99 while jobs train, the service in process and on Ray, alternating."""
    measured = argparse.Namespace(jobs=args.service_jobs, clients=args.service_jobs, epochs=args.service_epochs,
                                  samples=4096, repeats=1, levels=["epoch"], compute_slots=1)  # fmt: skip
    executors = {"in_process": (), "ray": ("--executor", "ray", "--ray-cpus-per-job", "0.5")}
    latencies: dict[str, list[float]] = {name: [] for name in executors}
    throughput: dict[str, list[float]] = {name: [] for name in executors}
    for _ in range(args.repeats):
        for name, options in executors.items():
            with tempfile.TemporaryDirectory() as workdir, running_service(
                workdir, "--max-concurrent", str(args.service_jobs), *options, env={LOOPBACK_ENV: "0"}
            ) as service:
                outcome = anyio.run(_service_round, measured, service.url, service.headers, latencies[name])
                throughput[name].append(outcome)
    for name, pooled in latencies.items():
        cuts = statistics.quantiles(pooled, n=100)
        print(json.dumps({
            "benchmark": f"service GET /jobs, {args.service_jobs} jobs training, one epoch-level stream each",
            "variant": name, "get_jobs_p50_ms": round(cuts[49] * 1e3, 1), "get_jobs_p99_ms": round(cuts[98] * 1e3, 1),
            "requests": len(pooled), "samples_per_s": round(statistics.median(throughput[name])),
            "repeats": args.repeats,
        }), flush=True)  # fmt: skip


async def _service_round(measured: argparse.Namespace, url: str, headers: dict[str, str], latencies: list[float]) -> float:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        outcome = await once(client, measured, "epoch", latencies)
    return float(outcome["ratio"] * outcome["one_job_samples_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epoch-factor", type=int, default=1, help="jobs N times as long: a job's start weighs less")
    parser.add_argument("--ray-cpus", type=int, help="the local Ray's logical CPUs (default --jobs: every job trains at once)")
    parser.add_argument("--models", nargs="*", choices=["small", "large"], default=["small", "large"])
    parser.add_argument("--service-jobs", type=int, default=4, help="0: skip the service")
    parser.add_argument("--service-epochs", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault(LOOPBACK_ENV, "0")  # before Ray is imported: loopback only
    import ray

    ray.init(address="local", num_cpus=args.ray_cpus or args.jobs, include_dashboard=False, log_to_driver=False)
    try:
        for model, name in zip(("small", "large"), SHAPES):
            if model in args.models:
                bench_jobs(name, args)
    finally:
        ray.shutdown()
    if args.service_jobs:
        bench_service(args)


if __name__ == "__main__":
    main()
