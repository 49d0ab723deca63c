"""Compute turns: concurrent runs compute one slice at a time, all progressing, cancellable while waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from trainer.jobs import JobManager, JobStatus, TrainingSpec
from trainer.turns import ComputeTurns, taking_turns

from ..callbacks.training_run import build_model, dataset

pytestmark = pytest.mark.anyio


class Overlap:
    """Counts how many threads are inside ``step`` at once, and the order they entered it."""

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


def work(turns: ComputeTurns, overlap: Overlap, worker: int, steps: int) -> None:
    """A compute thread's loop: take the turn, step (releasing the GIL, as BLAS does), pass it when due."""
    turn = turns.turn()
    step = overlap.wrap(worker, lambda: time.sleep(0.0005))
    turn.take()
    try:
        for _ in range(steps):
            step()
            turn.pass_if_due()
    finally:
        turn.give_back()


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
    switches = sum(a != b for a, b in zip(overlap.order, overlap.order[1:]))
    assert switches >= 6  # turns passed back and forth, not one whole run after another


async def test_a_thread_waiting_for_its_turn_is_cancelled_and_gives_up_its_place() -> None:
    turns = ComputeTurns(1)
    holder = turns.turn()
    holder.take()  # the holder keeps the only slot until the waiter has given up
    with anyio.move_on_after(0.1) as scope:
        await anyio.to_thread.run_sync(turns.turn().take)
    assert scope.cancelled_caught
    holder.give_back()
    late = turns.turn()
    with anyio.fail_after(5):
        await anyio.to_thread.run_sync(late.take)  # the slot is free: nobody cancelled holds it
    late.give_back()


def test_give_back_without_a_turn_does_nothing_and_bad_arguments_are_named() -> None:
    turns = ComputeTurns(1)
    turns.turn().give_back()
    first = turns.turn()
    first.take()  # would block if the give_back above had added a slot or taken one
    first.give_back()
    with pytest.raises(ValueError, match="slots must be a positive integer; got 0"):
        ComputeTurns(0)
    with pytest.raises(ValueError, match="slice_seconds must be a positive number; got -1"):
        ComputeTurns(1, slice_seconds=-1)


def counted_spec(overlap: Overlap, worker: int, epochs: int) -> Callable[[], TrainingSpec]:
    def build() -> TrainingSpec:
        x, y = dataset(64)
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
    assert sum(a != b for a, b in zip(overlap.order, overlap.order[1:])) >= 6


async def test_fit_inside_taking_turns_waits_for_the_turn_and_can_be_cancelled_meanwhile() -> None:
    x, y = dataset(64)
    model = build_model(dropout=0.0)
    turns = ComputeTurns(1)
    holder = turns.turn()
    holder.take()
    with taking_turns(turns), anyio.move_on_after(0.2) as scope:
        await model.fit_async(x, y, epochs=1, batch_size=8, verbose=0)
    assert scope.cancelled_caught  # never got the turn, and stopped waiting when cancelled
    holder.give_back()
    with taking_turns(turns):
        history = await model.fit_async(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2
