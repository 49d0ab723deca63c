"""Keras 3.15's ``lambda_callback_test.py``, ported, with the alias and keyword checks of the issue."""

from __future__ import annotations

from typing import Any

import pytest

from trainer.callbacks import Callback, LambdaCallback
from trainer.callbacks.subscriber import delivery_of

from .models import data, regression


def fit(callbacks: list[Callback], **kwargs: Any) -> Any:
    x, y = data(samples=16, inputs=2)
    return regression(inputs=2, metrics=[]).fit(x, y, batch_size=4, verbose=0, callbacks=callbacks, **{"epochs": 5, **kwargs})


def test_lambda_callback() -> None:
    """test_lambda_callback"""
    seen: list[str] = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: seen.append("on_train_begin"),
        on_epoch_begin=lambda epoch, logs: seen.append("on_epoch_begin"),
        on_epoch_end=lambda epoch, logs: seen.append("on_epoch_end"),
        on_train_end=lambda logs: seen.append("on_train_end"),
    )
    fit([callback], validation_split=0.2)
    assert seen == ["on_train_begin", *["on_epoch_begin", "on_epoch_end"] * 5, "on_train_end"]


def test_lambda_callback_with_batches() -> None:
    """test_lambda_callback_with_batches (16 samples, 20% for validation: 3 batches of 4 an epoch)."""
    seen: list[str] = []
    callback = LambdaCallback(
        on_train_batch_begin=lambda batch, logs: seen.append("begin"),
        on_train_batch_end=lambda batch, logs: seen.append("end"),
    )
    fit([callback], validation_split=0.2)
    assert seen == ["begin", "end"] * 3 * 5


def test_lambda_callback_with_kwargs() -> None:
    """test_lambda_callback_with_kwargs: a hook Keras's signature does not name, by keyword."""
    seen: list[Any] = []
    x, y = data(samples=16, inputs=2)
    model = regression(inputs=2, metrics=[])
    model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[LambdaCallback(on_test_begin=seen.append)])
    assert seen == [{}]


def test_lambda_callback_no_args() -> None:
    """test_lambda_callback_no_args"""
    assert isinstance(LambdaCallback(), LambdaCallback)


def test_lambda_callback_with_additional_kwargs() -> None:
    """test_lambda_callback_with_additional_kwargs: other keywords become attributes."""

    def custom_callback(logs: Any) -> None: ...

    callback = LambdaCallback(custom_method=custom_callback, threshold=0.5)
    assert callback.custom_method is custom_callback  # type: ignore[attr-defined]
    assert callback.threshold == 0.5  # type: ignore[attr-defined]


def test_lambda_callback_during_prediction() -> None:
    """test_lambda_callback_during_prediction"""
    seen: list[Any] = []
    x, _ = data(samples=16, inputs=2)
    regression(inputs=2).predict(x, batch_size=4, verbose=0, callbacks=[LambdaCallback(on_predict_begin=seen.append)])
    assert seen == [{}]


def test_on_batch_begin_and_end_hear_the_training_batches() -> None:
    """Keras's LambdaCallback takes on_batch_begin/on_batch_end (kwargs its base class's default
    on_train_batch_* call); not the test or predict batches."""
    seen: list[tuple[str, int]] = []
    callback = LambdaCallback(
        on_batch_begin=lambda batch, logs: seen.append(("begin", batch)),
        on_batch_end=lambda batch, logs: seen.append(("end", batch)),
    )
    fit([callback], validation_split=0.2, epochs=1)
    assert seen == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1), ("begin", 2), ("end", 2)]


def test_on_train_batch_end_given_too_is_the_one_called_as_in_keras() -> None:
    seen: list[str] = []
    callback = LambdaCallback(on_batch_end=lambda batch, logs: seen.append("alias"), on_train_batch_end=lambda batch, logs: seen.append("hook"))
    fit([callback], epochs=1)
    assert seen == ["hook"] * 4


def test_an_attribute_may_choose_the_delivery() -> None:
    async def on_epoch_end(epoch: int, logs: Any) -> None: ...

    assert delivery_of(LambdaCallback(on_epoch_end=on_epoch_end)) == "queued"
    assert delivery_of(LambdaCallback(on_epoch_end=on_epoch_end, delivery="inline")) == "inline"


@pytest.mark.parametrize(
    ("name", "nearest"),
    [("on_epoch_ends", "on_epoch_end"), ("onEpochEnd", "on_epoch_end"), ("epoch_end", "on_epoch_end"),
     ("on_batch_ends", "on_batch_end"), ("TrainBatchEnd", "on_train_batch_end")],
)  # fmt: skip
def test_a_name_that_looks_like_a_misspelt_hook_is_refused_with_the_nearest(name: str, nearest: str) -> None:
    with pytest.raises(ValueError, match=f"'{name}' is not a callback hook; did you mean '{nearest}'"):
        LambdaCallback(**{name: print})
