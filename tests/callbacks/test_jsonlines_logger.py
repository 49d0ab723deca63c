"""JSONLinesLogger: one strict-JSON line per selected event, in order; selection; run ids; bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.callbacks.scripted_fit import X, Y, small_model
from trainer.callbacks.jsonlines_logger import JSONLinesLogger
from trainer.callbacks.subscriber import delivery_of
from trainer.events import BatchEvent, EpochEnd, PredictEnd


def strict(constant: str) -> Any:
    raise AssertionError(f"not strict JSON: {constant}")


def read_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line, parse_constant=strict) for line in text.splitlines()]


@pytest.mark.anyio
async def test_default_events_in_order_with_their_logs(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    logger = JSONLinesLogger(path)
    assert delivery_of(logger) == "queued"
    history = await small_model().fit_async(X, Y, epochs=2, verbose=0, validation_split=0.25, callbacks=[logger])
    lines = read_lines(path)
    expected = [("TrainBegin", None)]
    for e in (0, 1):
        expected += [("EpochBegin", e), ("TestBegin", None), ("TestEnd", None), ("EpochEnd", e)]
    expected += [("TrainEnd", None)]
    assert [(line["event"], line.get("epoch")) for line in lines] == expected
    assert all(set(line) == {"run", "event", "hook", "logs", "time"} | ({"epoch"} if "epoch" in line else set()) for line in lines)
    assert [line["hook"] for line in lines][:2] == ["on_train_begin", "on_epoch_begin"]
    assert [line["logs"] for line in lines if line["event"] == "EpochEnd"] == [
        {key: values[e] for key, values in history.history.items()} for e in (0, 1)
    ]
    assert len({line["run"] for line in lines}) == 1
    times = [line["time"] for line in lines]
    assert times == sorted(times)


def test_selecting_hooks_and_event_classes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    logger = JSONLinesLogger(path, events=["on_train_batch_end", EpochEnd])
    assert logger.hooks == ("on_epoch_end", "on_train_batch_end")
    small_model().fit(X, Y, batch_size=16, epochs=2, verbose=0, callbacks=[logger])
    lines = read_lines(path)
    assert [(line["event"], line.get("batch", line.get("epoch"))) for line in lines] == [
        ("TrainBatchEnd", 0), ("TrainBatchEnd", 1), ("EpochEnd", 0),
        ("TrainBatchEnd", 0), ("TrainBatchEnd", 1), ("EpochEnd", 1),
    ]  # fmt: skip
    assert set(lines[0]["logs"]) == {"loss", "mae"}


def test_a_base_class_selects_all_its_kinds_and_arrays_become_lists(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    logger = JSONLinesLogger(path, events=[BatchEvent, PredictEnd])
    batch_hooks = {f"on_{kind}_batch_{edge}" for kind in ("train", "test", "predict") for edge in ("begin", "end")}
    assert set(logger.hooks) == batch_hooks | {"on_predict_end"}
    outputs = small_model().predict(X[:3], verbose=0, callbacks=[logger])
    lines = read_lines(path)
    assert [line["event"] for line in lines] == ["PredictBatchBegin", "PredictBatchEnd", "PredictEnd"]
    np.testing.assert_allclose(lines[1]["logs"]["outputs"], outputs, rtol=1e-6)


def test_the_default_leaves_batch_hooks_unsubscribed(tmp_path: Path) -> None:
    logger = JSONLinesLogger(tmp_path / "events.jsonl")
    assert not any("batch" in hook for hook in logger.hooks)
    assert "on_train_batch_end" not in vars(logger)


def test_runs_get_their_own_id_or_the_one_given_and_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    model = small_model()
    logger = JSONLinesLogger(path, events=["on_train_end"])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[logger])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[logger])
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[JSONLinesLogger(path, events=["on_train_end"], run="job-7")])
    runs = [line["run"] for line in read_lines(path)]
    assert len(runs) == 3 and runs[0] != runs[1] and runs[2] == "job-7"


def test_nan_and_numpy_values_are_written_as_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    logger = JSONLinesLogger(path, events=["on_epoch_end"])
    logger.on_epoch_end(0, {"loss": float("nan"), "best": np.float32(0.5), "worst": float("-inf"), "shape": (2, 3)})
    assert read_lines(path)[0]["logs"] == {"loss": "nan", "best": 0.5, "worst": "-inf", "shape": [2, 3]}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"events": ["on_epoch_ends"]}, ValueError, "Unknown callback hook: 'on_epoch_ends'. Did you mean 'on_epoch_end'"),
        ({"events": [42]}, TypeError, "events must be hook names or trainer.events classes"),
        ({"events": [dict]}, TypeError, "events must be hook names or trainer.events classes"),
        ({"run": 5}, TypeError, "run must be a string"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        JSONLinesLogger(tmp_path / "events.jsonl", **kwargs)
