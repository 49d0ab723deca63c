"""Saving: round trips, bit-identical predictions, refusal of foreign or damaged files, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import trainer
from trainer import saving


def trained(model: trainer.Sequential, data) -> trainer.Sequential:
    x, y = data
    for _ in range(3):
        model.train_on_batch(x, y)
    return model


def test_model_round_trip_predicts_bit_identically_and_resumes(classifier, data, tmp_path: Path) -> None:
    model = trained(classifier, data)
    path = tmp_path / "m.model.npz"
    model.save(path)
    loaded = trainer.load_model(path)
    x, y = data
    np.testing.assert_array_equal(loaded.predict_on_batch(x), model.predict_on_batch(x))
    assert loaded.get_config()["layers"][1:] == model.get_config()["layers"][1:]
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    assert loaded.metrics_names == model.metrics_names == ["loss", "accuracy"]
    # The restored optimizer state makes the next step identical too.
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_round_trip(classifier, data, tmp_path: Path) -> None:
    path = tmp_path / "w.weights.npz"
    trained(classifier, data).save_weights(path)
    expected = classifier.get_weights()
    classifier.set_weights([np.zeros_like(w) for w in expected])
    classifier.load_weights(path)
    for a, b in zip(classifier.get_weights(), expected):
        np.testing.assert_array_equal(a, b)


def test_suffix_is_required(classifier, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.weights\.npz"):
        classifier.save_weights(tmp_path / "w.h5")
    with pytest.raises(ValueError, match=r"\.model\.npz"):
        classifier.save(tmp_path / "m.keras")


def test_truncated_file_is_refused_and_model_unchanged(classifier, tmp_path: Path) -> None:
    path = tmp_path / "w.weights.npz"
    classifier.save_weights(path)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    before = classifier.get_weights()
    with pytest.raises(ValueError, match="truncated, corrupt or foreign"):
        classifier.load_weights(path)
    for a, b in zip(classifier.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_foreign_npz_is_refused(classifier, tmp_path: Path) -> None:
    path = tmp_path / "other.weights.npz"
    np.savez(path, a=np.ones(3))
    with pytest.raises(ValueError, match="not a trainer weights file"):
        classifier.load_weights(path)


def test_pickled_content_is_never_loaded(classifier, tmp_path: Path) -> None:
    path = tmp_path / "evil.weights.npz"
    np.savez(path, trainer_header=np.array([{"kind": "weights"}], dtype=object))
    with pytest.raises(ValueError):
        classifier.load_weights(path)


def test_weights_of_another_model_are_refused(classifier, tmp_path: Path) -> None:
    other = trainer.Sequential([trainer.Input(shape=(4,)), trainer.layers.Dense(5)])
    path = tmp_path / "other.weights.npz"
    other.save_weights(path)
    before = classifier.get_weights()
    with pytest.raises(ValueError, match="does not fit model"):
        classifier.load_weights(path)
    for a, b in zip(classifier.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_unknown_layer_class_in_a_model_file_is_refused(classifier, tmp_path: Path, monkeypatch) -> None:
    config = classifier.get_config()
    config["layers"][1]["class_name"] = "os.system"
    monkeypatch.setattr(classifier, "get_config", lambda: config)
    path = tmp_path / "m.model.npz"
    classifier.save(path)
    with pytest.raises(ValueError, match="Unknown layer class"):
        trainer.load_model(path)


def test_failed_write_keeps_the_previous_file(classifier, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "w.weights.npz"
    classifier.save_weights(path)
    previous = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(saving.np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        classifier.save_weights(path)
    assert path.read_bytes() == previous
    assert os.listdir(tmp_path) == ["w.weights.npz"]  # no temporary file left behind
