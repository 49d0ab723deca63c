"""``stop_training`` set from a queued hook: never a silent surprise."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from trainer.callbacks import Callback
from trainer.stop_flag import QueuedStopWarning

from .models import data, regression


class StopAtEpoch(Callback):
    """Sets stop_training at the end of epoch ``at``, from an ``async def`` hook (queued by default)."""

    def __init__(self, at: int, delivery: str = "auto") -> None:
        super().__init__()
        self.at = at
        self.delivery = delivery  # type: ignore[misc]

    async def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == self.at:
            self.model.stop_training = True


@pytest.mark.anyio
async def test_a_queued_hook_setting_stop_training_warns_once_naming_the_inline_delivery() -> None:
    x, y = data()
    model = regression()
    with pytest.warns(QueuedStopWarning, match="delivery = 'inline'") as warned:
        await model.fit_async(x, y, epochs=20, verbose=0, callbacks=[StopAtEpoch(1)])
        await model.fit_async(x, y, epochs=20, verbose=0, callbacks=[StopAtEpoch(1)])
    assert len([w for w in warned if issubclass(w.category, QueuedStopWarning)]) == 1


@pytest.mark.anyio
async def test_an_inline_async_hook_stops_right_after_that_epoch_without_a_warning() -> None:
    x, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", QueuedStopWarning)
        for _ in range(3):
            history = await regression().fit_async(x, y, epochs=20, verbose=0, callbacks=[StopAtEpoch(1, "inline")])
            assert history.epoch == [0, 1]


def test_an_inline_def_hook_does_not_warn() -> None:
    class Stop(Callback):
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.model.stop_training = True

    x, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", QueuedStopWarning)
        history = regression().fit(x, y, batch_size=2, epochs=5, verbose=0, callbacks=[Stop()])
    assert history.epoch == [0]


@pytest.mark.anyio
async def test_a_queued_def_hook_setting_stop_training_warns_too() -> None:
    class QueuedDef(Callback):
        delivery = "queued"

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.model.stop_training = True

    x, y = data()
    with pytest.warns(QueuedStopWarning, match="queued callback hook \\(on_epoch_end\\)"):
        await regression().fit_async(x, y, epochs=20, verbose=0, callbacks=[QueuedDef()])
