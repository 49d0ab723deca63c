"""EarlyStopping: Keras 3's stopping epochs, best weights, baseline, min_delta, start_from_epoch, state."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from tests.callbacks.scripted_fit import X, Y, scripted, small_model
from trainer.callbacks.early_stopping import EarlyStopping
from trainer.callbacks.lambda_callback import LambdaCallback

LOSSES = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]


def feed(stopper: EarlyStopping, key: str, values: list[float]) -> int:
    """Call the epoch hooks as fit would; return how many epochs ran."""
    stopper.on_train_begin()
    for epoch, value in enumerate(values):
        stopper.on_epoch_end(epoch, {key: value})
        if stopper.model.stop_training:
            return epoch + 1
    return len(values)


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_stops_at_keras_epoch_with_hooks_called_directly(patience: int) -> None:
    stopper = EarlyStopping(monitor="loss", patience=patience)
    stopper.set_model(small_model())
    feed(stopper, "loss", LOSSES)
    assert stopper.stopped_epoch == max(patience, 1) + 2


@pytest.mark.parametrize("patience", [0, 3])
def test_stops_at_keras_epoch_in_a_real_fit(patience: int) -> None:
    stopper = EarlyStopping(monitor="loss", patience=patience)
    history = small_model().fit(X, Y, epochs=len(LOSSES), verbose=0, callbacks=[scripted("loss", LOSSES), stopper])
    assert stopper.stopped_epoch == max(patience, 1) + 2
    assert history.epoch == list(range(stopper.stopped_epoch + 1))
    assert history.history["loss"] == LOSSES[: stopper.stopped_epoch + 1]


@pytest.mark.anyio
async def test_stops_in_fit_async() -> None:
    stopper = EarlyStopping(monitor="loss", patience=1)
    history = await small_model().fit_async(X, Y, epochs=len(LOSSES), verbose=0, callbacks=[scripted("loss", LOSSES), stopper])
    assert len(history.epoch) == 4 and stopper.stopped_epoch == 3


def weights_recorder() -> tuple[LambdaCallback, list[list[np.ndarray]]]:
    """A callback keeping a copy of the weights at each epoch end."""
    seen: list[list[np.ndarray]] = []
    recorder = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(recorder.model.get_weights()))
    return recorder, seen


def assert_weights_equal(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a, e)


def test_restore_best_weights_returns_the_best_epochs_weights() -> None:
    recorder, seen = weights_recorder()
    model = small_model()
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    val_losses = [0.2, 0.15, 0.1, 0.11, 0.12, 0.13]
    model.fit(X, Y, epochs=6, verbose=0, callbacks=[recorder, scripted("val_loss", val_losses), stopper])
    assert len(seen) == 5 and stopper.best_epoch == 2
    assert not np.array_equal(seen[2][0], seen[4][0]), "training must have moved the weights"
    assert_weights_equal(model.get_weights(), seen[2])


def test_restore_best_weights_with_a_baseline_no_epoch_beats() -> None:
    recorder, seen = weights_recorder()
    model = small_model()
    stopper = EarlyStopping(patience=5, baseline=0.5, restore_best_weights=True)
    val_losses = [0.9, 0.8, 0.7, 0.71, 0.72, 0.73, 0.74]
    history = model.fit(X, Y, epochs=7, verbose=0, callbacks=[recorder, scripted("val_loss", val_losses), stopper])
    assert len(history.epoch) == 5, "no epoch beats the baseline: it stops after patience epochs"
    assert_weights_equal(model.get_weights(), seen[2])


def test_restore_best_weights_also_when_another_callback_stops() -> None:
    recorder, seen = weights_recorder()
    model = small_model()
    stopper = EarlyStopping(patience=5, restore_best_weights=True)
    other = LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", epoch == 3))
    model.fit(X, Y, epochs=6, verbose=0, callbacks=[recorder, scripted("val_loss", [0.9, 0.7, 0.8, 0.85]), stopper, other])
    assert len(seen) == 4 and stopper.stopped_epoch == 0
    assert_weights_equal(model.get_weights(), seen[1])


def test_min_delta_in_max_mode() -> None:
    accuracies = [0.50, 0.54, 0.58, 0.60, 0.62, 0.63]
    strict = EarlyStopping(monitor="acc", mode="max", patience=2, min_delta=0.05)
    strict.set_model(small_model())
    assert feed(strict, "acc", accuracies) == 5
    assert strict.stopped_epoch == 4 and strict.best == 0.58
    lenient = EarlyStopping(monitor="acc", mode="max", patience=2)
    lenient.set_model(small_model())
    assert feed(lenient, "acc", accuracies) == len(accuracies)


def test_start_from_epoch_waits_before_monitoring() -> None:
    stopper = EarlyStopping(monitor="loss", patience=1, start_from_epoch=3)
    stopper.set_model(small_model())
    assert feed(stopper, "loss", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]) == 5
    assert stopper.stopped_epoch == 4 and stopper.best == 4.0


def test_state_resets_for_each_fit() -> None:
    stopper = EarlyStopping(monitor="loss", patience=0)
    model = small_model()
    model.fit(X, Y, epochs=5, verbose=0, callbacks=[scripted("loss", [1.0, 2.0, 3.0]), stopper])
    assert stopper.stopped_epoch == 1
    history = model.fit(X, Y, epochs=3, verbose=0, callbacks=[scripted("loss", [5.0, 4.0, 3.0]), stopper])
    assert len(history.epoch) == 3 and stopper.stopped_epoch == 0 and stopper.best == 3.0


def test_state_round_trip_resumes_where_it_stopped() -> None:
    whole = EarlyStopping(monitor="loss", patience=3, restore_best_weights=True)
    whole.set_model(small_model())
    feed(whole, "loss", LOSSES)

    first = EarlyStopping(monitor="loss", patience=3, restore_best_weights=True)
    first.set_model(small_model())
    feed(first, "loss", LOSSES[:4])
    state = first.get_state()
    json.dumps({key: value for key, value in state.items() if key != "best_weights"})
    assert isinstance(state["best_weights"], list) and all(isinstance(w, np.ndarray) for w in state["best_weights"])

    resumed = EarlyStopping(monitor="loss", patience=3, restore_best_weights=True)
    resumed.set_model(small_model())
    resumed.set_state(state)
    resumed.on_train_begin()  # a resumed run's own start keeps the restored state
    for epoch in range(4, len(LOSSES)):
        resumed.on_epoch_end(epoch, {"loss": LOSSES[epoch]})
        if resumed.model.stop_training:
            break
    assert (resumed.stopped_epoch, resumed.best, resumed.best_epoch) == (whole.stopped_epoch, whole.best, whole.best_epoch)


def test_missing_monitor_warns_and_does_nothing() -> None:
    stopper = EarlyStopping(patience=0)
    stopper.set_model(small_model())
    stopper.on_train_begin()
    with pytest.warns(UserWarning, match="'val_loss', which is not available. Available metrics are: loss"):
        stopper.on_epoch_end(0, {"loss": 1.0})
    assert stopper.best is None and not stopper.model.stop_training


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"patience": -1}, ValueError, "patience must be a non-negative integer"),
        ({"patience": 1.5}, ValueError, "patience must be a non-negative integer"),
        ({"mode": "mn"}, ValueError, "Did you mean 'min'"),
        ({"min_delta": -0.1}, ValueError, "min_delta must be at least 0"),
        ({"min_delta": "0.1"}, ValueError, "min_delta must be a finite number"),
        ({"baseline": float("nan")}, ValueError, "baseline must be a finite number"),
        ({"restore_best_weights": "yes"}, TypeError, "restore_best_weights must be True or False"),
        ({"start_from_epoch": -2}, ValueError, "start_from_epoch must be a non-negative integer"),
        ({"monitor": ""}, ValueError, "monitor must be the name of a logged quantity"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        EarlyStopping(**kwargs)
