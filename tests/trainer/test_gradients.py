"""Finite-difference checks of every hand-written derivative: activations, losses, regularizers, layers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import trainer
from trainer import activations, layers, losses, regularizers


def numeric_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of scalar f at x, one coordinate at a time."""
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + eps
        up = f(x)
        x[index] = original - eps
        down = f(x)
        x[index] = original
        grad[index] = (up - down) / (2 * eps)
    return grad


def away_from_kinks(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.normal(0, 1.5, shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)


@pytest.mark.parametrize("name", ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "sigmoid", "tanh", "softplus", "softmax"])
def test_activation_derivative(name: str) -> None:
    rng = np.random.default_rng(0)
    fn = activations.get(name)
    x = away_from_kinks(rng, (4, 5))
    upstream = rng.normal(size=x.shape)
    analytic = activations.gradient_of(fn)(x, fn(x), upstream)
    # gelu evaluates in float32, so it needs a wider step and tolerance.
    eps, tolerance = (1e-3, 1e-3) if name == "gelu" else (1e-6, 1e-6)
    numeric = numeric_gradient(lambda v: float((fn(v).astype(np.float64) * upstream).sum()), x, eps)
    np.testing.assert_allclose(analytic, numeric, rtol=tolerance, atol=tolerance)


def _probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    p = rng.uniform(0.05, 1, shape)
    return p / p.sum(axis=-1, keepdims=True)


LOSS_CASES: list[tuple[losses.Loss, str]] = [
    (losses.MeanSquaredError(), "regression"),
    (losses.MeanAbsoluteError(), "regression"),
    (losses.Huber(), "regression"),
    (losses.Huber(delta=0.3), "regression"),
    (losses.BinaryCrossentropy(), "binary_probabilities"),
    (losses.BinaryCrossentropy(label_smoothing=0.1), "binary_probabilities"),
    (losses.BinaryCrossentropy(from_logits=True), "binary_logits"),
    (losses.CategoricalCrossentropy(), "categorical_probabilities"),
    (losses.CategoricalCrossentropy(label_smoothing=0.2), "categorical_probabilities"),
    (losses.CategoricalCrossentropy(from_logits=True), "categorical_logits"),
    (losses.SparseCategoricalCrossentropy(), "sparse_probabilities"),
    (losses.SparseCategoricalCrossentropy(from_logits=True), "sparse_logits"),
]


def _loss_data(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n, k = 5, 4
    if kind == "regression":
        return rng.normal(size=(n, 3)), away_from_kinks(rng, (n, 3))
    if kind.startswith("binary"):
        y = rng.integers(0, 2, (n, 2)).astype(np.float64)
        return y, rng.uniform(0.1, 0.9, (n, 2)) if kind.endswith("probabilities") else rng.normal(size=(n, 2))
    labels = rng.integers(0, k, n)
    y = labels if kind.startswith("sparse") else np.eye(k)[labels]
    # Unnormalised probabilities exercise the division by their sum that Keras performs.
    y_pred = rng.uniform(0.05, 1, (n, k)) if kind.endswith("probabilities") else rng.normal(size=(n, k))
    return y, y_pred


@pytest.mark.parametrize("loss, kind", LOSS_CASES, ids=[f"{type(l).__name__}-{k}" for l, k in LOSS_CASES])
def test_loss_derivative(loss: losses.Loss, kind: str) -> None:
    y_true, y_pred = _loss_data(kind, np.random.default_rng(1))
    analytic = loss.gradient(y_true, y_pred)
    numeric = numeric_gradient(lambda v: float(loss.call(y_true, v).astype(np.float64).sum()), y_pred, 1e-6)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "loss", [losses.CategoricalCrossentropy(), losses.CategoricalCrossentropy(label_smoothing=0.1), losses.SparseCategoricalCrossentropy()]
)
def test_fused_softmax_gradient_is_the_chain_rule(loss: losses.Loss) -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, 6)
    y_true = labels if loss.sparse_labels else np.eye(4)[labels]
    logits = rng.normal(size=(6, 4))
    analytic = loss.softmax_gradient(y_true, activations.softmax(logits))
    numeric = numeric_gradient(lambda z: float(loss.call(y_true, activations.softmax(z)).sum()), logits, 1e-6)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6)


def test_clipped_probabilities_pass_no_gradient() -> None:
    probs = np.array([[1e-9, 1 - 1e-9], [0.3, 0.7]])
    grad = losses.SparseCategoricalCrossentropy().softmax_gradient(np.array([0, 0]), probs)
    assert np.all(grad[0] == 0) and np.any(grad[1] != 0)


@pytest.mark.parametrize("regularizer", [regularizers.L1(0.03), regularizers.L2(0.02), regularizers.L1L2(0.01, 0.05)])
def test_regularizer_derivative(regularizer: regularizers.Regularizer) -> None:
    weight = away_from_kinks(np.random.default_rng(3), (3, 4))
    # The penalty is a float32 scalar; a wide step is exact here (quadratic, or linear between kinks).
    numeric = numeric_gradient(lambda w: float(regularizer(w)), weight, 1e-2)
    np.testing.assert_allclose(regularizer.gradient(weight), numeric, rtol=1e-4, atol=1e-5)


def _layer_loss(layer: layers.Layer, x: np.ndarray, upstream: np.ndarray) -> float:
    out = layer.forward(x.astype(np.float32), training=False).astype(np.float64)
    return float((out * upstream).sum()) + float(sum(np.float64(p) for p in layer.losses))


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid", "softmax", "elu", "gelu"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_derivatives(activation: str, use_bias: bool) -> None:
    """Float32 layer, float64 differences: tolerances sized for float32 rounding over eps = 1e-2."""
    trainer.set_random_seed(4)
    rng = np.random.default_rng(4)
    dense = layers.Dense(3, activation=activation, use_bias=use_bias,
                         kernel_regularizer=regularizers.L1L2(0.01, 0.02), bias_regularizer=regularizers.L2(0.03))
    x = rng.normal(size=(5, 4)).astype(np.float32)
    dense(x)
    upstream = rng.normal(size=(5, 3))
    dense.forward(x, training=True)
    grad_x = dense.backward(upstream.astype(np.float32))
    for weight, analytic in zip(dense.weights, dense.gradients):
        numeric = numeric_gradient(lambda w: _layer_loss(dense, x, upstream), weight, 1e-2)
        np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=2e-3)
    numeric_x = numeric_gradient(lambda v: _layer_loss(dense, v, upstream), x.astype(np.float64), 1e-2)
    np.testing.assert_allclose(grad_x, numeric_x, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("layer", [layers.Activation("tanh"), layers.Activation("softmax"), layers.Flatten()])
def test_parameterless_layer_derivatives(layer: layers.Layer) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 2, 4))
    upstream = rng.normal(size=layer(x).shape)
    layer.forward(x, training=True)
    analytic = layer.backward(upstream)
    numeric = numeric_gradient(lambda v: float((layer.forward(v, False).astype(np.float64) * upstream).sum()), x, 1e-3)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-3, atol=1e-4)


def test_dropout_derivative_is_its_mask() -> None:
    dropout = layers.Dropout(0.4, seed=1)
    x = np.random.default_rng(6).uniform(1, 2, (8, 5)).astype(np.float32)
    y = dropout.forward(x, training=True)
    upstream = np.ones_like(x)
    np.testing.assert_allclose(dropout.backward(upstream), y / x, rtol=1e-6)
