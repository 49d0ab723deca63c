"""Several fits at once in one application, with and without compute turns; prints JSON lines.

    python -m tests.benchmarks.bench_turns [--runs 4] [--repeats 3]

For two models (a small MLP 16-64-64-4 at batch 32, mostly interpreter work, and the MLP 784-256-10
of bench_step at batch 128, mostly BLAS), one ``fit_async`` alone, then ``--runs`` of them at once
(no turns), then the same inside ``taking_turns(ComputeTurns(slots))`` for each of ``--slots``,
interleaved, ``--repeats`` times. Reports the samples per second of the runs together against one alone (medians)
and the event loop's lag meanwhile (a heartbeat sleeping 1 ms; p99 over every repetition).

Then, for the small MLP, a run with an inline callback at every batch (``TerminateOnNaN`` made to run on the
event loop's thread, as inline ``def`` callbacks do by default) beside a run
with none, without turns and with ``ComputeTurns(1)``: the steps per second of each (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial

import anyio
import numpy as np

import trainer
from trainer import ComputeTurns, taking_turns
from trainer.callbacks import TerminateOnNaN
from trainer.layers import Dense

from .bench_step import CLASSES, FEATURES, HIDDEN

Shape = tuple[int, tuple[int, ...], int, int, int]  # features, hidden sizes, classes, samples, batch size
SHAPES: dict[str, Shape] = {
    "mlp_16_64_64_4 batch 32": (16, (64, 64), 4, 8192, 32),
    f"mlp_{FEATURES}_{HIDDEN}_{CLASSES} batch 128": (FEATURES, (HIDDEN,), CLASSES, 12_800, 128),
}


class LoopTerminateOnNaN(TerminateOnNaN):
    """TerminateOnNaN on the event loop's thread (it runs in the compute thread itself otherwise), so
    the run waits for the loop at every batch, lending its turn meanwhile."""

    delivery = "inline"


def make_run(shape: Shape) -> Callable[[], trainer.Sequential]:
    features, hidden, classes, samples, _ = shape
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(samples, features)).astype(np.float32), rng.integers(0, classes, samples)

    def model() -> trainer.Sequential:
        trainer.set_random_seed(0)
        stack = [trainer.Input(shape=(features,)), *(Dense(size, activation="relu") for size in hidden)]
        built = trainer.Sequential([*stack, Dense(classes, activation="softmax")])
        built.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return built

    model.data = (x, y)  # type: ignore[attr-defined]
    return model


async def together(
    model: Callable[[], trainer.Sequential], shape: Shape, runs: int, slots: int | None, lags: list[float]
) -> float:
    """Seconds for ``runs`` fits at once (one epoch each), while a heartbeat records the loop's lag."""
    x, y = model.data  # type: ignore[attr-defined]
    models = [model() for _ in range(runs)]
    done = anyio.Event()

    async def heartbeat() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        start = time.perf_counter()
        with taking_turns(ComputeTurns(slots)) if slots else nullcontext():
            async with anyio.create_task_group() as fits:
                for each in models:
                    fits.start_soon(partial(each.fit_async, x, y, batch_size=shape[4], epochs=1, verbose=0))
        elapsed = time.perf_counter() - start
        done.set()
    return elapsed


async def beside(model: Callable[[], trainer.Sequential], shape: Shape, slots: int | None) -> tuple[float, float]:
    """Steps per second of a run with an inline callback at every batch, and of its neighbour
    meanwhile (a run with no callbacks, started first and stopped when the other ends)."""
    x, y = model.data  # type: ignore[attr-defined]
    inline, neighbour = model(), model()
    rates: list[float] = []

    def steps(run: trainer.Sequential) -> int:
        assert run.optimizer is not None
        return run.optimizer.iterations

    async def run_with_inline_callback() -> None:
        neighbour_steps, start = steps(neighbour), time.perf_counter()
        await inline.fit_async(x, y, batch_size=shape[4], epochs=2, verbose=0, callbacks=[LoopTerminateOnNaN()])
        elapsed = time.perf_counter() - start
        rates.extend([steps(inline) / elapsed, (steps(neighbour) - neighbour_steps) / elapsed])
        fits.cancel_scope.cancel()

    with taking_turns(ComputeTurns(slots)) if slots else nullcontext():
        async with anyio.create_task_group() as fits:
            fits.start_soon(partial(neighbour.fit_async, x, y, batch_size=shape[4], epochs=10_000, verbose=0))
            await anyio.sleep(0.2)
            fits.start_soon(run_with_inline_callback)
    return rates[0], rates[1]


def print_beside(repeats: int) -> None:
    name, shape = next(iter(SHAPES.items()))
    model = make_run(shape)
    for slots in (None, 1):
        rates = [anyio.run(beside, model, shape, slots) for _ in range(repeats)]
        print(json.dumps({
            "benchmark": f"inline_callback_beside_another {name}",
            "variant": f"taking_turns({slots})" if slots else "at_once",
            "inline_steps_per_s": round(statistics.median(rate for rate, _ in rates)),
            "neighbour_steps_per_s": round(statistics.median(rate for _, rate in rates)),
            "repeats": repeats, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slots", type=int, nargs="+", default=[1, 2], help="compute slots of the turns to try")
    args = parser.parse_args()
    variants = {"alone": (1, None), "at_once": (args.runs, None)}
    variants |= {f"taking_turns({slots})": (args.runs, slots) for slots in args.slots}
    for name, shape in SHAPES.items():
        model = make_run(shape)
        seconds: dict[str, list[float]] = {variant: [] for variant in variants}
        lags: dict[str, list[float]] = {variant: [] for variant in variants}
        for _ in range(args.repeats):
            for variant, (runs, slots) in variants.items():
                seconds[variant].append(anyio.run(together, model, shape, runs, slots, lags[variant]))
        alone = statistics.median(seconds["alone"])
        for variant in list(variants)[1:]:
            rate_vs_alone = args.runs * alone / statistics.median(seconds[variant])
            print(json.dumps({
                "benchmark": f"concurrent_fits {name}", "variant": variant, "runs": args.runs,
                "throughput_vs_one_alone": round(rate_vs_alone, 2),
                "loop_lag_p99_ms": round(1000 * statistics.quantiles(lags[variant], n=100)[98], 2),
                "alone_loop_lag_p99_ms": round(1000 * statistics.quantiles(lags["alone"], n=100)[98], 2),
                "repeats": args.repeats, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            }))  # fmt: skip
    print_beside(args.repeats)


if __name__ == "__main__":
    main()
