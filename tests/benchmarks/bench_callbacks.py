"""Benchmark: ``fit`` with the slow-writing callbacks against ``fit`` with none, side by side.

MLP 784-256-10 (relu; softmax + sparse_categorical_crossentropy; SGD lr 0.01) on synthetic
float32 data, batch 128, verbose=0. The "callbacks" variant adds ModelCheckpoint (a full model
file every epoch), CSVLogger and RemoteMonitor posting to an HTTP server answering each POST
after 50 ms; the server runs as a subprocess (``tests.http_recorder``), so serving never holds the
measured process's GIL. The "loggers" variant adds TensorBoard (update_freq=50, histogram_freq=1)
and MLflowLogger (a SQLite store in a temporary directory, its tables made beforehand); the
"stalled_mlflow" variant adds only an MLflowLogger whose tracking server (the same subprocess,
answering after 10^6 s) accepts connections and never answers. The variants alternate (none,
callbacks, loggers, stalled_mlflow, none, ...) so machine noise hits them alike; the median of the
repetitions is reported, and the ratio of the medians, both for ``fit`` to return and for training
to reach ``on_train_end`` (a stalled logger's bounded wait at the end, ``timeout`` seconds, comes
after that); the median of each repetition's training time over the none run just before it; and
the CPU time of the process (all its threads), which the machine's load moves much less. Prints one JSON object per result.

    python -m tests.benchmarks.bench_callbacks [--repeats 3] [--epochs 3] [--samples 60000]
    OPENBLAS_NUM_THREADS=1 python -m tests.benchmarks.bench_callbacks [--variants none,loggers]
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
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

import trainer
from trainer.callbacks.callback import Callback
from trainer.callbacks.csv_logger import CSVLogger
from trainer.callbacks.mlflow_logger import MLflowLogger
from trainer.callbacks.model_checkpoint import ModelCheckpoint
from trainer.callbacks.remote_monitor import RemoteMonitor
from trainer.callbacks.tensorboard import TensorBoard

from .bench_step import CLASSES, FEATURES, SAMPLES, engine_model

BATCH_SIZE = 128
SERVER_DELAY = 0.05
NEVER = 1e6  # seconds: a server answering after this long is a stalled one
STALLED_TIMEOUT = 1.0  # how long the logger of a stalled server waits for it at the end
VARIANTS = ("none", "callbacks", "loggers", "stalled_mlflow")
REPOSITORY = Path(__file__).parents[2]


@contextmanager
def slow_server(delay: float = SERVER_DELAY) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering each request after ``delay`` seconds; yields its root.

    It runs as a subprocess, which prints its root only once its port accepts connections; it is
    terminated (and waited for) on leaving, whatever happened.
    """
    command = [sys.executable, "-m", "tests.http_recorder", "--delay", str(delay)]
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


def logger_callbacks(directory: Path, store: str) -> list[Callback]:
    return [
        TensorBoard(directory / "tensorboard", update_freq=50, histogram_freq=1),
        MLflowLogger("bench", tracking_uri=store),
    ]


class TrainEndClock(Callback):
    """Inline: the moment training reaches ``on_train_end``."""

    def __init__(self) -> None:
        super().__init__()
        self.at = 0.0

    def on_train_end(self, logs: dict[str, object] | None = None) -> None:
        self.at = time.perf_counter()


def timed_fit(x: np.ndarray, y: np.ndarray, epochs: int, callbacks: list[Callback]) -> tuple[float, float, float]:
    """Seconds for ``fit`` to return, for training to reach ``on_train_end``, and of CPU (every
    thread of the process: what the callbacks cost in work, whatever the machine's load)."""
    model, clock = engine_model(), TrainEndClock()
    started, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=epochs, verbose=0, callbacks=[*callbacks, clock])
    return time.perf_counter() - started, clock.at - started, time.process_time() - cpu


def variant_callbacks(variant: str, directory: Path, root: str, store: str, stalled: str) -> list[Callback]:
    if variant == "callbacks":
        return slow_callbacks(directory, root)
    if variant == "loggers":
        return logger_callbacks(directory, store)
    if variant == "stalled_mlflow":
        return [MLflowLogger("bench", tracking_uri=stalled, timeout=STALLED_TIMEOUT)]
    return []


def empty_store(directory: Path) -> str:
    """A SQLite tracking store with its tables made, so no fit measured pays for that."""
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{directory / 'mlflow.db'}"
    MlflowClient(tracking_uri=store).search_experiments()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="which, comma-separated; none always runs")
    args = parser.parse_args()
    # The stalled variant's logger warns, as it should, at every fit: the figures are what is wanted here.
    warnings.filterwarnings("ignore", message="MLflowLogger: .*MLflow at", category=RuntimeWarning)
    trainer.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(args.samples, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, args.samples)
    variants = ("none", *(variant for variant in VARIANTS[1:] if variant in args.variants.split(",")))
    times: dict[str, list[tuple[float, float, float]]] = {variant: [] for variant in variants}
    names: dict[str, list[str]] = {}
    with slow_server() as root, slow_server(NEVER) as stalled, tempfile.TemporaryDirectory() as directory:
        store = empty_store(Path(directory))
        for _ in range(args.repeats):
            for variant in variants:
                callbacks = variant_callbacks(variant, Path(directory), root, store, stalled)
                names[variant] = [type(callback).__name__ for callback in callbacks]
                times[variant].append(timed_fit(x, y, args.epochs, callbacks))
    baseline = statistics.median(run[0] for run in times["none"])
    baseline_training = statistics.median(run[1] for run in times["none"])
    baseline_cpu = statistics.median(run[2] for run in times["none"])
    for variant, runs in times.items():
        median = statistics.median(run[0] for run in runs)
        training = statistics.median(run[1] for run in runs)
        cpu = statistics.median(run[2] for run in runs)
        print(json.dumps({
            "benchmark": "fit_with_slow_callbacks_mlp_784_256_10",
            "variant": variant,
            "callbacks": names[variant],
            "batch_size": BATCH_SIZE,
            "epochs": args.epochs,
            "samples": args.samples,
            "server_delay_seconds": NEVER if variant == "stalled_mlflow" else SERVER_DELAY,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
            "repeats": args.repeats,
            "median_seconds": round(median, 4),
            "runs_seconds": [round(run[0], 4) for run in runs],
            "ratio_to_none": round(median / baseline, 3),
            "median_training_seconds": round(training, 4),
            "training_ratio_to_none": round(training / baseline_training, 3),
            # Each run against the none run just before it, then the median: steadier when the load drifts.
            "paired_training_ratio_median": round(statistics.median(
                run[1] / none[1] for run, none in zip(runs, times["none"], strict=True)
            ), 3),
            "median_cpu_seconds": round(cpu, 4),
            "cpu_ratio_to_none": round(cpu / baseline_cpu, 3),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
