"""R keras3's ``tests/testthat/test-callbacks.R``, the checks that are not about TensorFlow, ported."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import trainer
from trainer import layers
from trainer.callbacks import Callback, LambdaCallback

X = np.arange(1, 11, dtype=np.float32).reshape(10, 1)
Y = np.arange(1, 11, dtype=np.float32).reshape(10, 1)


def model() -> trainer.Sequential:
    trainer.set_random_seed(0)
    built = trainer.Sequential([trainer.Input(shape=(1,)), layers.Dense(1)])
    built.compile(optimizer="adam", loss="mae")
    return built


def repeated(batch: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """R's generator: a function returning the same batch at each call."""
    return itertools.repeat(batch)


class Says(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.out = ""

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.out += "PREDICT BEGIN"

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self.out += "PREDICT END"

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.out += "PREDICT BEGIN"

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        self.out += "PREDICT END"


def test_lambda_callbacks_other_args() -> None:
    """lambda callbacks other args: hooks beyond the epoch ones, called only where they belong, no warnings."""
    out: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback = LambdaCallback(
            on_epoch_begin=lambda epoch, logs: out.append("Epoch Begin"),
            on_epoch_end=lambda epoch, logs: out.append("Epoch End"),
            on_predict_begin=lambda logs: out.append("Prediction Begin"),
            on_test_begin=lambda logs: out.append("Test Begin"),
        )
        built = model()
        built.predict(X, verbose=0, callbacks=[callback])
        assert out == ["Prediction Begin"]
        out.clear()
        built.evaluate(X, Y, verbose=0, callbacks=[callback])
        assert out == ["Test Begin"]


def test_custom_callbacks() -> None:
    """custom callbacks: a LossHistory overriding on_batch_end collects each batch's loss."""

    class LossHistory(Callback):
        def __init__(self) -> None:
            super().__init__()
            self.losses: list[float] = []

        def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.losses.append((logs or {})["loss"])

    history = LossHistory()
    model().fit(X, Y, batch_size=2, epochs=1, verbose=0, callbacks=[history])
    assert len(history.losses) == 5
    assert all(isinstance(loss, float) for loss in history.losses)


def test_custom_callbacks_new_style() -> None:
    """custom callbacks, new-style: a hook's returned logs reach the callbacks after it and the history
    (R keras3's second check, that a converted copy does not, is about R's conversion, not ported)."""

    class CustomMetric(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> dict[str, Any]:
            return {"my_epoch": epoch}

    class CustomMetric2(Callback):
        seen = False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.seen = "my_epoch" in (logs or {})

    second = CustomMetric2()
    history = model().fit(X, Y, epochs=1, verbose=0, callbacks=[CustomMetric(), second])
    assert history.history["my_epoch"] == [0]
    assert second.seen


def test_on_predict_evaluation_callbacks() -> None:
    """on predict/evaluation callbacks: arrays and generators with steps, each run's begin and end once."""
    built = model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for run in (
            lambda says: built.predict(X, verbose=0, callbacks=[says]),
            lambda says: built.predict(repeated((X,)), steps=5, verbose=0, callbacks=[says]),
            lambda says: built.evaluate(X, Y, verbose=0, callbacks=[says]),
            lambda says: built.evaluate(repeated((X, Y)), steps=1, verbose=0, callbacks=[says]),
        ):
            says = Says()
            run(says)
            assert says.out == "PREDICT BEGINPREDICT END"


def test_warnings_for_new_callback_moment() -> None:
    """warnings for new callback moment: a callback with predict and test hooks fits without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model().fit(X, Y, verbose=0, epochs=2, callbacks=[Says()])


@pytest.mark.parametrize("name", ["ProgbarLogger", "LearningRateScheduler", "TerminateOnNaN", "ReduceLROnPlateau", "CSVLogger", "LambdaCallback"])
def test_callback_is_called_back(name: str, tmp_path: Any) -> None:
    """test_callback(name, ...): each built-in callback R's suite fits with, fitting without error."""
    from trainer import callbacks

    made = {
        "ProgbarLogger": lambda: callbacks.ProgbarLogger(),
        "LearningRateScheduler": lambda: callbacks.LearningRateScheduler(lambda index, lr: 0.1),
        "TerminateOnNaN": lambda: callbacks.TerminateOnNaN(),
        "ReduceLROnPlateau": lambda: callbacks.ReduceLROnPlateau(monitor="loss"),
        "CSVLogger": lambda: callbacks.CSVLogger(tmp_path / "log.csv"),
        "LambdaCallback": lambda: callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: None),
    }[name]()
    history = model().fit(X, Y, epochs=1, verbose=0, callbacks=[made])
    assert history.epoch == [0]
