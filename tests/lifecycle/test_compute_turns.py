"""Compute turns: concurrent runs compute one slice at a time, all progressing, never deadlocking."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import pytest

import eventbus.bus
import trainer.turns
from eventbus import EventBus
from trainer import Callback, ComputeTurns, taking_turns
from trainer.events import LifecycleEvent
from trainer.jobs import JobManager, JobStatus, TrainingSpec

from ..callbacks.training_run import build_model, dataset

pytestmark = pytest.mark.anyio


class Overlap:
    """Counts how many threads are inside a wrapped step at once, and the order they entered it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.order: list[int] = []

    def wrap(self, worker: int, step: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any) -> Any:
            with self._lock:
                self.inside += 1
                self.most = max(self.most, self.inside)
                self.order.append(worker)
            try:
                return step(*args)
            finally:
                with self._lock:
                    self.inside -= 1

        return counted

    def switches(self) -> int:
        return sum(a != b for a, b in zip(self.order, self.order[1:]))


def work(turns: ComputeTurns, overlap: Overlap, worker: int, steps: int) -> None:
    """A compute thread's loop: its turn before each step (releasing the GIL, as BLAS does)."""
    turn = turns._turn()
    step = overlap.wrap(worker, lambda: time.sleep(0.0005))
    try:
        for _ in range(steps):
            turn.keep_or_pass()
            step()
    finally:
        turn.give_back()


async def hold(turns: ComputeTurns) -> Any:
    """Take a turn in a worker thread (where turns are taken) and keep it; give it back when done."""
    turn = turns._turn()
    await anyio.to_thread.run_sync(turn.keep_or_pass)
    return turn


@pytest.mark.parametrize("slots", [1, 2])
async def test_at_most_slots_threads_step_at_once_and_all_progress_together(slots: int) -> None:
    turns, overlap = ComputeTurns(slots, slice_seconds=0.002), Overlap()
    async with anyio.create_task_group() as tg:
        for worker in range(3):
            tg.start_soon(anyio.to_thread.run_sync, work, turns, overlap, worker, 200)
    assert overlap.most == slots
    first_step = {worker: overlap.order.index(worker) for worker in range(3)}
    last_step = {worker: len(overlap.order) - 1 - overlap.order[::-1].index(worker) for worker in range(3)}
    assert max(first_step.values()) < min(last_step.values())  # nobody finished before everyone had started
    assert overlap.switches() >= 6  # turns passed back and forth, not one whole run after another


async def test_a_thread_waiting_for_its_turn_is_cancelled_and_gives_up_its_place() -> None:
    turns = ComputeTurns(1)
    holder = await hold(turns)
    with anyio.move_on_after(0.1) as scope:
        await anyio.to_thread.run_sync(turns._turn().keep_or_pass)
    assert scope.cancelled_caught
    holder.give_back()
    with anyio.fail_after(5):
        late = await hold(turns)  # the slot is free: nobody cancelled holds it
    late.give_back()


def test_a_turn_handed_to_a_thread_that_is_giving_up_goes_on_to_the_next() -> None:
    turns = ComputeTurns(1)
    turns._acquire("back")  # someone computes
    baton = threading.Lock()
    baton.acquire()
    turns._waiting.append(baton)  # a thread waits
    turns._release()  # the turn is handed to it ...
    turns._withdraw(baton)  # ... just as it gives up, cancelled
    assert turns._free == 1 and not turns._waiting  # the turn is free again, not lost


def test_two_holders_seeing_one_returning_run_hand_it_one_turn() -> None:
    turns = ComputeTurns(2)
    turns._acquire("back")
    turns._acquire("back")  # two runs compute
    baton = threading.Lock()
    baton.acquire()
    turns._returning.append(baton)  # a run back from lending waits
    assert turns._hand_to_returning()  # the first holder hands it a turn ...
    assert not turns._hand_to_returning()  # ... the second, which saw it too, keeps its own
    assert turns._free == 0 and not turns._waiting and not turns._returning


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds: it watches the turns' state, not the clock."""
    with anyio.fail_after(10):
        while not condition():
            await anyio.sleep(0.001)


