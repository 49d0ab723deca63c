"""Benchmark: ``fit`` with the slow-writing callbacks against ``fit`` with none, side by side.

MLP 784-256-10 (relu; softmax + sparse_categorical_crossentropy; SGD lr 0.01) on synthetic
float32 data, batch 128, verbose=0. The "callbacks" variant adds ModelCheckpoint (a full model
file every epoch), CSVLogger and RemoteMonitor posting to an HTTP server answering each POST
after 50 ms; the server runs as a subprocess (``tests.http_recorder``), so serving never holds the
measured process's GIL. The "loggers" variant adds TensorBoard (update_freq=50, histogram_freq=1)
and MLflowLogger with a local SQLite store (a file in a temporary directory, its tables made
beforehand: the store then runs in the training process); "loggers_server" the same two with
MLflowLogger sending to a real ``mlflow server`` on 127.0.0.1 (a subprocess with its own SQLite
store, started beforehand; its CPU time per fit is reported too, as ``server_cpu_seconds``). Both
are as a user configures them: MLflow's defaults, its telemetry included. The "stalled_mlflow"
variant adds only an MLflowLogger whose tracking server (the same subprocess as RemoteMonitor's,
answering after 10^6 s) accepts connections and never answers. Each round runs every variant once,
in a new order each round (rotated), so machine noise hits them alike; the median of the rounds is
reported, and the ratio of the medians, both for ``fit`` to return and for training to reach
``on_train_end`` (a stalled logger's bounded wait at the end, ``timeout`` seconds, comes after
that); the median of each round's training time over the none run of that round; and the CPU time
of the process (all its threads), which the machine's load moves much less. With ``--fresh``,
each fit runs in a process of its own, as a script's one fit does: it then pays what a process
pays once (MLflow making its store, say), which later fits in a process do not. Prints one JSON
object per result.

    python -m tests.benchmarks.bench_callbacks [--repeats 3] [--epochs 3] [--samples 60000] [--fresh]
    OPENBLAS_NUM_THREADS=1 python -m tests.benchmarks.bench_callbacks [--variants none,loggers,loggers_server]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil

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
MLFLOW_SERVER_START_SECONDS = 120.0
VARIANTS = ("none", "callbacks", "loggers", "loggers_server", "stalled_mlflow")
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


@contextmanager
def mlflow_server(directory: Path) -> Iterator[tuple[str, psutil.Process]]:
    """A real ``mlflow server`` on 127.0.0.1 with its own SQLite store in ``directory``; yields its
    address once it answers ``/health``, and its process. Stopped (its whole process group) on leaving."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{directory / 'server.db'}", "--default-artifact-root", str(directory / "server-artifacts"),
    ]  # fmt: skip
    # Its background job runners (for MLflow's GenAI jobs) are off: they poll, and share the two cores with the fits.
    environment = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(directory / "mlflow-server.log", "wb") as log, subprocess.Popen(
        command, cwd=directory, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    ) as server:
        try:
            root = f"http://127.0.0.1:{port}"
            wait_until_healthy(root, server)
            yield root, psutil.Process(server.pid)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def wait_until_healthy(root: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + MLFLOW_SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {server.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{root}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.25)
    raise RuntimeError(f"mlflow server did not answer within {MLFLOW_SERVER_START_SECONDS:g} s")


def tree_cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds of ``process`` and its children so far."""
    total = 0.0
    for member in (process, *process.children(recursive=True)):
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


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


def variant_callbacks(variant: str, directory: Path, root: str, stores: dict[str, str], stalled: str) -> list[Callback]:
    if variant == "callbacks":
        return slow_callbacks(directory, root)
    if variant in ("loggers", "loggers_server"):
        return logger_callbacks(directory, stores[variant])
    if variant == "stalled_mlflow":
        return [MLflowLogger("bench", tracking_uri=stalled, timeout=STALLED_TIMEOUT)]
    return []


Timed = tuple[tuple[float, float, float], list[str]]


def fit_in_a_fresh_process(variant: str, args: argparse.Namespace, places: dict[str, Any]) -> Timed:
    """:func:`timed_fit` of ``variant`` in a new process (``--one``), and the callbacks' names: they
    are made before the clock starts, in that process, as a script makes them."""
    command = [
        sys.executable, "-m", "tests.benchmarks.bench_callbacks", "--one", variant, "--places", json.dumps(places),
        "--epochs", str(args.epochs), "--samples", str(args.samples),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, check=True)
    (wall, training, cpu), names = json.loads(done.stdout.splitlines()[-1])
    return (wall, training, cpu), names


def fit_here(variant: str, args: argparse.Namespace, places: dict[str, Any], x: np.ndarray, y: np.ndarray) -> Timed:
    callbacks = variant_callbacks(variant, Path(places["directory"]), places["root"], places["stores"], places["stalled"])
    return timed_fit(x, y, args.epochs, callbacks), [type(callback).__name__ for callback in callbacks]


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
    parser.add_argument("--fresh", action="store_true", help="each fit in a process of its own")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a --fresh fit: this variant, in this process
    parser.add_argument("--places", help=argparse.SUPPRESS)  # its servers, stores and directory (JSON)
    args = parser.parse_args()
    # The stalled variant's logger warns, as it should, at every fit: the figures are what is wanted here.
    warnings.filterwarnings("ignore", message="MLflowLogger: .*MLflow at", category=RuntimeWarning)
    trainer.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(args.samples, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, args.samples)
    if args.one is not None:
        print(json.dumps(fit_here(args.one, args, json.loads(args.places), x, y)), flush=True)
        return
    variants = ("none", *(variant for variant in VARIANTS[1:] if variant in args.variants.split(",")))
    times: dict[str, list[tuple[float, float, float]]] = {variant: [] for variant in variants}
    server_cpu: list[float] = []
    names: dict[str, list[str]] = {}
    with ExitStack() as stack:
        root = stack.enter_context(slow_server())
        stalled = stack.enter_context(slow_server(NEVER))
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        stores = {"loggers": empty_store(directory)}
        server: psutil.Process | None = None
        if "loggers_server" in variants:
            stores["loggers_server"], server = stack.enter_context(mlflow_server(directory))
        places: dict[str, Any] = {"root": root, "stalled": stalled, "stores": stores, "directory": str(directory)}
        for round_ in range(args.repeats):
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                before = tree_cpu_seconds(server) if server is not None and variant == "loggers_server" else 0.0
                timed, names[variant] = fit_in_a_fresh_process(variant, args, places) if args.fresh else fit_here(variant, args, places, x, y)
                times[variant].append(timed)
                if server is not None and variant == "loggers_server":
                    server_cpu.append(tree_cpu_seconds(server) - before)
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
            "fresh_process_per_fit": args.fresh,
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
            # Each run against the none run of its round, then the median: steadier when the load drifts.
            "paired_training_ratio_median": round(statistics.median(
                run[1] / none[1] for run, none in zip(runs, times["none"], strict=True)
            ), 3),
            "median_cpu_seconds": round(cpu, 4),
            "cpu_ratio_to_none": round(cpu / baseline_cpu, 3),
            "paired_cpu_ratio_median": round(statistics.median(
                run[2] / none[2] for run, none in zip(runs, times["none"], strict=True)
            ), 3),
            **({"server_cpu_seconds": round(statistics.median(server_cpu), 4)} if variant == "loggers_server" else {}),
        }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
