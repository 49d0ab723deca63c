"""``delivery = "thread"``: hooks called in the compute thread, with inline semantics, in the callbacks'
one order beside inline and queued ones (asyncio and trio)."""

from __future__ import annotations

import io
import itertools
import threading
from types import MappingProxyType
from typing import Any

import anyio
import anyio.from_thread
import numpy as np
import pytest

import trainer
from trainer import Callback, Input, Sequential
from trainer.callbacks import History, ProgbarLogger, TerminateOnNaN
from trainer.callbacks.subscriber import current_event, delivery_of, overridden_hooks
from trainer.layers import Dense

pytestmark = pytest.mark.anyio

X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
Y = X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
STEPS = 8  # batch_size 8


def small_model() -> Sequential:
    trainer.set_random_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(4, activation="relu"), Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


class Journal:
    """What every callback of a run saw, in one list, in the order the hooks ran."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, int | None, dict[str, Any]]] = []
        self.threads: dict[str, set[int]] = {}

    def write(self, name: str, hook: str, index: int | None, logs: Any) -> None:
        self.entries.append((name, hook, index, dict(logs or {})))
        self.threads.setdefault(name, set()).add(threading.get_ident())

    def of(self, name: str) -> list[tuple[str, int | None, dict[str, Any]]]:
        return [(hook, index, logs) for who, hook, index, logs in self.entries if who == name]


def recorder(name: str, journal: Journal, delivery: str, adds: str | None = None, queued_async: bool = False) -> Callback:
    """A callback writing every batch and epoch end to ``journal``; ``adds`` a key to the live logs."""

    def note(hook: str, index: int | None, logs: Any) -> None:
        journal.write(name, hook, index, logs)
        if adds is not None and delivery != "queued":
            logs[adds] = float(index or 0)

    if queued_async:

        class AsyncRecorder(Callback):
            async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                note("on_train_batch_end", batch, logs)

            async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                note("on_epoch_end", epoch, logs)

        return AsyncRecorder()

    class Recorder(Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            note("on_train_batch_end", batch, logs)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            note("on_epoch_end", epoch, logs)

    Recorder.delivery = delivery  # type: ignore[assignment]
    return Recorder()


async def test_thread_hooks_run_in_the_compute_thread_not_the_loops() -> None:
    journal = Journal()
    loop_thread = threading.get_ident()
    await small_model().fit_async(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[recorder("t", journal, "thread")])
    assert [(hook, index) for hook, index, _ in journal.of("t")] == [("on_train_batch_end", b) for b in range(STEPS)] + [
        ("on_epoch_end", 0)
    ]
    assert len(journal.threads["t"]) == 1 and loop_thread not in journal.threads["t"]


async def test_stop_training_from_a_thread_hook_takes_effect_before_the_next_step() -> None:
    steps: list[int] = []

    class StopAtTwo(Callback):
        delivery = "thread"

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            steps.append(batch)

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 2:
                self.model.stop_training = True

    history = await small_model().fit_async(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[StopAtTwo()])
    assert steps == [0, 1, 2] and history.epoch == [0]


async def test_a_learning_rate_set_in_a_thread_hook_applies_from_the_next_step() -> None:
    class FreezeAfterFirstStep(Callback):
        delivery = "thread"

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            self.model.optimizer.learning_rate = 0.0

    frozen = small_model()
    await frozen.fit_async(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[FreezeAfterFirstStep()])
    one_step = small_model()
    one_step.train_on_batch(X[:8], Y[:8])
    for after_fit, after_one_step in zip(frozen.get_weights(), one_step.get_weights()):
        np.testing.assert_array_equal(after_fit, after_one_step)


async def test_one_order_for_thread_inline_and_queued_callbacks_with_logs_as_each_should_see_them() -> None:
    """thread, queued, thread, inline (on the loop), thread, queued: each sees every event in order, and
    ``logs`` as the callbacks before it left them; queued ones a read-only copy taken at their place."""
    journal = Journal()
    callbacks = [
        recorder("t1", journal, "thread", adds="t1"),
        recorder("q1", journal, "queued", queued_async=True),
        recorder("t2", journal, "thread", adds="t2"),
        recorder("inline", journal, "inline", adds="inline"),
        recorder("t3", journal, "thread", adds="t3"),
        recorder("q2", journal, "queued", queued_async=True),
    ]
    history = await small_model().fit_async(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    expected_order = [
        (hook, index)
        for epoch in range(2)
        for hook, index in [*(("on_train_batch_end", b) for b in range(STEPS)), ("on_epoch_end", epoch)]
    ]
    keys_before = {"t1": set(), "q1": {"t1"}, "t2": {"t1"}, "inline": {"t1", "t2"}, "t3": {"t1", "t2", "inline"},
                   "q2": {"t1", "t2", "inline", "t3"}}  # fmt: skip
    for name, added in keys_before.items():
        seen = journal.of(name)
        assert [(hook, index) for hook, index, _ in seen] == expected_order, name
        for _, _, logs in seen:
            assert set(logs) == {"loss", "mae"} | added, (name, logs)
    assert "t3" in history.history  # History comes after every user callback


async def test_a_queued_callbacks_copy_is_taken_before_a_later_thread_hook_changes_logs() -> None:
    """thread, queued, thread: the event goes to the queued one without the compute thread waiting,
    and its copy never shows what the second thread hook adds afterwards."""
    journal = Journal()
    callbacks = [
        recorder("t1", journal, "thread"),
        recorder("q", journal, "queued", queued_async=True),
        recorder("t2", journal, "thread", adds="late"),
    ]
    await small_model().fit_async(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    queued = journal.of("q")
    assert len(queued) == STEPS + 1 and all("late" not in logs for _, _, logs in queued)
    # The copy holds the batch's numbers, not later ones: as the thread hook saw them.
    assert [logs["loss"] for _, _, logs in queued] == [logs["loss"] for _, _, logs in journal.of("t1")]


async def test_queued_callbacks_beside_thread_ones_get_read_only_snapshots() -> None:
    types: set[type] = set()

    class Queued(Callback):
        async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            types.add(type(logs))

    class Thread(Callback):
        delivery = "thread"

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            types.add(type(logs))
            logs["extra"] = 1.0

    await small_model().fit_async(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[Thread(), Queued(), Thread()])
    assert types == {dict, MappingProxyType}


async def test_a_mapping_returned_by_a_thread_hook_is_merged_into_logs() -> None:
    class AddsTwice(Callback):
        delivery = "thread"

        def on_epoch_end(self, epoch: int, logs: Any = None) -> dict[str, float]:
            return {"twice_loss": 2 * logs["loss"]}

    history = await small_model().fit_async(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[AddsTwice()])
    assert history.history["twice_loss"] == [2 * loss for loss in history.history["loss"]]


async def test_a_thread_hooks_exception_propagates_unchanged() -> None:
    class Fails(Callback):
        delivery = "thread"

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == 3:
                raise KeyError("boom at batch 3")

    with pytest.raises(KeyError, match="boom at batch 3"):
        await small_model().fit_async(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[Fails()])


async def test_cancelling_fit_async_from_a_thread_hook_stops_before_the_next_step() -> None:
    begun: list[int] = []

    with anyio.CancelScope() as scope:

        class CancelAtThree(Callback):
            delivery = "thread"

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                begun.append(batch)

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if batch == 3:
                    anyio.from_thread.run_sync(scope.cancel)

        await small_model().fit_async(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[CancelAtThree()])
    assert scope.cancelled_caught and begun == [0, 1, 2, 3]


async def test_thread_delivery_refuses_async_def_hooks_naming_them() -> None:
    class Mixed(Callback):
        delivery = "thread"

        async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            pass

    with pytest.raises(TypeError, match=r"Mixed.delivery is 'thread'.*on_epoch_end is async def"):
        await small_model().fit_async(X, Y, epochs=1, verbose=0, callbacks=[Mixed()])


def test_the_built_in_callbacks_safe_in_the_compute_thread_run_there() -> None:
    for callback in (History(), ProgbarLogger(), TerminateOnNaN()):
        assert delivery_of(callback) == "thread", type(callback).__name__


def test_the_bar_listens_to_batch_events_only_when_it_draws_them() -> None:
    progbar = ProgbarLogger()
    progbar.set_params({"verbose": 2, "epochs": 1, "steps": 3})
    assert not {"on_train_batch_end", "on_test_batch_end", "on_predict_batch_end"} & set(overridden_hooks(progbar))
    progbar.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    assert {"on_train_batch_end", "on_test_batch_end", "on_predict_batch_end"} <= set(overridden_hooks(progbar))


def test_the_bar_in_the_compute_thread_draws_every_batch_in_order_when_not_throttled() -> None:
    out = io.StringIO()
    small_model().fit(X, Y, batch_size=8, epochs=1, verbose=1, callbacks=[ProgbarLogger(stream=out, interval=0.0)])
    draws = out.getvalue().removeprefix("Epoch 1/1\n").rstrip("\n").split("\r")[1:]
    assert [draw.split(" ")[0] for draw in draws] == [f"{b}/{STEPS}" for b in range(1, STEPS + 1)] + [f"{STEPS}/{STEPS}"]
    assert all(" - loss: " in draw and " - mae: " in draw for draw in draws)


def test_the_bar_at_verbose_2_prints_the_same_lines_as_before() -> None:
    out = io.StringIO()
    small_model().fit(X, Y, batch_size=8, epochs=2, verbose=2, callbacks=[ProgbarLogger(stream=out)])
    lines = out.getvalue().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert all(line.startswith(f"{STEPS}/{STEPS} - ") and "/step - loss: " in line for line in lines[1::2])


def test_a_subclass_of_the_bar_keeps_its_own_batch_hook_at_verbose_2() -> None:
    batches: list[int] = []

    class CountingBar(ProgbarLogger):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            batches.append(batch)
            super().on_train_batch_end(batch, logs)

    out = io.StringIO()
    small_model().fit(X, Y, batch_size=8, epochs=1, verbose=2, callbacks=[CountingBar(stream=out)])
    assert batches == list(range(STEPS)) and len(out.getvalue().splitlines()) == 2


class SampledBatches(Callback):
    """A thread callback that samples batches every ``batch_interval`` seconds, recording when."""

    delivery = "thread"

    def __init__(self, interval: float) -> None:
        super().__init__()
        self.batch_interval = interval
        self.seen: list[tuple[int, float]] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        event = current_event()
        assert event is not None and "loss" in logs
        self.seen.append((batch, event.time))


class EveryBatch(Callback):
    delivery = "thread"

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.batches.append(batch)


def test_batch_events_that_only_samplers_take_are_made_at_most_once_an_interval() -> None:
    slow, fast = SampledBatches(0.05), SampledBatches(0.02)
    x = np.repeat(X, 200, axis=0)  # 1 600 batches of 8: a few tenths of a second
    small_model().fit(x, np.repeat(Y, 200, axis=0), batch_size=8, epochs=1, verbose=0, callbacks=[slow, fast])
    assert slow.seen == fast.seen, "both get the same events: made at the shortest interval"
    batches, times = [b for b, _ in fast.seen], [t for _, t in fast.seen]
    assert batches[0] == 0 and batches == sorted(batches) and len(batches) < 1600 / 4
    # An event's time is read just after the run's clock reading that let it through: a little slack.
    assert all(later - earlier >= 0.019 for earlier, later in itertools.pairwise(times))


def test_a_callback_that_takes_every_batch_gets_them_all_beside_a_sampler() -> None:
    sampler, every = SampledBatches(0.05), EveryBatch()
    small_model().fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[sampler, every])
    assert every.batches == list(range(STEPS)) * 2
    assert [b for b, _ in sampler.seen] == list(range(STEPS)) * 2


def test_the_bar_samples_batches_unless_their_number_is_unknown_or_a_subclass_hooks_them() -> None:
    bar = ProgbarLogger(interval=0.05)
    bar.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    assert bar.batch_interval == 0.05
    bar.set_params({"verbose": 1, "epochs": 1, "steps": None})
    assert bar.batch_interval == 0.0

    class OwnHook(ProgbarLogger):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            super().on_train_batch_end(batch, logs)

    own = OwnHook()
    own.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    assert own.batch_interval == 0.0


@pytest.mark.parametrize("interval", [-1.0, "0.05", float("nan"), float("inf"), True])
def test_a_bad_batch_interval_is_refused_naming_the_callback(interval: Any) -> None:
    sampler = SampledBatches(0.05)
    sampler.batch_interval = interval
    with pytest.raises(ValueError, match=r"SampledBatches\.batch_interval must be a number of seconds >= 0"):
        small_model().fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[sampler])
