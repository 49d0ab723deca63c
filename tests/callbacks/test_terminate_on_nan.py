"""TerminateOnNaN: stops after the batch whose loss is NaN, or raises without on_train_end."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.callbacks.scripted_fit import X, Y, small_model
from trainer.callbacks.lambda_callback import LambdaCallback
from trainer.callbacks.terminate_on_nan import TerminateOnNaN

BATCH = 8
X_NAN = X.copy()
X_NAN[2 * BATCH] = np.nan  # the third batch (index 2) has a NaN loss


def recorder(calls: list[Any]) -> LambdaCallback:
    return LambdaCallback(
        on_train_batch_end=lambda batch, logs: calls.append(batch),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch)),
        on_train_end=lambda logs: calls.append("train_end"),
    )


@pytest.mark.anyio
async def test_stops_after_the_batch_with_a_nan_loss(capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[Any] = []
    history = await small_model().fit_async(
        X_NAN, Y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0, callbacks=[TerminateOnNaN(), recorder(calls)]
    )
    assert calls == [0, 1, 2, ("epoch_end", 0), "train_end"]
    assert history.epoch == [0] and np.isnan(history.history["loss"][0])
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out


def test_raise_error_raises_and_skips_on_train_end() -> None:
    calls: list[Any] = []
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 2"):
        small_model().fit(
            X_NAN, Y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
            callbacks=[TerminateOnNaN(raise_error=True), recorder(calls)],
        )  # fmt: skip
    assert calls == [0, 1], "it raised before later callbacks heard batch 2, and nobody heard on_train_end"


def test_infinite_loss_stops_too_and_finite_does_not() -> None:
    terminator = TerminateOnNaN()
    terminator.set_model(small_model())
    terminator.on_train_batch_end(0, {"loss": 1.0})
    terminator.on_train_batch_end(1, {})
    assert not terminator.model.stop_training
    terminator.on_train_batch_end(2, {"loss": float("-inf")})
    assert terminator.model.stop_training


def test_raise_error_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="raise_error must be True or False"):
        TerminateOnNaN(raise_error="yes")  # type: ignore[arg-type]
