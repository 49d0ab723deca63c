"""Benchmark: one training epoch of Keras's MNIST convnet, the engine against PyTorch and Keras.

The model of Keras's "simple MNIST convnet" example: Conv2D(32, 3, relu), MaxPooling2D(2),
Conv2D(64, 3, relu), MaxPooling2D(2), Flatten, Dropout(0.5), Dense(10, softmax); Adam,
sparse_categorical_crossentropy; batch 128, on synthetic 28x28x1 float32 images. Variants, run
interleaved (trainer, torch, keras, trainer, ...) so machine noise hits them alike, the median of
the repetitions reported:

- `trainer`: this engine's `model.fit(..., epochs=1)`;
- `torch_eager`: a plain PyTorch eager loop of the same model (NCHW, CrossEntropyLoss on logits);
- `keras_torch`: Keras 3 on the torch backend, `model.fit(..., epochs=1)`.

Torch and Keras are optional: without them (or with only torch) the benchmark measures what it can
and says what it skipped. It also measures the machine's float32 GEMM throughput (numpy, a square
1024 product) and reports the fraction of it that each step reaches (`gemm_fraction`, by wall time;
`gemm_fraction_cpu`, by CPU time of all threads), counting the convolutions' and the dense layer's
multiply-adds forward and backward. Prints one JSON object per result, with wall and
CPU seconds per epoch (on a loaded machine the CPU time of `--threads 1` runs is the steadier figure).

    python tests/benchmarks/bench_conv.py [--samples 2560] [--repeats 5] [--threads N]
    # with torch and Keras, from a scratch environment that has them:
    PYTHONPATH=. KERAS_BACKEND=torch /work/wt/keras-venv/bin/python tests/benchmarks/bench_conv.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

BATCH, ROWS, CLASSES = 128, 28, 10


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2560, help="images per epoch (a multiple of 128 is fairest)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="BLAS and torch threads (default: the libraries' own choice)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["torch_eager", "keras_torch"])
    return parser.parse_args()


ARGS = parse() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads:  # before numpy loads its BLAS
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

import trainer  # noqa: E402
from trainer import layers  # noqa: E402

Epoch = Callable[[], None]


def step_flops(batch: int) -> float:
    """Multiply-adds x 2 of one training step: forward, weight gradients, input gradients (none for the first layer)."""
    conv1 = 2 * batch * 26 * 26 * (3 * 3 * 1) * 32
    conv2 = 2 * batch * 11 * 11 * (3 * 3 * 32) * 64
    dense = 2 * batch * (5 * 5 * 64) * CLASSES
    return 2 * conv1 + 3 * conv2 + 3 * dense


def gemm_flops_per_second(size: int = 1024) -> tuple[float, float]:
    """float32 FLOP/s of a square numpy product: per wall second, and per CPU second of all threads."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(4):
        np.matmul(a, b, out=out)
    flops = 4 * 2 * size**3
    return flops / (time.perf_counter() - started), flops / (time.process_time() - cpu_started)


def trainer_epoch(x: np.ndarray, y: np.ndarray) -> Epoch:
    trainer.set_random_seed(0)
    model = trainer.Sequential([
        trainer.Input(shape=(ROWS, ROWS, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(CLASSES, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0) and None


def torch_epoch(x: np.ndarray, y: np.ndarray, threads: int | None) -> Epoch:
    import torch

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Dropout(0.5), torch.nn.Linear(5 * 5 * 64, CLASSES),
    )  # fmt: skip
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(y.astype(np.int64))

    def epoch() -> None:
        net.train()
        for start in range(0, len(images), BATCH):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(images[start : start + BATCH]), labels[start : start + BATCH])
            loss.backward()
            optimizer.step()

    return epoch


def keras_epoch(x: np.ndarray, y: np.ndarray) -> Epoch:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(ROWS, ROWS, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0) and None


def variants(x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> tuple[dict[str, Epoch], dict[str, str]]:
    made: dict[str, Epoch] = {"trainer": trainer_epoch(x, y)}
    skipped: dict[str, str] = {}
    builders: dict[str, Callable[[], Epoch]] = {
        "torch_eager": lambda: torch_epoch(x, y, args.threads),
        "keras_torch": lambda: keras_epoch(x, y),
    }
    for name, build in builders.items():
        if name in args.skip:
            skipped[name] = "skipped by --skip"
            continue
        try:
            made[name] = build()
        except ImportError as error:
            skipped[name] = f"not installed here ({error.name})"
    return made, skipped


def main(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (args.samples, ROWS, ROWS, 1)).astype(np.float32)
    y = rng.integers(0, CLASSES, args.samples).astype(np.int32)
    epochs, skipped = variants(x, y, args)
    for epoch in epochs.values():  # warm-up: builds, allocations, first-call costs
        epoch()
    times: dict[str, list[float]] = {name: [] for name in epochs}
    cpu: dict[str, list[float]] = {name: [] for name in epochs}
    gemm: list[tuple[float, float]] = []
    for _ in range(args.repeats):
        gemm.append(gemm_flops_per_second())
        for name, epoch in epochs.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            epoch()
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    machine = statistics.median(wall for wall, _ in gemm)
    machine_cpu = statistics.median(cpu_rate for _, cpu_rate in gemm)
    steps = -(-args.samples // BATCH)
    flops = step_flops(BATCH) * (args.samples // BATCH) + step_flops(args.samples % BATCH)
    context: dict[str, Any] = {
        "samples": args.samples,
        "steps": steps,
        "threads": args.threads or "library default",
        "gemm_gflops": round(machine / 1e9, 2),
        "gemm_gflops_per_cpu_second": round(machine_cpu / 1e9, 2),
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    reference = statistics.median(times["trainer"])
    for name, measured in times.items():
        seconds = statistics.median(measured)
        result = {
            "benchmark": "conv_mnist_epoch",
            "variant": name,
            "batch_size": BATCH,
            "seconds_per_epoch": round(seconds, 4),
            "seconds_per_epoch_all": [round(t, 4) for t in measured],
            "ms_per_step": round(1000 * seconds / steps, 2),
            # CPU time of every thread: on a loaded machine, steadier than wall time (compare with --threads 1)
            "cpu_seconds_per_epoch": round(statistics.median(cpu[name]), 4),
            "gemm_fraction": round(flops / seconds / machine, 3),
            "gemm_fraction_cpu": round(flops / statistics.median(cpu[name]) / machine_cpu, 3),
            "trainer_speedup": round(seconds / reference, 2),
            **context,
        }
        print(json.dumps(result))
    for name, reason in skipped.items():
        print(json.dumps({"benchmark": "conv_mnist_epoch", "variant": name, "skipped": reason}))


if __name__ == "__main__":
    assert ARGS is not None
    main(ARGS)
