"""Activation functions with Keras 3's names and definitions, and their derivatives for backprop.

Each public function takes and returns float32 arrays of the same shape. `get` resolves a name
(or one of these functions, or None for linear) to the function; `gradient_of` gives the
derivative the layers use: `gradient(x, y, grad_y) -> grad_x`, where `y = f(x)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from trainer.lookup import lookup

__all__ = [
    "linear",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "sigmoid",
    "tanh",
    "softplus",
    "softmax",
    "get",
    "serialize",
    "gradient_of",
]

FloatArray = NDArray[np.float32]
ActivationFn = Callable[[FloatArray], FloatArray]
GradientFn = Callable[[FloatArray, FloatArray, FloatArray], FloatArray]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805
# math.erf elementwise; on an array it gives an object array, hence the .astype(np.float64) at each use.
_erf: Callable[[NDArray[np.float64]], NDArray[np.object_]] = np.frompyfunc(math.erf, 1, 1)


def linear(x: FloatArray) -> FloatArray:
    """The identity."""
    return x


def relu(x: FloatArray) -> FloatArray:
    """max(x, 0)."""
    return np.maximum(x, 0)


def leaky_relu(x: FloatArray, negative_slope: float = 0.2) -> FloatArray:
    """x where x > 0, else negative_slope * x."""
    return np.where(x > 0, x, x * np.float32(negative_slope))


def elu(x: FloatArray, alpha: float = 1.0) -> FloatArray:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return np.where(x > 0, x, np.float32(alpha) * np.expm1(np.minimum(x, 0)))


def selu(x: FloatArray) -> FloatArray:
    """scale * elu(x, alpha) with the self-normalising constants."""
    return np.float32(_SELU_SCALE) * elu(x, _SELU_ALPHA)


def gelu(x: FloatArray, approximate: bool = False) -> FloatArray:
    """x * Phi(x); with `approximate`, the tanh approximation."""
    if approximate:
        inner = np.float32(math.sqrt(2 / math.pi)) * (x + np.float32(0.044715) * x**3)
        y: FloatArray = np.float32(0.5) * x * (1 + np.tanh(inner))
        return y
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1 + _erf(x64 / math.sqrt(2)).astype(np.float64))).astype(np.float32)


def sigmoid(x: FloatArray) -> FloatArray:
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def tanh(x: FloatArray) -> FloatArray:
    """Hyperbolic tangent."""
    return np.tanh(x)


def softplus(x: FloatArray) -> FloatArray:
    """log(1 + exp(x)), computed without overflow."""
    return np.logaddexp(np.float32(0), x)


def softmax(x: FloatArray, axis: int = -1) -> FloatArray:
    """exp(x) / sum(exp(x)) along `axis`, shifted by the max for stability."""
    # The ufuncs' own reductions: ndarray.max/.sum go through Python wrappers that cost more than
    # the arithmetic on a small batch.
    e: FloatArray = np.exp(x - np.maximum.reduce(x, axis=axis, keepdims=True))
    e /= np.add.reduce(e, axis=axis, keepdims=True)
    return e


def _linear_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    return dy


def _relu_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    return dy * (y > 0)


def _leaky_relu_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    return np.where(x > 0, dy, dy * np.float32(0.2))


def _elu_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    # For x <= 0, d/dx alpha*(exp(x)-1) = y + alpha (alpha = 1 by default).
    return np.where(x > 0, dy, dy * (y + 1))


def _selu_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    scale = np.float32(_SELU_SCALE)
    return np.where(x > 0, dy * scale, dy * (y + np.float32(_SELU_SCALE * _SELU_ALPHA)))


def _gelu_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    x64 = x.astype(np.float64)
    cdf = 0.5 * (1 + _erf(x64 / math.sqrt(2)).astype(np.float64))
    pdf = np.exp(-0.5 * x64**2) / math.sqrt(2 * math.pi)
    return (dy * (cdf + x64 * pdf)).astype(np.float32)


def _sigmoid_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    return dy * y * (1 - y)


def _tanh_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    return dy * (1 - y * y)


def _softplus_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    return dy * sigmoid(x)


def _softmax_grad(x: FloatArray, y: FloatArray, dy: FloatArray) -> FloatArray:
    dx: FloatArray = y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    return dx


_BY_NAME: dict[str, ActivationFn] = {
    "linear": linear,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softplus": softplus,
    "softmax": softmax,
}
_NAME_OF = {fn: name for name, fn in _BY_NAME.items()}
_GRADIENTS: dict[ActivationFn, GradientFn] = {
    linear: _linear_grad,
    relu: _relu_grad,
    leaky_relu: _leaky_relu_grad,
    elu: _elu_grad,
    selu: _selu_grad,
    gelu: _gelu_grad,
    sigmoid: _sigmoid_grad,
    tanh: _tanh_grad,
    softplus: _softplus_grad,
    softmax: _softmax_grad,
}


def get(identifier: str | ActivationFn | None) -> ActivationFn:
    """Resolve a name, one of this module's functions, or None (linear) to the function.

    Other callables are refused: the engine backpropagates by hand and knows only these derivatives.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return lookup("activation", identifier, _BY_NAME)
    if identifier in _GRADIENTS:
        return identifier
    raise TypeError(
        f"activation must be a name or a function from trainer.activations (one of "
        f"{', '.join(sorted(_BY_NAME))}), got {identifier!r}."
    )


def serialize(activation: ActivationFn) -> str:
    """The name under which `get` finds `activation` again."""
    return _NAME_OF[activation]


def gradient_of(activation: ActivationFn) -> GradientFn:
    """The derivative of `activation`: `(x, y, grad_y) -> grad_x` with `y = activation(x)`."""
    return _GRADIENTS[activation]
