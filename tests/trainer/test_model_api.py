"""The model's public API: Keras 3's return conventions, metrics, summary, optimizer state, seeding."""

from __future__ import annotations

import numpy as np
import pytest

import trainer
from trainer import layers


def test_train_on_batch_reports_that_batch_alone(classifier, data) -> None:
    x, y = data
    first = classifier.train_on_batch(x, y, return_dict=True)
    assert list(first) == ["accuracy", "loss"]  # Keras sorts the logs keys
    second = classifier.test_on_batch(x[:8], y[:8])
    classifier.reset_metrics()
    classifier._test_step(*classifier._validate_data(x[:8], y[:8]))
    assert second == [classifier.get_metrics_result()["loss"], classifier.get_metrics_result()["accuracy"]]


def test_only_loss_returns_a_float() -> None:
    model = trainer.Sequential([trainer.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert isinstance(model.train_on_batch(np.ones((4, 2)), np.ones(4)), float)


def test_running_means_are_weighted_by_batch_size(classifier, data) -> None:
    x, y = data
    classifier.reset_metrics()
    losses = []
    for size in (20, 12):
        batch = classifier._validate_data(x[:size], y[:size])
        before = classifier.get_weights()
        classifier._test_step(*batch)
        losses.append(classifier.test_on_batch(x[:size], y[:size]))
        classifier.set_weights(before)
    classifier.reset_metrics()
    for size in (20, 12):
        classifier._test_step(*classifier._validate_data(x[:size], y[:size]))
    expected = (20 * losses[0][0] + 12 * losses[1][0]) / 32
    assert classifier.get_metrics_result()["loss"] == pytest.approx(expected, rel=1e-6)


def test_accuracy_resolves_from_shapes() -> None:
    model = trainer.Sequential([trainer.Input(shape=(2,)), layers.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", metrics=["acc"])
    model.train_on_batch(np.ones((4, 2)), np.eye(3)[[0, 1, 2, 0]])
    assert type(model.metrics[1]).__name__ == "CategoricalAccuracy" and model.metrics[1].name == "acc"


def test_learning_rate_is_a_settable_float(classifier, data) -> None:
    optimizer = classifier.optimizer
    assert optimizer.learning_rate == pytest.approx(0.01)
    optimizer.learning_rate = 0.0
    before = classifier.get_weights()
    classifier.train_on_batch(*data)
    for a, b in zip(classifier.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError):
        optimizer.learning_rate = "fast"


def test_optimizer_state_round_trip(classifier, data) -> None:
    classifier.train_on_batch(*data)
    state = classifier.optimizer.get_state()
    assert state["iterations"] == 1 and "momentum/0" in state and "velocity/3" in state
    classifier.train_on_batch(*data)
    classifier.optimizer.set_state(state)
    assert classifier.optimizer.iterations == 1
    with pytest.raises(ValueError, match="does not fit"):
        classifier.optimizer.set_state({**state, "momentum/0": np.zeros(2)})


def test_summary_table(classifier) -> None:
    lines: list[str] = []
    classifier.summary(print_fn=lines.append)
    text = lines[0]
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    assert "dense" in text and "(None, 8)" in text and "(None, 3)" in text
    assert "Total params: 67 (268.00 B)" in text


def test_layers_weights_and_flags(classifier) -> None:
    assert [type(layer).__name__ for layer in classifier.layers] == ["Dense", "Dense"]
    assert [w.shape for w in classifier.get_weights()] == [(4, 8), (8,), (8, 3), (3,)]
    assert all(w.dtype == np.float32 for w in classifier.get_weights())
    assert classifier.stop_training is False


def test_set_random_seed_makes_runs_identical(data) -> None:
    def run() -> list[np.ndarray]:
        trainer.set_random_seed(123)
        model = trainer.Sequential([trainer.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                                    layers.Dropout(0.5), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.train_on_batch(*data)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_dropout_only_in_training() -> None:
    dropout = layers.Dropout(0.5, seed=3)
    x = np.ones((200, 10), np.float32)
    np.testing.assert_array_equal(dropout(x, training=False), x)
    out = dropout(x, training=True)
    assert set(np.unique(out)) == {0.0, 2.0}
    assert 0.4 < (out == 0).mean() < 0.6


def test_build_without_input_from_first_data() -> None:
    model = trainer.Sequential([layers.Flatten(), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.ones((3, 2, 2)), np.ones((3, 2)))
    assert model.input_shape == (None, 2, 2) and model.output_shape == (None, 2)


def test_class_weight_scales_the_loss(classifier, data) -> None:
    x, y = data
    before = classifier.get_weights()
    plain = classifier.test_on_batch(x, y)[0]
    weighted = classifier.test_on_batch(x, y, sample_weight=np.full(32, 2.0))[0]
    assert weighted == pytest.approx(2 * plain, rel=1e-6)
    classifier.set_weights(before)
    via_class = classifier.train_on_batch(x, y, class_weight={0: 2.0, 1: 2.0, 2: 2.0})[0]
    assert via_class == pytest.approx(2 * plain, rel=1e-6)
