"""Jobs on a local Ray against jobs in process, side by side; prints JSON lines.

    python -m tests.benchmarks.bench_ray [--jobs 4] [--repeats 3]

Run from the repository's root (the Ray workers import this module to build the jobs). For two
models (the small MLP 16-64-64-4 at batch 32, interpreter work under one GIL in process, and the
MLP 784-256-10 at batch 128, BLAS work), ``--jobs`` jobs submitted at once to a
:class:`~trainer.jobs.JobManager`, in process (compute turns, one slot: the default) and on Ray
(``RayExecutor(num_cpus_per_job=1)``, a local Ray of ``--jobs`` logical CPUs on this machine),
alternating, ``--repeats`` times. For each: the total samples per second from submitting to the
last job's end and while every job trained (the last job's first batch to the first job's last),
a job's start (submit to its first batch reaching the manager's bus), an event's trip (its
publication in the worker to its handling on the manager's bus, batch events, same machine so one
monotonic clock), and the event loop's lag meanwhile (a heartbeat sleeping 1 ms). Medians over
the repetitions; lag p99 over all.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from functools import partial
from typing import Any

import anyio
import numpy as np

import trainer
from trainer.events import TrainBatchEnd
from trainer.jobs import JobManager, RayExecutor, TrainingSpec
from trainer.jobs.ray_executor import LOOPBACK_ENV
from trainer.layers import Dense

from .bench_step import CLASSES, FEATURES, HIDDEN

Shape = tuple[int, tuple[int, ...], int, int, int, int]  # features, hidden, classes, samples, batch, epochs
SHAPES: dict[str, Shape] = {
    "mlp_16_64_64_4 batch 32": (16, (64, 64), 4, 8192, 32, 16),
    f"mlp_{FEATURES}_{HIDDEN}_{CLASSES} batch 128": (FEATURES, (HIDDEN,), CLASSES, 12_800, 128, 2),
}


def bench_spec(name: str) -> TrainingSpec:
    """A job's build (module level, so it pickles by reference to a Ray worker)."""
    features, hidden, classes, samples, batch_size, epochs = SHAPES[name]
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(samples, features)).astype(np.float32), rng.integers(0, classes, samples)
    trainer.set_random_seed(0)
    stack = [trainer.Input(shape=(features,)), *(Dense(size, activation="relu") for size in hidden)]
    model = trainer.Sequential([*stack, Dense(classes, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return TrainingSpec(model, x, y, epochs=epochs, batch_size=batch_size)


async def round_of(name: str, jobs_at_once: int, executor: RayExecutor | None) -> dict[str, Any]:
    """One round: ``jobs_at_once`` jobs of ``name``; what it measured."""
    lags: list[float] = []
    trips: list[float] = []
    first_batch: dict[str, float] = {}
    batches: dict[str, list[float]] = {}  # each job's batch ends, on the clock of the process it trains in
    submitted: dict[str, float] = {}
    done = anyio.Event()

    def on_batch(event: TrainBatchEnd) -> None:
        now = time.monotonic()
        trips.append(now - event.time)
        first_batch.setdefault(event.run, now)
        batches.setdefault(event.run, []).append(event.time)

    async def heartbeat() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    async with JobManager(max_concurrent=jobs_at_once, executor=executor) as manager:
        manager.bus.subscribe(TrainBatchEnd, on_batch)
        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeat)
            start = time.monotonic()
            jobs = []
            for _ in range(jobs_at_once):
                job = manager.submit(partial(bench_spec, name))
                submitted[job.id] = time.monotonic()
                jobs.append(job)
            for job in jobs:
                await job.wait()
            elapsed = time.monotonic() - start
            done.set()
    assert all(job.status.value == "completed" for job in jobs), [job.error for job in jobs]
    features, hidden, classes, samples, batch_size, epochs = SHAPES[name]
    total = jobs_at_once * samples * epochs
    # While every job trains: from the last job's first batch to the first job's last one.
    window = (max(times[0] for times in batches.values()), min(times[-1] for times in batches.values()))
    in_window = sum(window[0] < t <= window[1] for times in batches.values() for t in times)
    return {
        "samples_per_s": total / elapsed,
        # None when no moment saw every job training (their starts spread over longer than a job takes)
        "training_samples_per_s": in_window * batch_size / (window[1] - window[0]) if window[1] > window[0] else None,
        "start_s": statistics.median(first_batch[job_id] - submitted[job_id] for job_id in submitted),
        "trip_us": statistics.median(trips) * 1e6,
        "trip_p99_us": statistics.quantiles(trips, n=100)[98] * 1e6,
        "lags": lags,
    }


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def _ratio(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference


def _rounded(value: float | None, digits: int = 0) -> float | None:
    return None if value is None else round(value, digits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault(LOOPBACK_ENV, "0")  # before Ray is imported: loopback only
    import ray

    ray.init(address="local", num_cpus=args.jobs, include_dashboard=False, log_to_driver=False)
    try:
        for name in SHAPES:
            results: dict[str, list[dict[str, Any]]] = {"in_process": [], "ray": []}
            for _ in range(args.repeats):
                results["in_process"].append(anyio.run(round_of, name, args.jobs, None))
                results["ray"].append(anyio.run(round_of, name, args.jobs, RayExecutor(num_cpus_per_job=1)))
            medians = {variant: {key: _median([r[key] for r in rounds]) for key in rounds[0] if key != "lags"}
                       for variant, rounds in results.items()}  # fmt: skip
            for variant, figures in medians.items():
                lags = [lag for r in results[variant] for lag in r["lags"]]
                print(json.dumps({
                    "benchmark": f"jobs_at_once {name}", "variant": variant, "jobs": args.jobs,
                    "samples_per_s": _rounded(figures["samples_per_s"]),
                    "training_samples_per_s": _rounded(figures["training_samples_per_s"]),
                    "vs_in_process": _rounded(
                        _ratio(figures["samples_per_s"], medians["in_process"]["samples_per_s"]), 2),
                    "training_vs_in_process": _rounded(
                        _ratio(figures["training_samples_per_s"], medians["in_process"]["training_samples_per_s"]), 2),
                    "job_start_s": _rounded(figures["start_s"], 3),
                    "event_trip_us": _rounded(figures["trip_us"]),
                    "event_trip_p99_us": _rounded(figures["trip_p99_us"]),
                    "loop_lag_p99_ms": round(1000 * statistics.quantiles(lags, n=100)[98], 2),
                    "repeats": args.repeats, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
                }), flush=True)  # fmt: skip
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
