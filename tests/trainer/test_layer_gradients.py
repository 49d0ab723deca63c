"""Finite-difference checks of the backward pass of every convolution, pooling, normalization,
embedding and reshaping layer: d(loss)/d(inputs) and d(loss)/d(each trainable weight)."""

from __future__ import annotations

import numpy as np
import pytest

import trainer
from trainer import layers, regularizers
from tests.trainer.test_gradients import numeric_gradient


def _loss(layer: layers.Layer, x: np.ndarray, upstream: np.ndarray, training: bool) -> float:
    out = layer.forward(x.astype(x.dtype if x.dtype.kind in "iu" else np.float32), training).astype(np.float64)
    return float((out * upstream).sum()) + float(sum(np.float64(p) for p in layer.losses))


def check(layer: layers.Layer, x: np.ndarray, training: bool = False, eps: float = 1e-2, input_grad: bool = True) -> None:
    """Float32 layers, float64 differences: tolerances sized for float32 rounding over the step."""
    trainer.set_random_seed(3)
    rng = np.random.default_rng(3)
    out = layer(x, training=training)
    for weight in layer.weights:  # away from the initializers' zeros and ones, so every term matters
        weight[...] = rng.normal(0, 0.5, weight.shape) + (1.0 if weight is getattr(layer, "moving_variance", None) else 0)
    upstream = rng.normal(size=out.shape)
    layer.forward(x, training)
    grad_x = layer.backward(upstream.astype(np.float32), need_input_grad=input_grad)
    trainable = layer.weights[: len(layer.weights) - len(layer.non_trainable_weights)]
    assert len(layer.gradients) == len(trainable)
    for weight, analytic in zip(trainable, [g.copy() for g in layer.gradients]):
        numeric = numeric_gradient(lambda w: _loss(layer, x, upstream, training), weight, eps)
        np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=2e-3)
    if input_grad:
        assert grad_x is not None and grad_x.shape == x.shape
        numeric_x = numeric_gradient(lambda v: _loss(layer, v, upstream, training), x.astype(np.float64), eps)
        np.testing.assert_allclose(grad_x, numeric_x, rtol=2e-2, atol=2e-3)


def spaced(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Distinct values at least 0.05 apart, so a max never changes place within a step of 1e-2."""
    values = np.random.default_rng(seed).permutation(int(np.prod(shape))) * 0.05 - 1
    return values.reshape(shape).astype(np.float64)


REG = dict(kernel_regularizer=regularizers.L1L2(0.01, 0.02), bias_regularizer=regularizers.L2(0.03))

CONVOLUTIONS = [
    (layers.Conv2D(3, (2, 3), strides=(2, 1), padding="same", activation="tanh", **REG), (2, 5, 6, 2)),
    (layers.Conv2D(2, 3, padding="same", dilation_rate=2), (2, 6, 6, 1)),
    (layers.Conv2D(4, 2, use_bias=False, activation="sigmoid"), (3, 4, 5, 3)),
    (layers.Conv2D(2, 3, strides=2), (2, 7, 6, 2)),
    (layers.Conv1D(3, 3, strides=2, padding="same", activation="tanh", **REG), (2, 9, 2)),
    (layers.Conv1D(2, 2, dilation_rate=3, padding="same"), (2, 8, 3)),
    (layers.Conv1D(2, 4), (3, 7, 1)),
]


@pytest.mark.parametrize("layer, shape", CONVOLUTIONS, ids=[f"{type(l).__name__}-{s}" for l, s in CONVOLUTIONS])
def test_convolution_gradients(layer: layers.Layer, shape: tuple[int, ...]) -> None:
    check(layer, np.random.default_rng(1).normal(size=shape))


def test_a_first_convolution_skips_its_input_gradient() -> None:
    check(layers.Conv2D(2, 2), np.random.default_rng(1).normal(size=(2, 4, 4, 1)), input_grad=False)


POOLS = [
    (layers.MaxPooling2D(), (2, 4, 5, 2)),
    (layers.MaxPooling2D((3, 2), strides=1, padding="same"), (2, 4, 4, 2)),
    (layers.MaxPooling2D(2, padding="same"), (2, 5, 5, 1)),
    (layers.AveragePooling2D(), (2, 4, 4, 3)),
    (layers.AveragePooling2D(3, strides=1, padding="same"), (2, 4, 5, 2)),
    (layers.AveragePooling2D(2, padding="same"), (2, 5, 3, 2)),
    (layers.MaxPooling1D(2, strides=1), (2, 6, 2)),
    (layers.MaxPooling1D(3, strides=2, padding="same"), (2, 6, 2)),
    (layers.AveragePooling1D(3, strides=2, padding="same"), (2, 7, 2)),
    (layers.AveragePooling1D(), (2, 6, 3)),
    (layers.GlobalMaxPooling2D(), (2, 3, 4, 2)),
    (layers.GlobalMaxPooling1D(keepdims=True), (2, 5, 3)),
    (layers.GlobalAveragePooling2D(keepdims=True), (2, 3, 4, 2)),
    (layers.GlobalAveragePooling1D(), (2, 5, 3)),
    (layers.Reshape((-1, 2)), (2, 3, 4)),
    (layers.Reshape((6,)), (2, 3, 2)),
]


@pytest.mark.parametrize("layer, shape", POOLS, ids=[f"{type(l).__name__}-{s}" for l, s in POOLS])
def test_pooling_and_reshape_gradients(layer: layers.Layer, shape: tuple[int, ...]) -> None:
    check(layer, spaced(shape))


NORMALIZATIONS = {
    "batchnorm-training": (lambda: layers.BatchNormalization(), True),
    "batchnorm-inference": (lambda: layers.BatchNormalization(), False),
    "batchnorm-no-center-training": (lambda: layers.BatchNormalization(center=False, epsilon=0.1), True),
    "batchnorm-no-scale-regularized-training": (
        lambda: layers.BatchNormalization(scale=False, gamma_regularizer="l2", beta_regularizer="l1"), True),
    "batchnorm-frozen-runs-as-inference": (lambda: layers.BatchNormalization(trainable=False), True),
    "layernorm": (lambda: layers.LayerNormalization(), True),
    "layernorm-plain": (lambda: layers.LayerNormalization(center=False, scale=False), False),
    "layernorm-regularized": (lambda: layers.LayerNormalization(epsilon=0.1, gamma_regularizer="l2"), False),
}


@pytest.mark.parametrize("name", NORMALIZATIONS)
@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 3)])
def test_normalization_gradients(name: str, shape: tuple[int, ...]) -> None:
    make, training = NORMALIZATIONS[name]
    check(make(), np.random.default_rng(2).normal(1, 2, size=shape), training=training)


def test_embedding_gradient_adds_up_each_row() -> None:
    embedding = layers.Embedding(6, 3, embeddings_regularizer=regularizers.L2(0.1))
    indices = np.array([[0, 2, 2], [5, 0, 2]], dtype=np.int64)
    check(embedding, indices, input_grad=False)
    grad = embedding.backward(np.ones((2, 3, 3), np.float32))
    assert grad is not None and not grad.any()  # indices take no gradient
