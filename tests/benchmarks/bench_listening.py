"""The cost of listening to batch events, side by side; prints one JSON object per result.

    python -m tests.benchmarks.bench_listening [--repeats 7] [--samples 40000]
    python -m tests.benchmarks.bench_listening --keras-python /work/wt/keras-venv/bin/python
    python -m tests.benchmarks.bench_listening --instructions [--samples 20000]

A small MLP 16-64-64-4 (relu, softmax + sparse_categorical_crossentropy, SGD 0.01), batch 32, one
epoch of synthetic data per measurement, ``shuffle=False``, interpreter work rather than BLAS: where
the engine's per-batch costs show most. The variants alternate, in a new order each round, so machine
noise hits them alike; medians are reported, with each variant's ratio to ``fit`` at ``verbose=0`` and its extra cost per
batch (``delta_us_per_batch``), in wall-clock time and in the process's CPU time (every thread's; on a
shared machine the steadier of the two, since it leaves out the time other processes held the cores):

* ``bare``: the same maths as a plain numpy loop, no framework; ``fit_verbose_0`` is compared with it
  in samples per second (``fit_over_bare_samples_per_second``);
* ``fit_verbose_1`` / ``fit_verbose_2``: the progress bar (written to an in-memory stream);
* ``one_thread_hook``: one ``delivery = "thread"`` callback with a no-op ``on_train_batch_end``;
* ``one_loop_inline_hook``: the same as a plain inline callback, run on the event loop's thread;
* ``ten_queued_async_hooks``: ten callbacks with a no-op ``async def on_train_batch_end``.

Then the listening alone (``listening_delivery_alone``): the same batch events published from a compute
thread through a real run's bus to the same listeners, with a stand-in for the maths between them (80 µs
holding the interpreter, as a step does), so the figure is
the delivery's own cost per batch in CPU time above a run nobody listens to at batch level: the whole
process's (``cpu_us_per_batch``: compute thread, event loop and worker threads, the final drain included)
and the compute thread's alone. CPU time is steady where wall-clock time is not, on a busy machine.

Then the event loop's lag (a heartbeat sleeping 1 ms) while ``fit_async`` trains with the progress bar
and the ten queued hooks, on asyncio and trio, beside the lag of an idle loop on the same machine. With ``--keras-python``, the same model in Keras 3
(whatever ``KERAS_BACKEND`` that interpreter gets, ``jax`` by default) at ``verbose=0`` / ``1`` and
with one synchronous no-op batch hook, run in that interpreter (never a dependency of this project).

With ``--instructions``, instead of timing, each variant's instructions are counted with valgrind
(:mod:`.instructions`; every thread's, one BLAS thread), the steady measure where timings swing: per
batch (a step's own cost, between an epoch and one twice as long) and for a whole epoch of
``--samples`` (model building and the fit's setting up included), ``fit_over_bare_*`` and each
variant's ratios to ``fit_verbose_0``. Under valgrind a program runs some 50 times slower, so what
happens every so many seconds happens some 50 times more often per batch: the bar's redraws (every
``interval``) and the handoff's wake-ups of the loop (its gathers last up to 5 ms) are counted as
if a step took 4 ms; their figures are upper bounds. Valgrind also runs threads one at a time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import instructions
from .bench_step import softmax_crossentropy

FEATURES, HIDDEN, CLASSES, BATCH_SIZE = 16, 64, 4, 32
LEARNING_RATE = 0.01


def data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.normal(size=(samples, FEATURES)).astype(np.float32), rng.integers(0, CLASSES, samples)


def initial_weights() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    sizes = [(FEATURES, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, CLASSES)]
    weights = []
    for fan_in, fan_out in sizes:
        limit = np.sqrt(6 / (fan_in + fan_out))
        weights += [rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32), np.zeros(fan_out, np.float32)]
    return weights


def bare_epoch(x: np.ndarray, y: np.ndarray) -> None:
    """Keras's maths written out: relu layers, clipped crossentropy on normalised softmax, backward, SGD."""
    weights = initial_weights()
    layers = list(zip(weights[::2], weights[1::2]))
    lr = np.float32(LEARNING_RATE)
    total = np.float32(0)
    for start in range(0, len(x), BATCH_SIZE):
        xb, yb = x[start : start + BATCH_SIZE], y[start : start + BATCH_SIZE]
        inputs = [xb]
        for kernel, bias in layers[:-1]:
            inputs.append(np.maximum(inputs[-1] @ kernel + bias, 0))
        loss, grad = softmax_crossentropy(inputs[-1] @ layers[-1][0] + layers[-1][1], yb)
        total += loss * len(xb)
        for index in range(len(layers) - 1, -1, -1):
            kernel, bias = layers[index]
            kernel_grad, bias_grad = inputs[index].T @ grad, grad.sum(axis=0)
            if index:
                grad = grad @ kernel.T
                grad *= inputs[index] > 0
            kernel -= lr * kernel_grad
            bias -= lr * bias_grad