class ThreeRuns:
    """A lender, a borrower and a third run taking ``turns``, each step in a worker thread of its own;
    ``order`` says who stepped, in order."""

    def __init__(self, turns: ComputeTurns) -> None:
        self.turns = turns
        self.lender, self.borrower, self.third = turns._turn(), turns._turn(), turns._turn()
        self.order: list[str] = []

    def step(self, name: str) -> None:
        getattr(self, name).keep_or_pass()
        self.order.append(name)

    def start_step(self, tg: anyio.abc.TaskGroup, name: str) -> None:
        tg.start_soon(anyio.to_thread.run_sync, self.step, name)


class FakeClock:
    """Stands in for the ``time`` module in ``trainer.turns``: its clock moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(trainer.turns, "time", fake)
    return fake


async def test_a_run_back_from_lending_its_turn_comes_first_and_the_borrower_stays_next() -> None:
    runs = ThreeRuns(ComputeTurns(1, slice_seconds=60))  # no slice ends in this test
    turns, order = runs.turns, runs.order
    await anyio.to_thread.run_sync(runs.step, "lender")
    async with anyio.create_task_group() as tg:
        runs.start_step(tg, "borrower")
        await until(lambda: len(turns._waiting) == 1)
        runs.start_step(tg, "third")
        await until(lambda: len(turns._waiting) == 2)
        runs.lender.lend()  # its thread waits for the event loop: the first in line computes meanwhile
        await until(lambda: order == ["lender", "borrower"])
        runs.start_step(tg, "lender")  # back within its slice
        await until(lambda: len(turns._returning) == 1)
        runs.start_step(tg, "borrower")  # its next step: hands the turn back
        await until(lambda: order == ["lender", "borrower", "lender"])
        runs.lender.give_back()  # the borrower was first in line again, ahead of the third
        await until(lambda: order == ["lender", "borrower", "lender", "borrower"])
        runs.borrower.give_back()
    assert order == ["lender", "borrower", "lender", "borrower", "third"]
    runs.third.give_back()
    assert turns._free == 1


async def test_a_borrower_that_hands_a_lent_turn_back_keeps_the_rest_of_its_slice(clock: FakeClock) -> None:
    runs = ThreeRuns(ComputeTurns(1, slice_seconds=10))
    turns, order = runs.turns, runs.order
    await anyio.to_thread.run_sync(runs.step, "lender")
    clock.now = 1
    async with anyio.create_task_group() as tg:
        runs.start_step(tg, "borrower")
        await until(lambda: len(turns._waiting) == 1)
        runs.lender.lend()
        await until(lambda: order == ["lender", "borrower"])  # the borrower's slice begins at 1
        clock.now = 2
        runs.start_step(tg, "lender")
        await until(lambda: len(turns._returning) == 1)
        runs.start_step(tg, "borrower")  # hands the turn back
        await until(lambda: order == ["lender", "borrower", "lender"] and len(turns._waiting) == 1)
        runs.start_step(tg, "third")
        await until(lambda: len(turns._waiting) == 2)
        clock.now = 5
        runs.lender.lend()  # the borrower, first in line, has the turn again
        await until(lambda: order == ["lender", "borrower", "lender", "borrower"])
        clock.now = 12  # held 1 + 7 of its 10: not a fresh slice (7 of 10), nor one that ran on meanwhile (11)
        runs.start_step(tg, "borrower")  # keeps it
        await until(lambda: order[4:] == ["borrower"])
        clock.now = 14  # held 1 + 9: its slice of 10 is over (a fresh one would last until 15): to the third
        runs.start_step(tg, "borrower")
        await until(lambda: order[5:] == ["third"])
        runs.third.give_back()
        await until(lambda: len(order) == 7)
        runs.borrower.give_back()
    assert order == ["lender", "borrower", "lender", "borrower", "borrower", "third", "borrower"]
    assert turns._free == 1


async def test_a_borrower_whose_slice_is_over_hands_a_lent_turn_back_and_queues_behind_the_others(
    clock: FakeClock,
) -> None:
    runs = ThreeRuns(ComputeTurns(1, slice_seconds=10))
    turns, order = runs.turns, runs.order
    await anyio.to_thread.run_sync(runs.step, "lender")
    clock.now = 1
    async with anyio.create_task_group() as tg:
        runs.start_step(tg, "borrower")
        await until(lambda: len(turns._waiting) == 1)
        runs.start_step(tg, "third")
        await until(lambda: len(turns._waiting) == 2)
        runs.lender.lend()
        await until(lambda: order == ["lender", "borrower"])  # the borrower's slice begins at 1
        clock.now = 2
        runs.start_step(tg, "lender")  # back within its slice
        await until(lambda: len(turns._returning) == 1)
        clock.now = 11  # the borrower's slice is over as it hands the turn back
        runs.start_step(tg, "borrower")
        await until(lambda: order == ["lender", "borrower", "lender"] and len(turns._waiting) == 2)
        runs.lender.give_back()
        await until(lambda: len(order) == 4)
        assert order[3] == "third"  # not the borrower again: it went to the back of the line
        runs.third.give_back()
        await until(lambda: len(order) == 5)
        runs.borrower.give_back()
    assert turns._free == 1


async def test_turns_are_taken_only_in_worker_threads_and_arguments_are_checked() -> None:
    with pytest.raises(RuntimeError, match="worker thread"):
        ComputeTurns(1)._turn().keep_or_pass()  # refused at once, not only once it would have to wait
    ComputeTurns(1)._turn().give_back()  # giving back a turn not held does nothing
    with pytest.raises(ValueError, match="slots must be a positive integer; got 0"):
        ComputeTurns(0)
    with pytest.raises(ValueError, match="slice_seconds must be a positive number; got -1"):
        ComputeTurns(1, slice_seconds=-1)


def counted_spec(overlap: Overlap, worker: int, epochs: int, samples: int = 64) -> Callable[[], TrainingSpec]:
    def build() -> TrainingSpec:
        x, y = dataset(samples)
        model = build_model(dropout=0.0)
        model._train_step = overlap.wrap(worker, model._train_step)  # type: ignore[method-assign]
        return TrainingSpec(model, x, y, epochs=epochs, batch_size=8)

    return build


async def test_jobs_of_a_manager_train_together_one_step_at_a_time() -> None:
    overlap = Overlap()
    async with JobManager(max_concurrent=3, compute_slots=1) as jobs:
        started = [jobs.submit(counted_spec(overlap, worker, epochs=40)) for worker in range(3)]
        assert [await job.wait() for job in started] == [JobStatus.COMPLETED] * 3
    assert overlap.most == 1
    assert len(overlap.order) == 3 * 40 * 8
    assert overlap.switches() >= 6


class Rendezvous:
    """Where ``parties`` tasks wait for one another."""

    def __init__(self, parties: int) -> None:
        self.parties, self.arrived, self.everyone = parties, 0, anyio.Event()

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived == self.parties:
            self.everyone.set()
        await self.everyone.wait()


class StartTogether(Callback):
    """Holds its run at its first epoch's start until every run is there, so that all of them want
    turns from their first step (else one could finish before another has even started)."""

    delivery = "inline"

    def __init__(self, rendezvous: Rendezvous) -> None:
        super().__init__()
        self.rendezvous = rendezvous

    async def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        await self.rendezvous.arrive()


async def test_a_run_passes_its_turn_within_an_epoch_when_its_slice_is_over() -> None:
    overlap = Overlap()
    x, y = dataset(800)
    models = [build_model(dropout=0.0) for _ in range(3)]
    rendezvous = Rendezvous(len(models))
    for worker, model in enumerate(models):
        model._train_step = overlap.wrap(worker, model._train_step)  # type: ignore[method-assign]
    with taking_turns(ComputeTurns(1, slice_seconds=0.002)):
        async with anyio.create_task_group() as tg:
            for model in models:
                fit = partial(model.fit_async, x, y, batch_size=2, epochs=1, verbose=0, callbacks=[StartTogether(rendezvous)])
                tg.start_soon(fit)
    # One epoch of 400 steps each, and all three want turns from the first: slices of 2 ms make
    # them take turns within the epoch, not one epoch after another.
    first_step = {worker: overlap.order.index(worker) for worker in range(3)}
    last_step = {worker: len(overlap.order) - 1 - overlap.order[::-1].index(worker) for worker in range(3)}
    assert overlap.most == 1
    assert max(first_step.values()) < min(last_step.values())
    assert overlap.switches() >= 10


async def test_fit_inside_taking_turns_waits_for_the_turn_and_can_be_cancelled_meanwhile() -> None:
    x, y = dataset(64)
    model = build_model(dropout=0.0)
    turns = ComputeTurns(1)
    holder = await hold(turns)
    with taking_turns(turns), anyio.move_on_after(0.2) as scope:
        await model.fit_async(x, y, epochs=1, batch_size=8, verbose=0)
    assert scope.cancelled_caught  # never got the turn, and stopped waiting when cancelled
    holder.give_back()
    with taking_turns(turns):
        history = await model.fit_async(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2


class WaitFor(Callback):
    """Inline: at the end of its first epoch, waits until another run has ended ``epochs`` epochs."""

    delivery = "inline"

    def __init__(self, other: EpochCount, epochs: int) -> None:
        super().__init__()
        self.other, self.epochs = other, epochs

    async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        with anyio.fail_after(30):
            while self.other.count < self.epochs:
                await anyio.sleep(0.005)


class EpochCount(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.count += 1


async def test_a_run_waiting_for_its_inline_callbacks_lets_the_others_compute() -> None:
    x, y = dataset(64)
    counted = EpochCount()
    with taking_turns(ComputeTurns(1)), anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            waiting = build_model(dropout=0.0)
            tg.start_soon(lambda: waiting.fit_async(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[WaitFor(counted, 3)]))
            other = build_model(dropout=0.0)
            tg.start_soon(lambda: other.fit_async(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[counted]))
    assert counted.count == 3


async def test_a_run_blocked_by_a_full_queue_lets_the_others_compute() -> None:
    """Run A's events fill a stream that is read only once run B has finished: A waits for room
    (its hand-over to the loop is full), and B must still get turns."""
    x, y = dataset(800)  # 800 steps, 1600 batch events: more than the forwarder's and hand-over's queues hold
    async with EventBus() as app:
        stream = app.stream(LifecycleEvent, maxsize=1, where=lambda event: event.run == "A")
        b_finished = anyio.Event()

        async def run_b() -> None:
            await build_model(dropout=0.0).fit_async(x[:64], y[:64], batch_size=8, epochs=2, verbose=0, run_id="B")
            b_finished.set()

        async def read_a_after_b() -> None:
            await b_finished.wait()
            async for event in stream:
                if event.hook == "on_train_end":
                    return

        with taking_turns(ComputeTurns(1)), anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(read_a_after_b)
                a = build_model(dropout=0.0)
                tg.start_soon(lambda: a.fit_async(x, y, batch_size=1, epochs=1, verbose=0, bus=app, run_id="A"))
                await anyio.sleep(0.2)  # A is blocked by now
                tg.start_soon(run_b)


class EvaluateOther(Callback):
    """Queued (async def), with a one-event queue: at each epoch's end, evaluates another model."""

    queue_size = 1

    def __init__(self, other: Any, x: Any, y: Any) -> None:
        super().__init__()
        self.other, self.x, self.y = other, x, y

    async def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        pass

    async def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        await self.other.evaluate_async(self.x, self.y, verbose=0)


async def test_a_run_whose_callback_runs_another_model_does_not_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventbus.bus, "THREAD_HANDOFF_MAXSIZE", 2)  # the compute thread soon waits for the loop
    x, y = dataset(64)
    with taking_turns(ComputeTurns(1)), anyio.fail_after(30):
        history = await build_model(dropout=0.0).fit_async(
            x, y, epochs=2, batch_size=1, verbose=0, callbacks=[EvaluateOther(build_model(dropout=0.0), x, y)]
        )
    assert len(history.history["loss"]) == 2


async def test_compute_slots_none_takes_no_turns_even_inside_taking_turns() -> None:
    turns = ComputeTurns(1)
    holder = await hold(turns)
    try:
        with taking_turns(turns), anyio.fail_after(30):
            async with JobManager(compute_slots=None) as jobs:
                job = jobs.submit(counted_spec(Overlap(), 0, epochs=2))
                assert await job.wait() is JobStatus.COMPLETED  # while the outer turn is held
    finally:
        holder.give_back()
