"""Keras 3.15's ``early_stopping_test.py``: the checks about ``mode``, ported."""

from __future__ import annotations

import pytest

from trainer.callbacks import EarlyStopping

from .models import data, regression


@pytest.mark.parametrize(
    ("mode", "monitor", "expected"),
    [("max", "val_mse", "max"), ("min", "val_loss", "min"), ("auto", "val_mse", "min"), ("auto", "loss", "min"),
     ("auto", "acc", "max"), ("auto", "val_accuracy", "max"), ("auto", "mae", "min")],
)  # fmt: skip
def test_early_stopping_mode(mode: str, monitor: str, expected: str) -> None:
    """test_early_stopping: the direction each mode and monitor give (Keras's hinge and F1Score
    cases are left out: this engine has neither metric)."""
    x, y = data(inputs=5)
    model = regression(inputs=5, metrics=["mse", "mae", "acc", "accuracy"], optimizer="adam", loss="mae")
    stopper = EarlyStopping(patience=0, monitor=monitor, mode=mode)
    model.fit(x, y, batch_size=5, validation_data=data(inputs=5, seed=1), callbacks=[stopper], epochs=2, verbose=0)
    assert stopper._direction() == expected


@pytest.mark.parametrize("monitor", ["unknown", "val_unknown"])
def test_early_stopping_unknown_monitor_raises(monitor: str) -> None:
    """test_early_stopping, its last check: mode="auto" with a monitor whose direction cannot be told
    raises ValueError (at the first epoch end), even though the value is not in the logs."""
    x, y = data(inputs=5)
    model = regression(inputs=5, loss="mae")
    with pytest.raises(ValueError, match="cannot tell whether it should be maximised or minimised"):
        model.fit(x, y, batch_size=5, validation_data=data(inputs=5, seed=1), callbacks=[EarlyStopping(monitor=monitor)], epochs=2, verbose=0)


def test_a_missing_monitor_with_an_explicit_mode_warns_and_trains_on() -> None:
    """Keras's get_monitor_value: a missing value with a known direction warns and skips."""
    x, y = data(inputs=5)
    model = regression(inputs=5)
    with pytest.warns(UserWarning, match="'val_unknown', which is not available"):
        history = model.fit(x, y, callbacks=[EarlyStopping(monitor="val_unknown", mode="min")], epochs=2, verbose=0)
    assert history.epoch == [0, 1]