def engine_model() -> Any:
    import trainer
    from trainer.layers import Dense

    model = trainer.Sequential([
        trainer.Input(shape=(FEATURES,)), Dense(HIDDEN, activation="relu"), Dense(HIDDEN, activation="relu"),
        Dense(CLASSES, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer=trainer.optimizers.SGD(learning_rate=LEARNING_RATE), loss="sparse_categorical_crossentropy")
    model.set_weights(initial_weights())
    return model


def hook_classes() -> dict[str, type]:
    from trainer import Callback

    class ThreadHook(Callback):
        delivery = "thread"

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    class LoopInlineHook(Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    class QueuedAsyncHook(Callback):
        async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    return {"thread": ThreadHook, "loop": LoopInlineHook, "queued": QueuedAsyncHook}


def fit_epoch(verbose: int, callbacks: Callable[[], list[Any]]) -> Callable[[np.ndarray, np.ndarray], None]:
    def epoch(x: np.ndarray, y: np.ndarray) -> None:
        model = engine_model()
        with contextlib.redirect_stdout(io.StringIO()):
            model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=verbose, callbacks=callbacks())

    return epoch


def variants() -> dict[str, Callable[[np.ndarray, np.ndarray], None]]:
    hooks = hook_classes()
    return {
        "bare": bare_epoch,
        "fit_verbose_0": fit_epoch(0, list),
        "fit_verbose_1": fit_epoch(1, list),
        "fit_verbose_2": fit_epoch(2, list),
        "one_thread_hook": fit_epoch(0, lambda: [hooks["thread"]()]),
        "one_loop_inline_hook": fit_epoch(0, lambda: [hooks["loop"]()]),
        "ten_queued_async_hooks": fit_epoch(0, lambda: [hooks["queued"]() for _ in range(10)]),
    }


def time_variants(x: np.ndarray, y: np.ndarray, repeats: int) -> dict[str, tuple[float, float]]:
    """Each variant's median wall-clock and CPU seconds (the process's, every thread's)."""
    chosen = variants()
    for epoch in chosen.values():
        epoch(x[:320], y[:320])  # warm up: imports, first calls
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
    for repeat in range(repeats):
        # A new order each round: a variant right after another (the bare loop, say) runs faster or
        # slower for it, and a fixed order would give that to the same variant every time.
        for name in random.Random(repeat).sample(list(chosen), len(chosen)):
            epoch = chosen[name]
            started, cpu = time.perf_counter(), time.process_time()
            epoch(x, y)
            times[name].append((time.perf_counter() - started, time.process_time() - cpu))
    return {
        name: (statistics.median(wall for wall, _ in samples), statistics.median(cpu for _, cpu in samples))
        for name, samples in times.items()
    }


async def loop_lag(x: np.ndarray, y: np.ndarray, train: bool = True) -> list[float]:
    """Seconds each 1 ms heartbeat overslept while fit_async trained with the bar and ten queued hooks
    (or, if not ``train``, for as long with nothing else running: what the machine itself adds)."""
    import anyio

    lags: list[float] = []
    queued = hook_classes()["queued"]

    async def heartbeat() -> None:
        while True:
            started = time.perf_counter()
            await anyio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    model = engine_model()
    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        if not train:
            await anyio.sleep(1.0)
            tg.cancel_scope.cancel()
            return lags
        with contextlib.redirect_stdout(io.StringIO()):
            await model.fit_async(
                x, y, batch_size=BATCH_SIZE, epochs=1, shuffle=False, verbose=1, callbacks=[queued() for _ in range(10)]
            )
        tg.cancel_scope.cancel()
    return lags


def delivery_configs() -> dict[str, tuple[int, Callable[[], list[Any]]]]:
    """Listeners of a run, as fit sets them up: (verbose, callbacks); History and the bar as fit adds them."""
    from trainer.callbacks import History, ProgbarLogger

    hooks = hook_classes()

    def bar() -> list[Any]:
        return [History(), ProgbarLogger(stream=io.StringIO())]

    return {
        "fit_verbose_0": (0, lambda: [History()]),
        "fit_verbose_1": (1, bar),
        "fit_verbose_2": (2, bar),
        "one_thread_hook": (0, lambda: [hooks["thread"](), History()]),
        "one_loop_inline_hook": (0, lambda: [hooks["loop"](), History()]),
        "ten_queued_async_hooks": (0, lambda: [*(hooks["queued"]() for _ in range(10)), History()]),
    }


STEP_SECONDS = 80e-6
"""What a step of the small MLP takes here, about: the spacing of batch events in ``delivery_cost``."""


def _step() -> None:
    """Stand in for a step's maths: hold the interpreter for :data:`STEP_SECONDS`, as numpy's small
    operations do (they keep the GIL), so the event loop sees events come as a training run sends them."""
    until = time.perf_counter() + STEP_SECONDS
    while time.perf_counter() < until:
        pass


async def delivery_cost(verbose: int, callbacks: list[Any], batches: int) -> tuple[float, float]:
    """Publish ``batches`` batch events (begin and end, as the training loop does) from a compute thread
    to a run's listeners, a stand-in step between them; return the process's CPU seconds for the whole
    run, its drain included, and the compute thread's own."""
    import anyio
    import anyio.to_thread

    from trainer.events import TrainBatchBegin, TrainBatchEnd
    from trainer.run import open_run

    model = engine_model()
    model.reset_metrics()
    params = {"verbose": verbose, "epochs": 1, "steps": batches}

    def publish(run: Any) -> float:
        started = time.thread_time()
        begins, ends = run.wants(TrainBatchBegin), run.wants(TrainBatchEnd)
        for batch in range(batches):
            run.checkpoint()
            if begins:
                run.emit(TrainBatchBegin, {}, batch)
            _step()
            if ends:
                run.emit(TrainBatchEnd, model.get_metrics_result(), batch)
        return time.thread_time() - started

    started = time.process_time()
    async with open_run("fit", model, callbacks, params, None) as run:
        in_thread = await anyio.to_thread.run_sync(publish, run, limiter=anyio.CapacityLimiter(1))
    return time.process_time() - started, in_thread


def time_deliveries(batches: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Medians of :func:`delivery_cost` per listener configuration, alternating."""
    import anyio

    configs = delivery_configs()
    costs: dict[str, list[tuple[float, float]]] = {name: [] for name in configs}
    for _ in range(repeats):
        for name, (verbose, callbacks) in configs.items():
            costs[name].append(anyio.run(delivery_cost, verbose, callbacks(), batches))
    return {
        name: (statistics.median(cpu for cpu, _ in samples), statistics.median(thread for _, thread in samples))
        for name, samples in costs.items()
    }


KERAS_WORKER = r'''
import contextlib, io, json, os, statistics, sys, time
os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np, keras
samples, repeats = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(1)
x = rng.normal(size=(samples, 16)).astype(np.float32); y = rng.integers(0, 4, samples)
class Hook(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None): pass
def model():
    m = keras.Sequential([keras.Input(shape=(16,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(64, activation="relu"), keras.layers.Dense(4, activation="softmax")])
    m.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    return m
def run(verbose, callbacks):
    m = model()
    m.fit(x[:320], y[:320], batch_size=32, epochs=1, verbose=0, shuffle=False)  # compile the step first
    with contextlib.redirect_stdout(io.StringIO()):
        started, cpu = time.perf_counter(), time.process_time()
        m.fit(x, y, batch_size=32, epochs=1, verbose=verbose, shuffle=False, callbacks=callbacks)
        return time.perf_counter() - started, time.process_time() - cpu
cases = {"keras_verbose_0": (0, list), "keras_verbose_1": (1, list), "keras_one_sync_hook": (0, lambda: [Hook()])}
times = {name: [] for name in cases}
for _ in range(repeats):
    for name, (verbose, callbacks) in cases.items():
        times[name].append(run(verbose, callbacks()))
print(json.dumps({"backend": keras.backend.backend(), "keras": keras.__version__,
                  **{name: [statistics.median(w for w, _ in t), statistics.median(c for _, c in t)] for name, t in times.items()}}))
'''


def keras_figures(python: str, samples: int, repeats: int) -> dict[str, Any]:
    done = subprocess.run([python, "-c", KERAS_WORKER, str(samples), str(repeats)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the Keras worker failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run_one(variant: str, data_samples: int, samples: int) -> None:
    """One epoch of ``samples`` of one variant, after the same warm-up as :func:`time_variants`: what
    :func:`count_variants` counts. The data is ``data_samples`` long whatever ``samples`` is, so that
    making it is the same work in every count."""
    x, y = data(max(data_samples, 320))
    epoch = variants()[variant]
    epoch(x[:320], y[:320])
    if samples:
        epoch(x[:samples], y[:samples])


def count_variants(samples: int) -> dict[str, tuple[float, int]]:
    """Each variant's instructions per batch (between an epoch of ``samples`` and one of twice as many:
    a step's own cost) and for a whole epoch of ``samples`` (a model built, a fit's setting up)."""
    steps = -(-samples // BATCH_SIZE)
    counts = {}
    for name in variants():
        child = ["-m", "tests.benchmarks.bench_listening", "--one", name, str(2 * samples)]
        none, once, twice = (instructions.count([*child, str(n)]) for n in (0, samples, 2 * samples))
        counts[name] = ((twice - once) / steps, once - none)
    return counts


def print_counts(samples: int, context: dict[str, Any]) -> None:
    if not instructions.available():
        print(json.dumps({"benchmark": "listening_instructions", "error": "valgrind is not installed"}), flush=True)
        return
    counts = count_variants(samples)
    base, base_epoch = counts["fit_verbose_0"]
    bare, bare_epoch = counts["bare"]
    for name, (per_batch, epoch) in counts.items():
        result: dict[str, Any] = {"benchmark": "listening_instructions", "variant": name,
                                  "instructions_per_batch": round(per_batch), "epoch_instructions": epoch}  # fmt: skip
        if name == "fit_verbose_0":
            result["fit_over_bare_instructions_per_batch"] = round(bare / per_batch, 3)
            result["fit_over_bare_epoch_instructions"] = round(bare_epoch / epoch, 3)
        elif name != "bare":
            result["ratio_to_fit_verbose_0"] = round(per_batch / base, 3)
            result["delta_instructions_per_batch"] = round(per_batch - base)
            result["epoch_ratio_to_fit_verbose_0"] = round(epoch / base_epoch, 3)
        print(json.dumps({**result, **context, "openblas_threads": 1}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--samples", type=int, default=40_000)
    parser.add_argument("--keras-python", help="an interpreter with keras (and its backend) to compare with")
    parser.add_argument("--instructions", action="store_true", help="count instructions per batch (valgrind) instead of timing")
    parser.add_argument("--one", metavar="VARIANT", help=argparse.SUPPRESS)  # the child --instructions counts
    args, rest = parser.parse_known_args()
    if args.one:
        return run_one(args.one, int(rest[0]), int(rest[1]))
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    import anyio

    x, y = data(args.samples)
    steps = -(-args.samples // BATCH_SIZE)
    context = {"model": "mlp_16_64_64_4", "batch_size": BATCH_SIZE, "samples": args.samples, "repeats": args.repeats,
               "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")}  # fmt: skip
    if args.instructions:
        return print_counts(args.samples, {**context, "repeats": 1})
    medians = time_variants(x, y, args.repeats)
    base, base_cpu = medians["fit_verbose_0"]
    for name, (median, cpu) in medians.items():
        result: dict[str, Any] = {"benchmark": "listening", "variant": name, "median_seconds": round(median, 4),
                                  "median_cpu_seconds": round(cpu, 4), "samples_per_second": round(args.samples / median)}  # fmt: skip
        if name == "fit_verbose_0":
            result["fit_over_bare_samples_per_second"] = round(medians["bare"][0] / median, 3)
            result["fit_over_bare_samples_per_cpu_second"] = round(medians["bare"][1] / cpu, 3)
        elif name != "bare":
            result["ratio_to_fit_verbose_0"] = round(median / base, 3)
            result["delta_us_per_batch"] = round(1e6 * (median - base) / steps, 1)
            result["cpu_ratio_to_fit_verbose_0"] = round(cpu / base_cpu, 3)
            result["cpu_delta_us_per_batch"] = round(1e6 * (cpu - base_cpu) / steps, 1)
        print(json.dumps({**result, **context}), flush=True)
    deliveries = time_deliveries(steps, args.repeats)
    silent_cpu, silent_thread = deliveries["fit_verbose_0"]
    for name, (cpu, in_thread) in deliveries.items():
        print(json.dumps({
            "benchmark": "listening_delivery_alone", "variant": name, "batches": steps,
            "cpu_us_per_batch": round(1e6 * (cpu - silent_cpu) / steps, 2),
            "compute_thread_cpu_us_per_batch": round(1e6 * (in_thread - silent_thread) / steps, 2), **context,
        }), flush=True)  # fmt: skip
    for backend in ("asyncio", "trio"):
        for variant, train in (("verbose_1_and_ten_queued_async_hooks", True), ("idle_loop_same_machine", False)):
            lags = sorted(anyio.run(loop_lag, x, y, train, backend=backend))
            print(json.dumps({
                "benchmark": "listening_event_loop_lag", "backend": backend, "variant": variant,
                "heartbeats": len(lags), "p50_ms": round(1000 * lags[len(lags) // 2], 2),
                "p99_ms": round(1000 * lags[int(len(lags) * 0.99)], 2), "max_ms": round(1000 * lags[-1], 2), **context,
            }), flush=True)  # fmt: skip
    if args.keras_python:
        figures = keras_figures(args.keras_python, args.samples, args.repeats)
        keras_base, keras_cpu = figures["keras_verbose_0"]
        for name in ("keras_verbose_0", "keras_verbose_1", "keras_one_sync_hook"):
            wall, cpu = figures[name]
            print(json.dumps({
                "benchmark": "listening", "variant": name, "keras": figures["keras"], "keras_backend": figures["backend"],
                "median_seconds": round(wall, 4), "median_cpu_seconds": round(cpu, 4),
                "samples_per_second": round(args.samples / wall), "ratio_to_keras_verbose_0": round(wall / keras_base, 3),
                "delta_us_per_batch": round(1e6 * (wall - keras_base) / steps, 1),
                "cpu_ratio_to_keras_verbose_0": round(cpu / keras_cpu, 3), **context,
            }), flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
