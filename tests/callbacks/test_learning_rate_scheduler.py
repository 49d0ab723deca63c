"""LearningRateScheduler: a new rate each epoch, from (epoch, lr) or (epoch); bad schedules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.callbacks.scripted_fit import X, Y, small_model
from trainer.callbacks.lambda_callback import LambdaCallback
from trainer.callbacks.learning_rate_scheduler import LearningRateScheduler


def rate_at_first_batch(rates: list[float]) -> LambdaCallback:
    """Records the learning rate the first batch of each epoch trains with."""
    recorder = LambdaCallback(
        on_train_batch_begin=lambda batch, logs: rates.append(recorder.model.optimizer.learning_rate) if batch == 0 else None
    )
    return recorder


def test_sets_the_rate_before_each_epoch_trains() -> None:
    rates: list[float] = []
    scheduler = LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = small_model().fit(X, Y, epochs=3, verbose=0, callbacks=[scheduler, rate_at_first_batch(rates)])
    assert rates == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["learning_rate"] == pytest.approx(rates)


@pytest.mark.anyio
async def test_gets_the_current_rate_and_may_take_the_epoch_alone() -> None:
    model = small_model(learning_rate=0.08)
    await model.fit_async(X, Y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: lr / 2)])
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    await model.fit_async(X, Y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: np.float64(epoch + 1))])
    assert model.optimizer.learning_rate == pytest.approx(2.0)


def test_a_schedule_returning_a_non_number_fails_fit_naming_the_epoch() -> None:
    scheduler = LearningRateScheduler(lambda epoch, lr: "fast" if epoch == 1 else lr)
    with pytest.raises(ValueError, match="schedule returned for epoch 1 must be a finite number; got 'fast'"):
        small_model().fit(X, Y, epochs=3, verbose=0, callbacks=[scheduler])


@pytest.mark.parametrize("returned", [None, float("nan"), True, [0.1]])
def test_other_non_numbers_are_refused(returned: Any) -> None:
    with pytest.raises(ValueError, match="must be a finite number"):
        small_model().fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: returned)])


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="must be at least 0.0; got -0.1"):
        small_model().fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: -0.1)])


def test_a_type_error_inside_the_schedule_is_not_swallowed() -> None:
    def schedule(epoch: int, lr: float) -> float:
        return lr + "oops"  # type: ignore[operator]

    with pytest.raises(TypeError, match="unsupported operand"):
        small_model().fit(X, Y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(schedule)])


@pytest.mark.parametrize(
    ("schedule", "error", "match"),
    [
        (0.01, TypeError, "schedule must be a function"),
        (lambda: 0.1, TypeError, r"must accept \(epoch, lr\) or \(epoch\)"),
        (lambda epoch, lr, extra: 0.1, TypeError, r"must accept \(epoch, lr\) or \(epoch\)"),
    ],
)
def test_bad_schedules_are_refused_at_once(schedule: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        LearningRateScheduler(schedule)


def test_bad_verbose_is_refused() -> None:
    with pytest.raises(ValueError, match="verbose must be a non-negative integer"):
        LearningRateScheduler(lambda epoch, lr: lr, verbose=-1)
