"""Inline and queued callbacks: order, snapshots, merging, errors, cancellation (asyncio and trio)."""

from __future__ import annotations

import threading
import time
from types import MappingProxyType
from typing import Any

import anyio
import numpy as np
import pytest

import trainer
from eventbus import DeliveryError, EventBus
from trainer import Callback, Input, Sequential
from trainer.events import EpochEnd, LifecycleEvent, TrainBatchEnd
from trainer.layers import Dense
from trainer.run import open_run

pytestmark = pytest.mark.anyio

X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
Y = X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)


def small_model() -> Sequential:
    trainer.set_random_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(4, activation="relu"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


class AsyncRecorder(Callback):
    """Queued by default: it has async def hooks; it sleeps so that it lags behind training."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int | None]] = []
        self.logs_types: set[type] = set()

    async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        await anyio.sleep(0.001)
        self.seen.append(("batch", batch))
        self.logs_types.add(type(logs))

    async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seen.append(("epoch", epoch))

    async def on_train_end(self, logs: Any = None) -> None:
        await anyio.sleep(0.01)
        self.seen.append(("end", None))


async def test_queued_async_callback_sees_every_event_in_order_before_fit_returns() -> None:
    recorder = AsyncRecorder()
    await small_model().fit_async(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[recorder])
    expected = [("batch", b) for b in range(8)] + [("epoch", 0)] + [("batch", b) for b in range(8)] + [("epoch", 1), ("end", None)]
    assert recorder.seen == expected
    assert recorder.logs_types == {MappingProxyType}, "queued callbacks get a read-only snapshot"


async def test_queued_callback_error_fails_fit_naming_callback_and_hook() -> None:
    class Broken(Callback):
        async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            raise RuntimeError("disk full")

    model = small_model()
    with pytest.raises(DeliveryError, match=r"'Broken' failed in on_epoch_end.*disk full"):
        await model.fit_async(X, Y, batch_size=8, epochs=500, verbose=0, callbacks=[Broken()])
    # It stopped soon after the failure rather than training all 500 epochs (the loop sees the failure
    # a few milliseconds after the event: long enough for many of these tiny epochs, not all).
    assert model.optimizer.iterations < 500 * 8


async def test_inline_callback_exception_propagates_unchanged() -> None:
    class Picky(Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if epoch == 1:
                raise KeyError("epoch one")

    with pytest.raises(KeyError, match="epoch one"):
        await small_model().fit_async(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[Picky()])


async def test_callback_mixing_def_and_async_hooks_sees_events_in_order() -> None:
    seen: list[str] = []

    class Mixed(Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            time.sleep(0.001)
            seen.append(f"begin {epoch}")

        async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append(f"end {epoch}")

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            seen.append(f"batch {batch}")

    await small_model().fit_async(X, Y, batch_size=32, epochs=3, verbose=0, callbacks=[Mixed()])
    assert seen == [item for e in range(3) for item in (f"begin {e}", "batch 0", "batch 1", f"end {e}")]


async def test_inline_hook_returning_a_mapping_adds_to_logs_downstream() -> None:
    class AddsLr(Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> dict[str, float]:
            return {"lr": self.model.optimizer.learning_rate}

    queued_logs: list[dict] = []

    class Reads(Callback):
        async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            queued_logs.append(dict(logs))

    history = await small_model().fit_async(X, Y, epochs=2, verbose=0, callbacks=[AddsLr(), Reads()])
    assert history.history["lr"] == pytest.approx([0.01, 0.01])
    assert all("lr" in logs for logs in queued_logs)


async def test_delivery_can_be_chosen_per_callback() -> None:
    threads: list[int] = []

    class ForcedQueued(Callback):
        delivery = "queued"

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            threads.append(threading.get_ident())
            assert isinstance(logs, MappingProxyType)

    class ForcedInline(Callback):
        delivery = "inline"

        async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs["seen_inline"] = 1.0  # the live logs: History records it

    history = await small_model().fit_async(X, Y, epochs=2, verbose=0, callbacks=[ForcedQueued(), ForcedInline()])
    assert len(threads) == 2 and threading.get_ident() not in threads
    assert history.history["seen_inline"] == [1.0, 1.0]


async def test_inline_async_hook_hands_its_slow_part_to_a_queued_lane() -> None:
    written: list[tuple[int, float]] = []
    release = anyio.Event()

    class Checkpointish(Callback):
        delivery = "inline"

        async def on_epoch_end(self, epoch: int, logs: Any = None) -> Any:
            kernel_sum = float(self.model.get_weights()[0].sum())  # consistent: taken before training goes on
            return self.write(epoch, kernel_sum)

        async def write(self, epoch: int, value: float) -> None:
            await release.wait()  # slow storage
            written.append((epoch, value))

    sums: list[float] = []

    class Sums(Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            sums.append(float(self.model.get_weights()[0].sum()))
            if epoch == 2:
                release.set()  # training reached epoch 2 while epoch 0's write was still waiting

    await small_model().fit_async(X, Y, epochs=3, verbose=0, callbacks=[Checkpointish(), Sums()])
    assert written == list(enumerate(sums))


async def test_error_in_deferred_work_fails_fit_naming_the_callback() -> None:
    class BadWriter(Callback):
        delivery = "inline"

        async def on_epoch_end(self, epoch: int, logs: Any = None) -> Any:
            return self.write()

        async def write(self) -> None:
            raise OSError("read-only file system")

    with pytest.raises(DeliveryError, match=r"BadWriter \(deferred\).*for_hook='on_epoch_end'.*read-only"):
        await small_model().fit_async(X, Y, epochs=2, verbose=0, callbacks=[BadWriter()])


async def test_cancelling_fit_async_stops_at_the_next_step() -> None:
    model = small_model()
    started = anyio.Event()

    class Signal(Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 3:
                started.set()

    with anyio.move_on_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: model.fit_async(X, Y, batch_size=1, epochs=1000, verbose=0, callbacks=[Signal()]))
            await started.wait()
            steps_when_cancelled = model.optimizer.iterations
            tg.cancel_scope.cancel()
    assert started.is_set()
    # Inline hooks run while the compute thread waits, so at most one more step ran after cancelling.
    assert model.optimizer.iterations <= steps_when_cancelled + 1
    await anyio.sleep(0.05)
    assert model.optimizer.iterations <= steps_when_cancelled + 1, "no training goes on in the background"


async def test_the_event_loop_keeps_running_while_fit_async_trains() -> None:
    ticks = 0
    at: dict[str, int] = {}

    class Marks(Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            at["begin"] = ticks

        def on_train_end(self, logs: Any = None) -> None:
            at["end"] = ticks

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.001)
            ticks += 1

    x = np.random.default_rng(1).normal(size=(4096, 64)).astype(np.float32)
    y = x[:, :1].copy()
    model = Sequential([Input(shape=(64,)), Dense(256, activation="relu"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        await model.fit_async(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[Marks()])
        tg.cancel_scope.cancel()
    assert at["end"] - at["begin"] >= 3, "the heartbeat ticked while the model trained"


async def test_application_bus_receives_and_streams_the_runs_events() -> None:
    async with EventBus() as bus:
        epochs = bus.stream(EpochEnd)
        runs: set[str] = set()
        bus.subscribe(LifecycleEvent, lambda e: runs.add(e.run))
        batch_events: list[int] = []
        bus.subscribe(TrainBatchEnd, lambda e: batch_events.append(e.batch))
        await small_model().fit_async(X, Y, batch_size=32, epochs=2, verbose=0, bus=bus)
        await bus.drain()
        first, second = await epochs.__anext__(), await epochs.__anext__()
    assert (first.epoch, second.epoch) == (0, 1)
    assert set(first.logs) == {"loss", "mae"}
    assert batch_events == [0, 1, 0, 1]
    assert len(runs) == 1 and next(iter(runs)).startswith("fit-")


async def test_the_application_bus_gets_a_kind_only_it_takes_from_its_first_subscriber_of_it_on() -> None:
    async with EventBus() as bus:
        seen: list[int] = []

        class Listen(Callback):  # inline: the compute thread waits for it, so the epochs split exactly
            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                if epoch == 0:
                    bus.subscribe(TrainBatchEnd, lambda e: seen.append(e.batch))

        await small_model().fit_async(X, Y, batch_size=32, epochs=3, verbose=0, callbacks=[Listen()], bus=bus)
        await bus.drain()
    assert seen == [0, 1, 0, 1]  # epochs 1 and 2: epoch 0's, which nobody took, were never made


async def test_a_run_makes_an_event_only_the_application_bus_takes_only_while_it_has_a_taker() -> None:
    class Batches(Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    async with EventBus() as app:
        app.subscribe(EpochEnd, lambda e: None)
        async with open_run("fit", small_model(), [], {}, app) as run:
            assert run.wants(EpochEnd) and not run.wants(TrainBatchEnd)
            with app.subscribe(LifecycleEvent, lambda e: None):
                assert run.wants(TrainBatchEnd)
            assert not run.wants(TrainBatchEnd)
        async with open_run("fit", small_model(), [Batches()], {}, app) as run:
            assert run.wants(TrainBatchEnd)  # a callback of the run takes it, whoever listens on the bus
        async with open_run("fit", small_model(), [], {}, None) as run:
            assert not run.wants(TrainBatchEnd) and not run.wants(EpochEnd)


async def test_sync_fit_is_refused_inside_a_running_event_loop() -> None:
    with pytest.raises(RuntimeError, match=r"await model\.fit_async"):
        small_model().fit(X, Y, verbose=0)
    with pytest.raises(RuntimeError, match=r"evaluate_async"):
        small_model().evaluate(X, Y, verbose=0)


async def test_evaluate_and_predict_async_match_their_sync_twins() -> None:
    model = small_model()
    await model.fit_async(X, Y, epochs=2, verbose=0)
    loss, mae = await model.evaluate_async(X, Y, verbose=0)
    predictions = await model.predict_async(X, batch_size=10, verbose=0)
    got = await anyio.to_thread.run_sync(lambda: (model.evaluate(X, Y, verbose=0), model.predict(X, batch_size=10, verbose=0)))
    assert [loss, mae] == got[0]
    np.testing.assert_array_equal(predictions, got[1])
    assert predictions.shape == (64, 1)
    assert await model.evaluate_async(X, Y, verbose=0, return_dict=True) == {"loss": loss, "mae": mae}


async def test_run_id_names_the_runs_events() -> None:
    async with EventBus() as bus:
        runs: list[str] = []
        bus.subscribe(EpochEnd, lambda e: runs.append(e.run))
        await small_model().fit_async(X, Y, epochs=2, verbose=0, bus=bus, run_id="job-7")
    assert runs == ["job-7", "job-7"]
    with pytest.raises(ValueError, match="run_id must be a non-empty string"):
        await small_model().fit_async(X, Y, verbose=0, run_id="")


async def test_a_history_or_progress_bar_passed_by_the_user_is_used_not_doubled() -> None:
    from trainer.callbacks import History, ProgbarLogger

    class Lines:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    mine, out = History(), Lines()
    model = small_model()
    returned = await model.fit_async(X, Y, epochs=2, verbose=2, callbacks=[mine, ProgbarLogger(out)])
    assert returned is mine and model.history is mine
    assert mine.epoch == [0, 1]
    assert out.text.count("Epoch 1/2") == 1


async def test_cancelling_while_a_slow_queued_callback_has_a_full_queue_returns_promptly() -> None:
    class Slow(Callback):
        queue_size = 2

        async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            await anyio.sleep(5)

    class Inline(Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    model = small_model()
    with anyio.fail_after(4):  # without the fix this hangs for the queued callback's 5 s sleeps, or forever
        with anyio.move_on_after(0.3):
            await model.fit_async(X, Y, batch_size=1, epochs=50, verbose=0, callbacks=[Slow(), Inline()])


async def test_many_runs_at_once_never_wait_for_each_others_threads() -> None:
    class QueuedLog(Callback):
        delivery = "queued"
        queue_size = 4

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            pass

    limiter = anyio.to_thread.current_default_thread_limiter()
    tokens, limiter.total_tokens = limiter.total_tokens, 2  # as if the application used up the rest
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(lambda: small_model().fit_async(X, Y, batch_size=1, epochs=3, verbose=0, callbacks=[QueuedLog()]))
    finally:
        limiter.total_tokens = tokens


async def test_an_inline_callback_error_is_raised_as_it_is_even_when_queued_ones_lag() -> None:
    class Slow(Callback):
        queue_size = 1

        async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            await anyio.sleep(0.01)

    class Boom(Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            raise ValueError("boom in on_epoch_end")

    model = small_model()
    with pytest.raises(ValueError, match="boom in on_epoch_end"):
        await model.fit_async(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[Slow(), Boom()])
    assert model.optimizer.iterations == 8, "training stopped at the epoch whose hook raised"


async def test_cancelling_fit_async_while_an_inline_hook_hangs_stops_the_run_and_cancels_the_hook() -> None:
    started = anyio.Event()
    hook_ended: list[str] = []

    class Hangs(Callback):
        delivery = "inline"

        async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 2:
                started.set()
                try:
                    await anyio.sleep_forever()  # an upload that never answers, say
                except anyio.get_cancelled_exc_class():
                    hook_ended.append("cancelled")
                    raise

    model = small_model()
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: model.fit_async(X, Y, batch_size=1, epochs=100, verbose=0, callbacks=[Hangs()]))
            await started.wait()
            tg.cancel_scope.cancel()
    assert hook_ended == ["cancelled"]
    assert model.optimizer.iterations == 3, "no step ran after the batch whose hook hung"


async def test_no_hook_runs_after_fit_async_is_cancelled() -> None:
    seen: list[str] = []
    started = anyio.Event()

    class Marks(Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            started.set()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            seen.append("epoch_end")

        def on_train_end(self, logs: Any = None) -> None:
            seen.append("train_end")

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: small_model().fit_async(X, Y, batch_size=1, epochs=100, verbose=0, callbacks=[Marks()]))
        await started.wait()
        tg.cancel_scope.cancel()
    assert "train_end" not in seen


async def test_a_cancelled_run_still_forwards_what_it_had_published_to_the_application_bus() -> None:
    """The application's subscriber is slow, so the run's events queue up for it; the run is
    cancelled from an inline hook as epoch 3 begins, when every event before it is on the run's bus.
    The application's bus still gets each epoch's end, in order (a job's journal must not miss an
    epoch that its backup, finished in the cancelled run's grace, records)."""
    ended: list[int] = []

    class CancelAtThirdEpoch(Callback):
        delivery = "inline"  # the compute thread waits for it, so all before it is on the run's bus

        async def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            if epoch == 3:
                scope.cancel()

    async def slow(event: EpochEnd) -> None:
        ended.append(event.epoch)
        await anyio.sleep(0.05)

    async with EventBus() as bus:
        bus.subscribe(EpochEnd, slow)
        with anyio.CancelScope() as scope:
            await small_model().fit_async(X, Y, epochs=10, verbose=0, callbacks=[CancelAtThirdEpoch()], bus=bus)
    assert scope.cancelled_caught
    assert ended == [0, 1, 2]
