"""AUC, Precision, Recall, RootMeanSquaredError, F1Score and TopKCategoricalAccuracy accumulate over
batches as Keras 3 does, with and without sample weights; the schedules give Keras's rate at every
step. Fixtures: `tests/keras_reference/metrics.json` + `metrics.npz` and `schedules.json`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer import metrics
from trainer.optimizers import schedules

FIXTURES = Path(__file__).parent.parent / "keras_reference"
METRIC_CASES: list[dict[str, Any]] = json.loads((FIXTURES / "metrics.json").read_text())["cases"]
SCHEDULE_CASES: list[dict[str, Any]] = json.loads((FIXTURES / "schedules.json").read_text())["cases"]


def _label(case: dict[str, Any]) -> str:
    config = ",".join(f"{k}={v}" for k, v in case["config"].items())
    return f"{case['class_name']}({config})-{case['kind']}"


@pytest.fixture(scope="module")
def batches() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "metrics.npz", allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weighted"])
@pytest.mark.parametrize("case", METRIC_CASES, ids=[_label(c) for c in METRIC_CASES])
def test_metric_matches_keras(case: dict[str, Any], weighted: bool, batches: dict[str, np.ndarray]) -> None:
    metric = getattr(metrics, case["class_name"])(**case["config"])
    assert metric.name == re.sub(r"_\d+$", "", case["name"])  # Keras numbers each further default-named object
    index = case["index"]
    expected = batches[f"{index}__{'weighted' if weighted else 'plain'}"]
    for b in range(case["batches"]):
        weight = batches[f"{index}__w_{b}"] if weighted else None
        metric.update_state(batches[f"{index}__y_{b}"], batches[f"{index}__p_{b}"], sample_weight=weight)
        np.testing.assert_allclose(metric.result(), expected[b], rtol=1e-4, atol=1e-6, err_msg=f"after batch {b}")
    metric.reset_state()
    assert np.all(np.asarray(metric.result()) == 0)


@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=[_label({**c, "kind": i}) for i, c in enumerate(SCHEDULE_CASES)])
def test_schedule_matches_keras(case: dict[str, Any]) -> None:
    schedule = getattr(schedules, case["class_name"])(**case["config"])
    values = [float(schedule(step)) for step in range(len(case["values"]))]
    np.testing.assert_allclose(values, case["values"], rtol=1e-6, atol=1e-9)
    rebuilt = schedules.deserialize(schedules.serialize(schedule))
    assert [float(rebuilt(step)) for step in range(len(values))] == values
