"""The monitor shared by EarlyStopping and ReduceLROnPlateau: auto mode's direction, min_delta, set_state."""

from __future__ import annotations

import pytest

from tests.callbacks.scripted_fit import X, Y, scripted, small_model
from trainer.callbacks.early_stopping import EarlyStopping
from trainer.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau


@pytest.mark.parametrize(("monitor", "direction"), [("loss", "min"), ("val_loss", "min"), ("mae", "min"), ("val_mae", "min")])
def test_auto_mode_minimises_losses_and_errors(monitor: str, direction: str) -> None:
    stopper = EarlyStopping(monitor=monitor)
    model = small_model()
    model.fit(X, Y, epochs=1, verbose=0)  # builds the compiled metrics, whose class tells the direction
    stopper.set_model(model)
    assert stopper.is_improvement(1.0, 2.0) and not stopper.is_improvement(2.0, 1.0)


def test_auto_mode_maximises_accuracy() -> None:
    model = small_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    stopper = EarlyStopping(monitor="accuracy", patience=0)
    history = model.fit(X, Y, epochs=4, verbose=0, callbacks=[scripted("accuracy", [0.1, 0.2, 0.3, 0.4]), stopper])
    assert len(history.epoch) == 4, "rising accuracy is improving: no stop"


def test_auto_mode_refuses_a_quantity_of_unknown_direction() -> None:
    stopper = EarlyStopping(monitor="throughput")
    with pytest.raises(ValueError, match="cannot tell whether it should be maximised or minimised. Pass mode='max'"):
        small_model().fit(X, Y, epochs=2, verbose=0, callbacks=[scripted("throughput", [1.0, 2.0]), stopper])


def test_min_delta_is_the_least_change_that_counts() -> None:
    lower = EarlyStopping(monitor="loss", mode="min", min_delta=0.5)
    assert lower.is_improvement(0.4, 1.0) and not lower.is_improvement(0.5, 1.0)
    higher = EarlyStopping(monitor="acc", mode="max", min_delta=0.5)
    assert higher.is_improvement(1.6, 1.0) and not higher.is_improvement(1.5, 1.0)
    assert higher.is_improvement(-100.0, None), "the first value is always an improvement"


@pytest.mark.parametrize("callback_class", [EarlyStopping, ReduceLROnPlateau])
def test_set_state_names_what_the_state_lacks(callback_class: type[EarlyStopping | ReduceLROnPlateau]) -> None:
    with pytest.raises(ValueError, match="set_state: the state lacks best, wait"):
        callback_class().set_state({"cooldown_counter": 0, "best_epoch": 0, "stopped_epoch": 0, "best_weights": None})


def test_a_restore_after_on_train_begin_does_not_carry_over_to_the_next_fit() -> None:
    # BackupAndRestore may restore the state after this callback's on_train_begin, in the same run.
    reducer = ReduceLROnPlateau(monitor="loss")
    reducer.set_model(small_model())
    reducer.on_train_begin()
    reducer.set_state({"best": 0.5, "wait": 3, "cooldown_counter": 1})
    assert (reducer.best, reducer.wait) == (0.5, 3)
    reducer.on_train_end()
    reducer.on_train_begin()
    assert reducer.get_state() == {"best": None, "wait": 0, "cooldown_counter": 0}
