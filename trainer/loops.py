"""The fit, evaluate and predict loops, run in a worker thread, publishing the Keras lifecycle.

Each follows Keras 3's order of hooks exactly (see DESIGN.md); the numerical work is the model's
per-batch core. They run off the event loop, so they check between steps for cancellation and for
a failed queued callback (:meth:`Run.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .batching import EpochBatches
from .events import (
    EpochBegin,
    EpochEnd,
    PredictBatchBegin,
    PredictBatchEnd,
    PredictBegin,
    PredictEnd,
    TestBatchBegin,
    TestBatchEnd,
    TestBegin,
    TestEnd,
    TrainBatchBegin,
    TrainBatchEnd,
    TrainBegin,
    TrainEnd,
)
from .run import Run
from .validation import Batch

__all__ = ["evaluate_loop", "fit_loop", "predict_loop"]

Logs = dict[str, Any]


def fit_loop(
    model: Any,
    run: Run,
    train: EpochBatches,
    validation: EpochBatches | None,
    *,
    epochs: int,
    initial_epoch: int,
    validation_freq: int,
    steps_per_execution: int,
) -> None:
    """Train from ``initial_epoch`` to ``epochs``; validate every ``validation_freq`` epochs.

    A callback restoring a backup in ``on_train_begin`` sets ``model._initial_epoch`` to resume there.
    """
    model.stop_training = False
    model._initial_epoch = None
    run.emit(TrainBegin, {})
    if model._initial_epoch is not None:
        initial_epoch = model._initial_epoch
    train.start_at(initial_epoch)
    logs: Logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        run.emit(EpochBegin, {}, epoch)
        for first, last, group in _groups(train.epoch(), steps_per_execution):
            run.checkpoint()
            # Asked every step (a listener may come or go): a batch event nobody takes costs the step
            # nothing, its logs are never computed.
            if run.wants(TrainBatchBegin):
                run.emit(TrainBatchBegin, {}, first)
            run.take_turn()
            for x, y, sample_weight in group:
                model._train_step(x, y, sample_weight)
            if run.wants(TrainBatchEnd):
                run.emit(TrainBatchEnd, model.get_metrics_result(), last)
            if model.stop_training:
                break
        logs = model.get_metrics_result()
        if validation is not None and (epoch + 1) % validation_freq == 0:
            validation_logs = evaluate_loop(model, run, validation, steps_per_execution=steps_per_execution)
            logs = dict(sorted({**logs, **{f"val_{k}": v for k, v in validation_logs.items()}}.items()))
        run.emit(EpochEnd, logs, epoch)
        if model.stop_training:
            break
    run.emit(TrainEnd, logs)


def evaluate_loop(model: Any, run: Run, batches: EpochBatches, *, steps_per_execution: int) -> Logs:
    """Run the test hooks over ``batches``; return the final metrics (what ``on_test_end`` got)."""
    model.stop_evaluating = False
    model.reset_metrics()
    run.emit(TestBegin, {})
    for first, last, group in _groups(batches.epoch(), steps_per_execution):
        run.checkpoint()
        if run.wants(TestBatchBegin):
            run.emit(TestBatchBegin, {}, first)
        run.take_turn()
        for x, y, sample_weight in group:
            model._test_step(x, y, sample_weight)
        if run.wants(TestBatchEnd):
            run.emit(TestBatchEnd, model.get_metrics_result(), last)
        if model.stop_evaluating:
            break
    logs: Logs = model.get_metrics_result()
    run.emit(TestEnd, logs)
    return logs


def predict_loop(model: Any, run: Run, batches: EpochBatches, *, steps_per_execution: int) -> np.ndarray:
    """Run the predict hooks over ``batches``; return the outputs, concatenated."""
    model.stop_predicting = False
    run.emit(PredictBegin, {})
    outputs: list[np.ndarray] = []
    for first, last, group in _groups(batches.epoch(), steps_per_execution):
        run.checkpoint()
        run.emit(PredictBatchBegin, {}, first)
        run.take_turn()
        group_outputs = [model._predict_step(batch.x) for batch in group]
        outputs.extend(group_outputs)
        run.emit(PredictBatchEnd, {"outputs": _joined(group_outputs)}, last)
        if model.stop_predicting:
            break
    run.emit(PredictEnd, {})
    return _joined(outputs) if outputs else np.empty((0, *model.output_shape[1:]), dtype=np.float32)


def _groups(batches: Iterable[Batch], size: int) -> Iterator[tuple[int, int, Sequence[Batch]]]:
    """Batches in groups of ``size`` (``steps_per_execution``), with the first and last index of each."""
    if size == 1:
        for index, batch in enumerate(batches):
            yield index, index, (batch,)
        return
    group: list[Batch] = []
    first = 0
    for index, batch in enumerate(batches):
        group.append(batch)
        if len(group) == size:
            yield first, index, group
            group, first = [], index + 1
    if group:
        yield first, first + len(group) - 1, group


def _joined(outputs: list[np.ndarray]) -> np.ndarray:
    return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
