"""Benchmark: ``fit`` with the slow-writing callbacks against ``fit`` with none, side by side.

MLP 784-256-10 (relu; softmax + sparse_categorical_crossentropy; SGD lr 0.01) on synthetic
float32 data, batch 128, verbose=0. The "callbacks" variant adds ModelCheckpoint (a full model
file every epoch), CSVLogger and RemoteMonitor posting to an HTTP server answering each POST
after 50 ms; the server runs as a subprocess (``tests.http_recorder``), so serving never holds the
measured process's GIL. The variants alternate (none, callbacks, none, ...) so machine noise hits
them alike; the median of the repetitions is reported, and the ratio of the medians. Prints one
JSON object per result.

    python -m tests.benchmarks.bench_callbacks [--repeats 3] [--epochs 3] [--samples 60000]
    OPENBLAS_NUM_THREADS=1 python -m tests.benchmarks.bench_callbacks
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import trainer
from trainer.callbacks.callback import Callback
from trainer.callbacks.csv_logger import CSVLogger
from trainer.callbacks.model_checkpoint import ModelCheckpoint
from trainer.callbacks.remote_monitor import RemoteMonitor

from .bench_step import CLASSES, FEATURES, SAMPLES, engine_model

BATCH_SIZE = 128
SERVER_DELAY = 0.05
REPOSITORY = Path(__file__).parents[2]


@contextmanager
def slow_server() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering each POST after ``SERVER_DELAY`` seconds; yields its root.

    It runs as a subprocess, which prints its root only once its port accepts connections; it is
    terminated (and waited for) on leaving, whatever happened.
    """
    command = [sys.executable, "-m", "tests.http_recorder", "--delay", str(SERVER_DELAY)]
    with subprocess.Popen(command, cwd=REPOSITORY, stdout=subprocess.PIPE, text=True) as server:
        try:
            yield read_root(server)
        finally:
            server.terminate()
            server.wait(timeout=30)


def read_root(server: subprocess.Popen[str]) -> str:
    """The root address the server prints on its first line; raises if it exits without printing one."""
    assert server.stdout is not None
    root = server.stdout.readline().strip()
    if not root.startswith("http://"):
        raise RuntimeError(f"the HTTP server exited with {server.wait()} before printing its address")
    return root


def slow_callbacks(directory: Path, root: str) -> list[Callback]:
    return [
        ModelCheckpoint(directory / "model-{epoch:02d}.model.npz"),
        CSVLogger(directory / "log.csv"),
        RemoteMonitor(root=root),
    ]


def timed_fit(x: np.ndarray, y: np.ndarray, epochs: int, callbacks: list[Callback]) -> float:
    model = engine_model()
    started = time.perf_counter()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, callbacks=callbacks)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    args = parser.parse_args()
    trainer.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(args.samples, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, args.samples)
    times: dict[str, list[float]] = {"none": [], "callbacks": []}
    names: dict[str, list[str]] = {"none": []}
    with slow_server() as root, tempfile.TemporaryDirectory() as directory:
        for _ in range(args.repeats):
            times["none"].append(timed_fit(x, y, args.epochs, []))
            callbacks = slow_callbacks(Path(directory), root)
            names["callbacks"] = [type(callback).__name__ for callback in callbacks]
            times["callbacks"].append(timed_fit(x, y, args.epochs, callbacks))
    baseline = statistics.median(times["none"])
    for variant, runs in times.items():
        median = statistics.median(runs)
        print(json.dumps({
            "benchmark": "fit_with_slow_callbacks_mlp_784_256_10",
            "variant": variant,
            "callbacks": names[variant],
            "batch_size": BATCH_SIZE,
            "epochs": args.epochs,
            "samples": args.samples,
            "server_delay_seconds": SERVER_DELAY,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "repeats": args.repeats,
            "median_seconds": round(median, 4),
            "runs_seconds": [round(run, 4) for run in runs],
            "ratio_to_none": round(median / baseline, 3),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
