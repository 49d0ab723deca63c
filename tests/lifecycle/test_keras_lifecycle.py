"""The call sequence, logs and params that callbacks see equal what Keras 3 records (lifecycle.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer
from trainer import Callback, Input, Sequential
from trainer.layers import Dense

from .recording import Recorder

REFERENCE = json.loads((Path(__file__).parents[1] / "keras_reference" / "lifecycle.json").read_text())
DATA = {key: np.asarray(value, dtype=np.float32) for key, value in REFERENCE["data"].items()}


class StopAt(Callback):
    """Sets model.stop_training in the given hook at the given (epoch, batch), as the fixture script."""

    def __init__(self, hook: str, epoch: int, batch: int | None = None) -> None:
        super().__init__()
        self.hook, self.at_epoch, self.at_batch, self.epoch = hook, epoch, batch, None

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if self.hook == "on_train_batch_end" and (self.epoch, batch) == (self.at_epoch, self.at_batch):
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.hook == "on_epoch_end" and epoch == self.at_epoch:
            self.model.stop_training = True


def run_scenario(name: str, steps_per_execution: int = 1) -> dict[str, Any]:
    scenario = REFERENCE["scenarios"][name]
    kwargs = dict(scenario["call_kwargs"])
    method = kwargs.pop("method")
    model = Sequential([Input(shape=(3,)), Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], steps_per_execution=steps_per_execution)
    model.set_weights([np.asarray(w, dtype=np.float32) for w in scenario["init_weights"]])
    shared_log: list | None = [] if "callback_order" in scenario else None
    recorder = Recorder("first", shared_log)
    callbacks: list[Callback] = [recorder]
    if shared_log is not None:
        callbacks.append(Recorder("second", shared_log))
    if name == "stop_batch":
        callbacks.insert(0, StopAt("on_train_batch_end", 0, 1))
    if name == "stop_epoch":
        callbacks.insert(0, StopAt("on_epoch_end", 0))
    if kwargs.pop("validation_data", None):
        kwargs["validation_data"] = (DATA["x_val"], DATA["y_val"])
    if method == "fit":
        model.fit(DATA["x"], DATA["y"], shuffle=False, verbose=0, callbacks=callbacks, **kwargs)
    elif method == "evaluate":
        model.evaluate(DATA["x"], DATA["y"], verbose=0, callbacks=callbacks, **kwargs)
    else:
        model.predict(DATA["x"], verbose=0, callbacks=callbacks, **kwargs)
    return {"params": recorder.params_seen, "calls": recorder.calls, "values": recorder.values, "order": shared_log}


TORCH_SCENARIOS = [name for name, s in REFERENCE["scenarios"].items() if "error" not in s and s["backend"] == "torch"]


@pytest.mark.parametrize("name", TORCH_SCENARIOS)
def test_calls_params_and_logs_match_keras(name: str) -> None:
    expected = REFERENCE["scenarios"][name]
    ours = run_scenario(name)
    assert ours["params"] == expected["params"]
    assert ours["calls"] == expected["calls"]
    assert [position for position, _ in ours["values"]] == [position for position, _ in expected["logs_values"]]
    for (_, got), (_, want) in zip(ours["values"], expected["logs_values"]):
        assert got.keys() == want.keys()
        np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5, atol=2e-6)
    if "callback_order" in expected:
        assert ours["order"] == expected["callback_order"]


def test_steps_per_execution_reports_the_last_real_batch_of_a_short_group() -> None:
    """Keras 3.15 (JAX) reports batch 5 for the short last group of 5 batches; we report 4, the real one."""
    expected = REFERENCE["scenarios"]["fit_steps_per_execution_jax"]
    keras_calls = [[h, 4 if (h == "on_train_batch_end" and i == 5) else i, k] for h, i, k in expected["calls"]]
    assert run_scenario("fit_steps_per_execution_jax", steps_per_execution=2)["calls"] == keras_calls
    assert [i for h, i, _ in expected["calls"] if h == "on_train_batch_end"][:3] == [1, 3, 5]


def test_seed_example_mark_finished() -> None:
    """The R keras3 reference page's example, in Python."""
    finished = {"yes": False}

    def on_train_end(self: Callback, logs: Any = None) -> None:
        finished["yes"] = True

    callback_mark_finished = Callback("MarkFinished", on_train_end=on_train_end)
    model = Sequential([Input(shape=(1,)), Dense(1)])
    model.compile(loss="mean_squared_error")
    model.fit(np.ones((1, 1)), np.ones((1, 1)), callbacks=[callback_mark_finished()], verbose=0)
    assert finished["yes"]


def test_history_is_returned_and_set_on_the_model() -> None:
    trainer.set_random_seed(3)
    model = Sequential([Input(shape=(3,)), Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = model.fit(DATA["x"], DATA["y"], epochs=3, batch_size=4, validation_split=0.2, verbose=0)
    assert history is model.history
    assert history.epoch == [0, 1, 2]
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert history.params == {"verbose": 0, "epochs": 3, "steps": 2}
