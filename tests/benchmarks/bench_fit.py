"""fit's overhead and its slow hooks, side by side; prints one JSON object per result.

    python -m tests.benchmarks.bench_fit [--repeats 3] [--batch-size 128]
    OPENBLAS_NUM_THREADS=1 python -m tests.benchmarks.bench_fit

MLP 784-256-10 on 60 000 synthetic samples (the shapes of bench_step), one epoch per measurement,
variants interleaved so machine noise hits them alike, medians reported:

* ``fit`` (no user callbacks, ``shuffle=False``) against the bare numpy loop of bench_step;
* ``fit`` with an ``async def`` batch hook awaiting ``anyio.sleep(0.001)``, and with a queued ``def``
  batch hook calling ``time.sleep(0.001)``, against ``fit`` with none, and against the floor: a
  subscriber handles its events one at a time, so one epoch takes at least as long as the hook's
  sleeps alone (``hook_alone``: the same number of 1 ms sleeps on an idle event loop);
* the event loop's lag while ``fit_async`` trains: a heartbeat task sleeping 1 ms in a loop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import anyio
import numpy as np

from trainer import Callback

from .bench_step import CLASSES, FEATURES, SAMPLES, bare_epoch, engine_model


class AsyncSleepHook(Callback):
    """Queued (it is async def): awaits 1 ms per batch, as a logger sending progress would."""

    async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        await anyio.sleep(0.001)


class BlockingSleepHook(Callback):
    """Queued def: blocks 1 ms per batch in its worker thread, as a synchronous upload would."""

    delivery = "queued"

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        time.sleep(0.001)


def fit_epoch(callbacks: Callable[[], list[Callback]]) -> Callable[[np.ndarray, np.ndarray, int], None]:
    def epoch(x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        engine_model().fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=callbacks())

    return epoch


VARIANTS = {
    "bare": bare_epoch,
    "fit": fit_epoch(list),
    "fit_async_sleep_hook": fit_epoch(lambda: [AsyncSleepHook()]),
    "fit_queued_blocking_sleep_hook": fit_epoch(lambda: [BlockingSleepHook()]),
}
RATIOS = {"fit": "bare", "fit_async_sleep_hook": "fit", "fit_queued_blocking_sleep_hook": "fit"}


def hook_alone(x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    async def sleeps() -> None:
        for _ in range(-(-len(x) // batch_size)):
            await anyio.sleep(0.001)

    anyio.run(sleeps)


VARIANTS["hook_alone"] = hook_alone


def time_variants(x: np.ndarray, y: np.ndarray, batch_size: int, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(repeats):
        for name, epoch in VARIANTS.items():
            started = time.perf_counter()
            epoch(x, y, batch_size)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(samples) for name, samples in times.items()}


def hook_floor(medians: dict[str, float]) -> float:
    """The least time an epoch with a 1 ms-per-batch hook can take: compute and hook overlap at best."""
    return max(medians["fit"], medians["hook_alone"])


async def loop_lag(x: np.ndarray, y: np.ndarray, batch_size: int) -> list[float]:
    """Seconds each 1 ms heartbeat overslept while fit_async trained one epoch."""
    lags: list[float] = []

    async def heartbeat() -> None:
        while True:
            started = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        await engine_model().fit_async(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        tg.cancel_scope.cancel()
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, SAMPLES)
    context = {"batch_size": args.batch_size, "repeats": args.repeats,
               "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}  # fmt: skip
    medians = time_variants(x, y, args.batch_size, args.repeats)
    for name, median in medians.items():
        result = {"benchmark": "fit_epoch_mlp_784_256_10", "variant": name, "median_seconds_per_epoch": round(median, 4)}
        if name in RATIOS:
            result[f"ratio_to_{RATIOS[name]}"] = round(median / medians[RATIOS[name]], 3)
        if name.endswith("sleep_hook"):
            result["ratio_to_floor"] = round(median / hook_floor(medians), 3)
        print(json.dumps({**result, **context}), flush=True)
    for backend in ("asyncio", "trio"):
        lags = sorted(anyio.run(loop_lag, x, y, args.batch_size, backend=backend))
        print(json.dumps({
            "benchmark": "event_loop_lag_during_fit_async", "backend": backend, "heartbeats": len(lags),
            "p50_ms": round(1000 * lags[len(lags) // 2], 2), "p99_ms": round(1000 * lags[int(len(lags) * 0.99)], 2),
            "max_ms": round(1000 * lags[-1], 2), **context,
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
