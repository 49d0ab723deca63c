"""ReduceLROnPlateau: Keras 3's patience, min_lr and cooldown arithmetic, logged rate, state, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.callbacks.scripted_fit import X, Y, scripted, small_model
from trainer.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau


def rates_after_each_epoch(reducer: ReduceLROnPlateau, values: list[float], learning_rate: float = 0.01) -> list[float]:
    """Call the hooks as fit would, monitoring ``loss``; the learning rate after each epoch end."""
    reducer.set_model(small_model(learning_rate))
    reducer.on_train_begin()
    rates = []
    for epoch, value in enumerate(values):
        reducer.on_epoch_end(epoch, {"loss": value})
        rates.append(reducer.model.optimizer.learning_rate)
    return rates


def test_patience_epochs_without_improvement_then_a_reduction() -> None:
    rates = rates_after_each_epoch(ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2), [1.0] * 6)
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])


def test_an_improvement_resets_the_wait() -> None:
    rates = rates_after_each_epoch(ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2), [1.0, 1.0, 0.5, 0.5, 0.5])
    assert rates == pytest.approx([0.01, 0.01, 0.01, 0.01, 0.005])


def test_changes_smaller_than_min_delta_are_no_improvement() -> None:
    values = [1.0, 0.99997, 0.99994, 0.99991]
    rates = rates_after_each_epoch(ReduceLROnPlateau(monitor="loss", factor=0.5, patience=3), values)
    assert rates[-1] == pytest.approx(0.005), "default min_delta=1e-4: steps of 3e-5 do not count"
    rates = rates_after_each_epoch(ReduceLROnPlateau(monitor="loss", factor=0.5, patience=3, min_delta=0), values)
    assert rates[-1] == pytest.approx(0.01)


def test_never_below_min_lr() -> None:
    rates = rates_after_each_epoch(ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_lr=0.0005), [1.0] * 5)
    assert rates == pytest.approx([0.01, 0.001, 0.0005, 0.0005, 0.0005])


def test_cooldown_skips_counting_after_a_reduction() -> None:
    reducer = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, cooldown=2)
    rates = rates_after_each_epoch(reducer, [1.0] * 6, learning_rate=1.0)
    assert rates == pytest.approx([1.0, 0.1, 0.1, 0.01, 0.01, 0.001])
    assert reducer.cooldown_counter == 2


@pytest.mark.anyio
async def test_reduces_in_a_real_fit_and_logs_the_rate_each_epoch_trained_with() -> None:
    model = small_model(learning_rate=0.1)
    reducer = ReduceLROnPlateau(factor=0.5, patience=1)
    history = await model.fit_async(X, Y, epochs=4, verbose=0, callbacks=[scripted("val_loss", [1.0] * 4), reducer])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)


def test_state_is_json_and_round_trips() -> None:
    first = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=3)
    rates_after_each_epoch(first, [1.0, 1.0])
    state = json.loads(json.dumps(first.get_state()))
    assert state == {"best": 1.0, "wait": 1, "cooldown_counter": 0}
    resumed = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=3)
    resumed.set_model(small_model())
    resumed.set_state(state)
    resumed.on_train_begin()
    resumed.on_epoch_end(2, {"loss": 1.0})
    resumed.on_epoch_end(3, {"loss": 1.0})
    assert resumed.model.optimizer.learning_rate == pytest.approx(0.005), "the restored wait counted on"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"factor": 1.0}, ValueError, r"factor \(new_lr = lr \* factor\) must be less than 1.0; got 1.0"),
        ({"factor": 2}, ValueError, "must be less than 1.0"),
        ({"factor": -0.5}, ValueError, "must be at least 0.0"),
        ({"mode": "maximum"}, ValueError, "Unknown mode: 'maximum'. Did you mean 'max'"),
        ({"patience": -1}, ValueError, "patience must be a non-negative integer"),
        ({"cooldown": 0.5}, ValueError, "cooldown must be a non-negative integer"),
        ({"min_lr": -1e-3}, ValueError, "min_lr must be at least 0.0"),
        ({"min_delta": float("inf")}, ValueError, "min_delta must be a finite number"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ReduceLROnPlateau(**kwargs)
