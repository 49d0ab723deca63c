"""Convolutions, pooling, normalization, embeddings, the newer optimizers, schedules and metrics:
from Keras's initial weights and the same batches, `fit`, `evaluate` and `predict` reproduce Keras 3
(torch backend), to 1e-4 relative. The fixtures are `tests/keras_reference/models.json` and
`models/<case>.npz`, made by `make_fixtures.py --part models`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer
from trainer import layers, losses, metrics, optimizers, regularizers
from trainer.optimizers import schedules

FIXTURES = Path(__file__).parent.parent / "keras_reference"
CASES: list[dict[str, Any]] = json.loads((FIXTURES / "models.json").read_text())["cases"]
RTOL, ATOL = 1e-4, 1e-5


def build(module: Any, spec: dict[str, Any]) -> Any:
    config: dict[str, Any] = {}
    for key, value in spec["config"].items():
        if isinstance(value, dict) and "class_name" in value:
            value = build(schedules, value)
        elif key.endswith("_regularizer") and value is not None:
            value = regularizers.L1L2(**value)
        config[key] = value
    return getattr(module, spec["class_name"])(**config)


def build_model(case: dict[str, Any]) -> trainer.Sequential:
    model = trainer.Sequential([trainer.Input(shape=tuple(case["input_shape"]), dtype=case["input_dtype"])])
    for spec in case["layers"]:
        model.add(build(layers, spec))
    loss = case["loss"] if isinstance(case["loss"], str) else build(losses, case["loss"])
    compiled = [m if isinstance(m, str) else build(metrics, m) for m in case["metrics"]]
    model.compile(optimizer=build(optimizers, case["optimizer"]), loss=loss, metrics=compiled)
    return model


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_keras(case: dict[str, Any]) -> None:
    with np.load(FIXTURES / "models" / f"{case['name']}.npz", allow_pickle=False) as archive:
        data = {name: archive[name] for name in archive.files}
    model = build_model(case)
    assert len(model.get_weights()) == case["weights"]
    model.set_weights([data[f"init_{i}"] for i in range(case["weights"])])
    for layer, (_, class_name, shape, params, trainable, frozen) in zip(model.layers, case["summary"]):
        assert (type(layer).__name__, list(layer.output_shape), layer.count_params()) == (class_name, shape, params)
        assert (len(layer.trainable_weights), len(layer.non_trainable_weights)) == (trainable, frozen)

    history = model.fit(data["x"], data["y"], batch_size=case["batch_size"], epochs=case["epochs"], shuffle=False,
                        verbose=0)
    assert sorted(history.history) == sorted(case["history_keys"])
    for key, values in history.history.items():
        np.testing.assert_allclose(values, data[f"history__{key}"], rtol=RTOL, atol=ATOL, err_msg=f"history {key}")
    for index, weight in enumerate(model.get_weights()):
        np.testing.assert_allclose(weight, data[f"final_{index}"], rtol=RTOL, atol=ATOL, err_msg=f"weight {index}")

    results = model.evaluate(data["x_eval"], data["y_eval"], batch_size=case["batch_size"], return_dict=True,
                             verbose=0)
    assert sorted(results) == sorted(case["evaluate_keys"])
    for key, value in results.items():
        np.testing.assert_allclose(value, data[f"evaluate__{key}"], rtol=RTOL, atol=ATOL, err_msg=f"evaluate {key}")
    predicted = model.predict(data["x_eval"], batch_size=case["batch_size"], verbose=0)
    np.testing.assert_allclose(predicted, data["predict"], rtol=RTOL, atol=ATOL)
