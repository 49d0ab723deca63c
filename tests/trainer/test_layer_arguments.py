"""The new layers, metrics and initializers check their arguments in `__init__` (or their input shape
at build) and say what was wrong; initializers draw what they promise; the summary counts as Keras."""

from __future__ import annotations

import re

import numpy as np
import pytest

import trainer
from trainer import initializers, layers, metrics


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: layers.Conv2D(0, 3), ValueError, "Conv2D `filters` must be a positive integer"),
        (lambda: layers.Conv2D(4, (3, 0)), ValueError, "`kernel_size` must be a positive integer or a tuple of 2"),
        (lambda: layers.Conv1D(4, (3, 3)), ValueError, "`kernel_size` must be a positive integer or a tuple of 1"),
        (lambda: layers.Conv2D(4, 3, padding="causal"), ValueError, "`padding` must be 'valid' or 'same'"),
        (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2), ValueError, "not compatible with `dilation_rate`"),
        (lambda: layers.Conv2D(4, 3, data_format="channels_first"), ValueError, "channels_last' only"),
        (lambda: layers.MaxPooling2D(pool_size=-1), ValueError, "`pool_size` must be a positive integer"),
        (lambda: layers.AveragePooling1D(strides=(1, 1)), ValueError, "`strides` must be a positive integer or a tuple of 1"),
        (lambda: layers.GlobalAveragePooling2D(data_format="channels_first"), ValueError, "channels_last' only"),
        (lambda: layers.BatchNormalization(momentum=1.0), ValueError, "`momentum` must be a number in \\[0, 1\\)"),
        (lambda: layers.BatchNormalization(epsilon=0), ValueError, "`epsilon` must be a positive number"),
        (lambda: layers.BatchNormalization(axis=1), ValueError, "axis=-1"),
        (lambda: layers.LayerNormalization(epsilon=-1), ValueError, "`epsilon` must be a positive number"),
        (lambda: layers.Embedding(0, 3), ValueError, "`input_dim` must be a positive integer"),
        (lambda: layers.Embedding(5, 3, mask_zero=True), ValueError, "mask_zero=True\\) is not supported"),
        (lambda: layers.Reshape((2, -1, -1)), ValueError, "at most one -1"),
        (lambda: layers.Reshape(()), ValueError, "tuple of positive integers"),
        (lambda: trainer.Input(shape=(3,), dtype="float16"), ValueError, "Input dtype must be one of"),
        (lambda: initializers.Constant("a"), ValueError, "Constant `value` must be a finite number"),
        (lambda: initializers.Orthogonal()((5,)), ValueError, "at least 2 dimensions"),
        (lambda: metrics.F1Score(average="samples"), ValueError, "`average` must be None, 'micro'"),
        (lambda: metrics.Precision(thresholds=[0.5, 2]), ValueError, "`thresholds` must be a number in \\[0, 1\\]"),
        (lambda: metrics.AUC(curve="PRGAIN"), ValueError, "`curve` must be 'ROC' or 'PR'"),
        (lambda: metrics.AUC(num_thresholds=1), ValueError, "integer > 1"),
        (lambda: metrics.TopKCategoricalAccuracy(k=0), ValueError, "`k` must be a positive integer"),
    ],
)
def test_bad_arguments_are_refused_at_construction(make, error: type[Exception], message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(
    "stack, message",
    [
        ([trainer.Input(shape=(8,)), layers.Conv2D(2, 3)], "expects inputs of shape \\(batch, rows, cols, channels\\)"),
        ([trainer.Input(shape=(4, 4, 1)), layers.Conv2D(2, 5)], "shorter than the window"),
        ([trainer.Input(shape=(6, 2)), layers.MaxPooling2D()], "expects inputs of shape \\(batch, rows, cols, channels\\)"),
        ([trainer.Input(shape=(6,)), layers.GlobalAveragePooling1D()], "expects inputs with 1 spatial axes"),
        ([trainer.Input(shape=(6,)), layers.Reshape((4, 2))], "cannot make \\(6,\\) \\(6 values\\) into \\(4, 2\\)"),
    ],
)
def test_a_shape_that_does_not_fit_is_refused_when_the_model_is_built(stack: list[layers.Layer], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trainer.Sequential(stack)


def test_compile_refuses_metrics_that_give_a_value_per_class() -> None:
    model = trainer.Sequential([trainer.Input(shape=(3,)), layers.Dense(2, activation="sigmoid")])
    for metric in (metrics.F1Score(), metrics.Precision(thresholds=[0.3, 0.6])):
        with pytest.raises(ValueError, match="one value per class or threshold"):
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[metric])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[metrics.F1Score(average="macro")])
    assert model.metrics_names == ["loss", "f1_score"]


