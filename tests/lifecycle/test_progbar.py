"""The progress bar fit adds when verbose is 1 or 2."""

from __future__ import annotations

import io

import numpy as np
import pytest

from eventbus import EventBus
from trainer import Input, Sequential
from trainer.callbacks import Callback, ProgbarLogger, current_event
from trainer.callbacks.lanes import Lanes
from trainer.callbacks.subscriber import subscribe_callback
from trainer.events import EpochBegin, EpochEnd
from trainer.layers import Dense

X = np.linspace(-1, 1, 40, dtype=np.float32).reshape(20, 2)
Y = X.sum(axis=1, keepdims=True)


def model() -> Sequential:
    m = Sequential([Input(shape=(2,)), Dense(1)])
    m.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return m


def test_verbose_2_prints_one_line_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    model().fit(X, Y, batch_size=8, epochs=2, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    for line in (lines[1], lines[3]):
        assert line.startswith("2/2 - ") and "s/step - loss: " in line and " - val_mae: " in line
    assert len(lines) == 4


def test_verbose_1_draws_a_bar_that_ends_full(capsys: pytest.CaptureFixture[str]) -> None:
    model().fit(X, Y, batch_size=8, epochs=1)  # verbose="auto" is 1
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/1\n")
    final = out.rstrip("\n").split("\r")[-1]
    assert final.startswith("3/3 " + "━" * 20) and "loss: " in final and "mae: " in final


def test_evaluate_and_predict_show_their_own_bar(capsys: pytest.CaptureFixture[str]) -> None:
    m = model()
    m.evaluate(X, Y, batch_size=10, verbose=2)
    m.predict(X, batch_size=10, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("2/2 - ") and "loss: " in lines[0]
    assert lines[1].startswith("2/2 - ")
    assert len(lines) == 2


def test_verbose_0_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    model().fit(X, Y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_bad_verbose() -> None:
    with pytest.raises(ValueError, match="verbose must be 'auto', 0, 1 or 2; got 3"):
        model().fit(X, Y, verbose=3)


@pytest.mark.anyio
async def test_the_time_shown_is_the_events_not_the_drawings() -> None:
    """Queued, the bar may draw a whole epoch at once, long after it happened: it times the events."""
    out = io.StringIO()
    progbar = ProgbarLogger(stream=out)
    progbar.set_params({"verbose": 2, "epochs": 1, "steps": 10})
    async with EventBus() as bus:
        subscribe_callback(progbar, Lanes(bus, "fit-1"))
        await bus.publish(EpochBegin(run="fit-1", logs={}, epoch=0, time=100.0))
        await bus.publish(EpochEnd(run="fit-1", logs={"loss": 0.5}, epoch=0, time=100.5))
    assert out.getvalue() == "Epoch 1/1\n10/10 - 0s - 50ms/step - loss: 0.5000\n"


@pytest.mark.anyio
async def test_a_hook_finds_the_event_it_handles() -> None:
    seen: list[tuple[str, float]] = []

    class Timed(Callback):
        async def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            event = current_event()
            assert event is not None
            seen.append((event.run, event.time))

    await model().fit_async(X, Y, epochs=2, verbose=0, callbacks=[Timed()], run_id="timed")
    assert [run for run, _ in seen] == ["timed", "timed"] and seen[0][1] < seen[1][1]
    assert current_event() is None  # outside a hook
