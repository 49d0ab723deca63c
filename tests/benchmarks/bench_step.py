"""Benchmark: the engine's training step against a bare numpy loop of the same maths.

MLP 784-256-10 (relu; softmax + sparse_categorical_crossentropy; SGD lr 0.01) on synthetic
60 000 x 784 float32 data, one epoch per measurement. For each batch size the variants run
interleaved (bare, core, train_on_batch, bare, ...) so machine noise hits them alike; the median
of the repetitions is reported, with the ratio to the bare loop, and each variant's peak traced
memory over one further epoch. Prints one JSON object per result.

    python tests/benchmarks/bench_step.py [--repeats 5] [--batch-sizes 32 128 512]
    OPENBLAS_NUM_THREADS=1 python tests/benchmarks/bench_step.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import trainer
from trainer import layers

SAMPLES, FEATURES, HIDDEN, CLASSES = 60_000, 784, 256, 10
LEARNING_RATE = 0.01
EPSILON = np.float32(1e-7)

Epoch = Callable[[np.ndarray, np.ndarray, int], None]


def initial_weights(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    limit1, limit2 = np.sqrt(6 / (FEATURES + HIDDEN)), np.sqrt(6 / (HIDDEN + CLASSES))
    return [
        rng.uniform(-limit1, limit1, (FEATURES, HIDDEN)).astype(np.float32),
        np.zeros(HIDDEN, np.float32),
        rng.uniform(-limit2, limit2, (HIDDEN, CLASSES)).astype(np.float32),
        np.zeros(CLASSES, np.float32),
    ]


def softmax_crossentropy(z: np.ndarray, labels: np.ndarray) -> tuple[np.float32, np.ndarray]:
    """Keras's sparse crossentropy on the normalised, clipped softmax of ``z``: the batch's mean loss and
    its gradient with respect to ``z``."""
    n, rows = len(z), np.arange(len(z))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    s = p.sum(axis=1)
    q = p[rows, labels] / s
    loss = np.float32(-np.log(np.clip(q, EPSILON, 1 - EPSILON)).mean())
    live = ((q >= EPSILON) & (q <= 1 - EPSILON)).astype(np.float32)
    dz = p * (live / s)[:, None]
    dz[rows, labels] -= live
    dz /= np.float32(n)
    return loss, dz


def bare_epoch(x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    """Keras's maths written out: forward, clipped crossentropy on normalised softmax, backward, SGD."""
    w1, b1, w2, b2 = initial_weights()
    lr = np.float32(LEARNING_RATE)
    total = np.float32(0)
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        h = np.maximum(xb @ w1 + b1, 0)
        loss, dz = softmax_crossentropy(h @ w2 + b2, yb)
        total += loss * len(xb)
        dw2, db2 = h.T @ dz, dz.sum(axis=0)
        dh = dz @ w2.T
        dh *= h > 0
        dw1, db1 = xb.T @ dh, dh.sum(axis=0)
        w1 -= lr * dw1
        b1 -= lr * db1
        w2 -= lr * dw2
        b2 -= lr * db2


def engine_model() -> trainer.Sequential:
    model = trainer.Sequential(
        [trainer.Input(shape=(FEATURES,)), layers.Dense(HIDDEN, activation="relu"), layers.Dense(CLASSES, activation="softmax")]
    )
    model.compile(optimizer=trainer.optimizers.SGD(learning_rate=LEARNING_RATE), loss="sparse_categorical_crossentropy")
    model.set_weights(initial_weights())
    return model


def core_epoch(x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    """What the training loop does: validate once, then the per-batch core."""
    model = engine_model()
    x, y, _ = model._validate_data(x, y)
    model.reset_metrics()
    for start in range(0, len(x), batch_size):
        model._train_step(x[start : start + batch_size], y[start : start + batch_size])


def train_on_batch_epoch(x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    """The public per-batch API, validating every call."""
    model = engine_model()
    for start in range(0, len(x), batch_size):
        model.train_on_batch(x[start : start + batch_size], y[start : start + batch_size])


VARIANTS: dict[str, Epoch] = {"bare": bare_epoch, "core": core_epoch, "train_on_batch": train_on_batch_epoch}


def peak_megabytes(epoch: Epoch, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    tracemalloc.start()
    epoch(x, y, batch_size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, SAMPLES)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    for batch_size in args.batch_sizes:
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.repeats):
            for name, epoch in VARIANTS.items():
                started = time.perf_counter()
                epoch(x, y, batch_size)
                times[name].append(time.perf_counter() - started)
        bare = statistics.median(times["bare"])
        for name, epoch in VARIANTS.items():
            median = statistics.median(times[name])
            print(json.dumps({
                "benchmark": "train_epoch_mlp_784_256_10",
                "variant": name,
                "batch_size": batch_size,
                "openblas_threads": threads,
                "repeats": args.repeats,
                "median_seconds_per_epoch": round(median, 4),
                "ratio_to_bare": round(median / bare, 3),
                "peak_traced_mb": round(peak_megabytes(epoch, x, y, batch_size), 1),
            }), flush=True)


if __name__ == "__main__":
    main()