def test_metrics_by_keras_names_log_under_those_names() -> None:
    model = trainer.Sequential([trainer.Input(shape=(3,)), layers.Dense(6, activation="softmax")])
    names = ["auc", "precision", "recall", "top_k_categorical_accuracy", "AUC", "RootMeanSquaredError"]
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=names)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)), np.eye(6)[rng.integers(0, 6, 8)]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", *names}
    predicted = model.predict(x, verbose=0)
    in_top_five = predicted[np.arange(8), y.argmax(axis=1)] >= np.sort(predicted, axis=1)[:, -5]
    assert logs["top_k_categorical_accuracy"] == pytest.approx(in_top_five.mean())
    five_of_four = trainer.Sequential([trainer.Input(shape=(3,)), layers.Dense(4, activation="softmax")])
    five_of_four.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["top_k_categorical_accuracy"])
    with pytest.raises(ValueError, match="top-5 accuracy needs at least 5 classes; the predictions have 4"):
        five_of_four.evaluate(x, y[:, :4], verbose=0)
    with pytest.raises(ValueError, match="Unknown metric: 'auk'. Did you mean 'auc'"):
        model.compile(optimizer="adam", loss="mse", metrics=["auk"])


@pytest.mark.parametrize(
    "initializer, variance",
    [
        (initializers.HeNormal(seed=1), 2 / 300),
        (initializers.HeUniform(seed=1), 2 / 300),
        (initializers.LecunNormal(seed=1), 1 / 300),
        (initializers.LecunUniform(seed=1), 1 / 300),
        (initializers.GlorotNormal(seed=1), 2 / (300 + 200)),
    ],
)
def test_variance_scaling_initializers_have_their_variance(initializer: initializers.Initializer, variance: float) -> None:
    values = initializer((3, 10, 10, 200))  # fan_in = 3 * 10 * 10, fan_out = 10 * 200... as Keras counts: receptive field 30
    fan_in, fan_out = 3 * 10 * 10, 3 * 10 * 200
    expected = {2 / 300: 2 / fan_in, 1 / 300: 1 / fan_in, 2 / 500: 2 / (fan_in + fan_out)}[variance]
    assert values.dtype == np.float32
    np.testing.assert_allclose(values.var(), expected, rtol=0.05)
    np.testing.assert_array_equal(values, initializer((3, 10, 10, 200)))  # seeded: the same every call


def test_orthogonal_constant_ones() -> None:
    q = initializers.Orthogonal(gain=2.0, seed=0)((3, 4, 5))
    flat = q.reshape(12, 5)
    np.testing.assert_allclose(flat.T @ flat, 4 * np.eye(5), atol=1e-5)
    wide = initializers.Orthogonal(seed=0)((3, 7))
    np.testing.assert_allclose(wide @ wide.T, np.eye(3), atol=1e-5)
    assert np.all(initializers.Constant(0.25)((2, 2)) == 0.25) and np.all(initializers.get("ones")((3,)) == 1)
    for name in ("lecun_normal", "LecunUniform", "orthogonal", "glorot_normal", "uniform", "normal", "one", "zero"):
        assert isinstance(initializers.get(name), initializers.Initializer)


def test_summary_shows_shapes_and_counts_as_keras() -> None:
    model = trainer.Sequential([
        trainer.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.BatchNormalization(),
        layers.GlobalAveragePooling2D(),
        layers.Dense(10),
    ], name="convnet")  # fmt: skip
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert re.search(r"│ conv2d(_\d+)? \(Conv2D\) +│ \(None, 26, 26, 32\) +│ +320 │", text)
    assert re.search(r"│ max_pooling2d(_\d+)? \(MaxPooling2D\) +│ \(None, 13, 13, 32\) +│ +0 │", text)
    assert "(None, 32)" in text and "330" in text
    # BatchNormalization: 4 x 32 parameters, of which the moving statistics (64) are not trainable.
    assert " Total params: 778 " in text and " Trainable params: 714 " in text and " Non-trainable params: 64 " in text


def test_only_an_embedding_keeps_integer_inputs_as_integers() -> None:
    assert layers.Dense(2)(np.array([[1, 2]])).dtype == np.float32
    embedding = layers.Embedding(5, 2)
    rows = embedding(np.array([[4, 0]]))
    np.testing.assert_array_equal(rows[0], embedding.embeddings[[4, 0]])
    np.testing.assert_array_equal(embedding(np.array([[4.0, 0.0]])), rows)  # whole floats index the same rows
