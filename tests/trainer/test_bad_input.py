"""Bad input gets a clear error naming what was wrong and expected, and leaves the model unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import trainer
from trainer import layers


def assert_unchanged(model: trainer.Sequential, before: list[np.ndarray]) -> None:
    for now, then in zip(model.get_weights(), before):
        np.testing.assert_array_equal(now, then)


def test_feature_shape_that_does_not_fit_the_input(classifier, data) -> None:
    x, y = data
    before = classifier.get_weights()
    with pytest.raises(ValueError, match=r"per-sample shape \(5,\).*expects per-sample shape \(4,\)"):
        classifier.train_on_batch(np.ones((32, 5)), y)
    assert_unchanged(classifier, before)


def test_x_y_length_mismatch_names_both_lengths(classifier, data) -> None:
    x, y = data
    before = classifier.get_weights()
    with pytest.raises(ValueError, match="got 32 in x and 31 in y"):
        classifier.train_on_batch(x, y[:31])
    assert_unchanged(classifier, before)


@pytest.mark.parametrize("bad_label, message", [(3, r"\[0, 3\).*got \[3\]"), (-1, r"got \[-1\]")])
def test_sparse_labels_out_of_range(classifier, data, bad_label: int, message: str) -> None:
    x, y = data
    y = y.copy()
    y[5] = bad_label
    before = classifier.get_weights()
    with pytest.raises(ValueError, match=message):
        classifier.train_on_batch(x, y)
    assert_unchanged(classifier, before)


def test_fractional_sparse_labels(classifier, data) -> None:
    x, _ = data
    with pytest.raises(ValueError, match="whole numbers"):
        classifier.test_on_batch(x, np.full(32, 0.5))


def test_non_numeric_data(classifier) -> None:
    with pytest.raises(TypeError, match="numeric"):
        classifier.predict_on_batch([["a", "b", "c", "d"]])


@pytest.mark.parametrize(
    "build, suggestion",
    [
        (lambda: layers.Dense(3, activation="rleu"), "Did you mean 'relu'"),
        (lambda: trainer.optimizers.get("adma"), "Did you mean .*'adam'"),
        (lambda: trainer.losses.get("mean_squared_eror"), "Did you mean 'mean_squared_error'"),
        (lambda: trainer.metrics.get("binary_acuracy"), "Did you mean 'binary_accuracy'"),
        (lambda: trainer.initializers.get("glorot_unifrom"), "Did you mean 'glorot_uniform'"),
        (lambda: trainer.regularizers.get("l22"), "Did you mean 'l2'"),
    ],
)
def test_unknown_names_suggest_the_nearest(build, suggestion: str) -> None:
    with pytest.raises(ValueError, match=suggestion):
        build()


def test_unknown_metric_fails_at_compile(classifier) -> None:
    with pytest.raises(ValueError, match="Did you mean 'mae'"):
        classifier.compile(optimizer="sgd", loss="mse", metrics=["maee"])


@pytest.mark.parametrize(
    "weights, message",
    [
        (lambda w: w[:-1], "expects 4 weight arrays of shapes"),
        (lambda w: [w[0].T, *w[1:]], r"\(4, 8\)"),
        (lambda w: "not a list", "list of arrays"),
    ],
)
def test_set_weights_with_wrong_count_or_shapes(classifier, weights, message: str) -> None:
    before = classifier.get_weights()
    with pytest.raises((ValueError, TypeError), match=message):
        classifier.set_weights(weights(classifier.get_weights()))
    assert_unchanged(classifier, before)


def test_sample_weight_and_class_weight_together(classifier, data) -> None:
    x, y = data
    with pytest.raises(ValueError, match="cannot be specified at the same time"):
        classifier.train_on_batch(x, y, sample_weight=np.ones(32), class_weight={0: 2.0})


def test_sample_weight_of_the_wrong_length(classifier, data) -> None:
    x, y = data
    with pytest.raises(ValueError, match=r"shape \(32,\)"):
        classifier.train_on_batch(x, y, sample_weight=np.ones(30))


def test_training_before_compile() -> None:
    model = trainer.Sequential([trainer.Input(shape=(2,)), layers.Dense(1)])
    with pytest.raises(RuntimeError, match="compile"):
        model.train_on_batch(np.ones((2, 2)), np.ones((2, 1)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Dense(0),
        lambda: layers.Dropout(1.5),
        lambda: trainer.Input(shape=(-1,)),
        lambda: trainer.optimizers.SGD(momentum=2.0),
        lambda: trainer.optimizers.SGD(learning_rate=-1.0),
        lambda: trainer.optimizers.Adam(clipnorm=1.0, clipvalue=1.0),
        lambda: trainer.regularizers.L2(-0.1),
    ],
)
def test_bad_constructor_arguments(make) -> None:
    with pytest.raises((ValueError, TypeError)):
        make()


def test_unsupported_activation_callable() -> None:
    with pytest.raises(TypeError, match="trainer.activations"):
        layers.Dense(2, activation=lambda x: x)
