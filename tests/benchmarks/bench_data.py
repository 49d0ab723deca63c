"""Benchmark: training from a generator against training from arrays, and how much loading overlaps compute.

MLP 784-256-10 (relu, softmax, sparse_categorical_crossentropy, SGD) on synthetic 12 800 x 784
float32 data, batch 128 (100 batches), one epoch per measurement. Variants, interleaved so machine
noise hits them alike, medians of the repetitions:

* ``arrays``: ``fit(x, y)``, the baseline;
* ``generator``: ``fit(generator)`` of the same batches, ready at once (the cost of the source path:
  each batch is asked of the event loop, loaded in a worker thread, converted in the compute thread);
* ``slow generator``: each ``next()`` first sleeps ``--load-ms`` (I/O, which releases the GIL).
  Without overlap an epoch would take ``arrays + loads``; ``overlap`` is the share of the shorter of
  the two that was hidden: 1.0 when the epoch takes ``max(arrays, loads)``, 0.0 when it takes their sum.

    python tests/benchmarks/bench_data.py [--repeats 5] [--load-ms 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Iterator

import numpy as np

import trainer
from trainer import layers

SAMPLES, FEATURES, HIDDEN, CLASSES, BATCH = 12_800, 784, 256, 10, 128


def build() -> trainer.Sequential:
    trainer.set_random_seed(0)
    model = trainer.Sequential([trainer.Input(shape=(FEATURES,)), layers.Dense(HIDDEN, activation="relu"),
                                layers.Dense(CLASSES, activation="softmax")])  # fmt: skip
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def batches(x: np.ndarray, y: np.ndarray, load_seconds: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(x), BATCH):
        if load_seconds:
            time.sleep(load_seconds)
        yield x[start : start + BATCH], y[start : start + BATCH]


def timed(run: object) -> tuple[float, float]:
    """Wall-clock and CPU seconds (every thread of the process): on a loaded machine the CPU time
    is the steadier figure of what a variant costs."""
    started, cpu = time.perf_counter(), time.process_time()
    run()  # type: ignore[operator]
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--load-ms", type=float, default=3.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.random((SAMPLES, FEATURES), dtype=np.float32)
    y = rng.integers(0, CLASSES, SAMPLES)
    load = args.load_ms / 1000
    variants = {
        "arrays": lambda: build().fit(x, y, batch_size=BATCH, shuffle=False, verbose=0),
        "generator": lambda: build().fit(batches(x, y, 0.0), verbose=0),
        "slow generator": lambda: build().fit(batches(x, y, load), verbose=0),
    }
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, run in variants.items():
            timings[name].append(timed(run))
    medians = {name: statistics.median(wall for wall, _ in values) for name, values in timings.items()}
    cpu = {name: statistics.median(seconds for _, seconds in values) for name, values in timings.items()}
    loads = load * SAMPLES / BATCH
    for name, seconds in medians.items():
        result: dict[str, object] = {"benchmark": "data", "variant": name, "batch_size": BATCH,
                                     "seconds_per_epoch": round(seconds, 4),
                                     "ratio_to_arrays": round(seconds / medians["arrays"], 3),
                                     "cpu_seconds": round(cpu[name], 4),
                                     "cpu_ratio_to_arrays": round(cpu[name] / cpu["arrays"], 3)}  # fmt: skip
        if name == "slow generator":
            hidden = medians["arrays"] + loads - seconds
            result["load_seconds"] = round(loads, 4)
            result["overlap"] = round(hidden / min(medians["arrays"], loads), 3)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
