"""Weight initializers with Keras 3's names, parameters and defaults.

Each initializer is called as `initializer(shape)` and returns a new float32 array. A seeded
initializer returns the same values on every call; an unseeded one draws from the global
generator, so `trainer.set_random_seed` makes it reproducible.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from trainer.lookup import lookup
from trainer.random import make_generator

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "GlorotUniform",
    "GlorotNormal",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
    "CLASSES",
    "get",
    "BudgetExceededError",
    "element_budget",
]

# Keras draws He-normal weights from a normal truncated at two standard deviations, whose
# standard deviation is this fraction of the untruncated one; dividing by it restores the variance.
_TRUNCATED_STDDEV_FACTOR = 0.87962566103423978


def compute_fans(shape: Sequence[int]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape, as Keras counts them."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class BudgetExceededError(ValueError):
    """An initializer was asked for more elements than the :func:`element_budget` in force allows."""


_budget: ContextVar[list[int] | None] = ContextVar("initializer_element_budget", default=None)


@contextmanager
def element_budget(elements: int) -> Iterator[None]:
    """Within this block, initializers together create at most ``elements`` elements; a call that
    would go beyond raises :class:`BudgetExceededError` before allocating anything.

    A loader builds a file's architecture under the budget of the weights the file holds, so a
    header that declares huge layers costs nothing (layers create their weights through initializers).
    """
    token = _budget.set([elements])
    try:
        yield
    finally:
        _budget.reset(token)


def _spend(shape: Sequence[int]) -> None:
    left = _budget.get()
    if left is None:
        return
    wanted = math.prod(int(n) for n in shape)
    if wanted > left[0]:
        raise BudgetExceededError(f"a weight of shape {tuple(shape)} ({wanted} elements) exceeds the {left[0]} left")
    left[0] -= wanted


class Initializer:
    """Base class: `__call__(shape) -> float32 array`, `get_config()`, `from_config()`.

    Every subclass's `__call__` is checked against the :func:`element_budget` in force, if any.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and not getattr(call, "_budgeted", False):
            cls.__call__ = _budgeted(call)  # type: ignore[method-assign,assignment]

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)


def _budgeted(call: Callable[[Any, Sequence[int]], np.ndarray]) -> Callable[[Any, Sequence[int]], np.ndarray]:
    @functools.wraps(call)
    def checked(self: Any, shape: Sequence[int]) -> np.ndarray:
        _spend(shape)
        return call(self, shape)

    checked._budgeted = True  # type: ignore[attr-defined]
    return checked


class Zeros(Initializer):
    """All zeros (the default bias initializer)."""

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        return np.zeros(tuple(shape), dtype=np.float32)


class Ones(Initializer):
    """All ones (BatchNormalization's gamma)."""

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        return np.ones(tuple(shape), dtype=np.float32)


class Constant(Initializer):
    """Every entry `value`."""

    def __init__(self, value: float = 0.0) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"Constant `value` must be a finite number, got {value!r}.")
        self.value = float(value)

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        return np.full(tuple(shape), self.value, dtype=np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class _SeededInitializer(Initializer):
    def __init__(self, seed: int | None = None) -> None:
        make_generator(seed)  # validates the seed now rather than at build time
        self.seed = seed

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def _generator(self) -> np.random.Generator:
        return make_generator(self.seed)


class RandomNormal(_SeededInitializer):
    """Normal with `mean` and `stddev`."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = float(mean)
        self.stddev = float(stddev)

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        return self._generator().normal(self.mean, self.stddev, tuple(shape)).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_SeededInitializer):
    """Uniform on [minval, maxval)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval = float(minval)
        self.maxval = float(maxval)

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        return self._generator().uniform(self.minval, self.maxval, tuple(shape)).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class _VarianceScaling(_SeededInitializer):
    """Variance `scale / fan` (fan_in, or the mean of fan_in and fan_out), uniform or truncated normal."""

    scale = 1.0
    fan = "fan_in"
    distribution = "uniform"

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        fan_in, fan_out = compute_fans(shape)
        variance = self.scale / (fan_in if self.fan == "fan_in" else (fan_in + fan_out) / 2)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return self._generator().uniform(-limit, limit, tuple(shape)).astype(np.float32)
        stddev = math.sqrt(variance) / _TRUNCATED_STDDEV_FACTOR
        return _truncated_normal(self._generator(), stddev, tuple(shape)).astype(np.float32)


class GlorotUniform(_VarianceScaling):
    """Uniform on ±sqrt(6 / (fan_in + fan_out)) (the default kernel initializer)."""

    fan = "fan_avg"


class HeUniform(_VarianceScaling):
    """Uniform on ±sqrt(6 / fan_in)."""

    scale = 2.0


class HeNormal(_VarianceScaling):
    """Truncated normal (at 2 standard deviations) with variance 2 / fan_in."""

    scale = 2.0
    distribution = "normal"


class LecunUniform(_VarianceScaling):
    """Uniform on ±sqrt(3 / fan_in)."""


class LecunNormal(_VarianceScaling):
    """Truncated normal (at 2 standard deviations) with variance 1 / fan_in."""

    distribution = "normal"


class GlorotNormal(_VarianceScaling):
    """Truncated normal (at 2 standard deviations) with variance 2 / (fan_in + fan_out)."""

    fan = "fan_avg"
    distribution = "normal"


class Orthogonal(_SeededInitializer):
    """`gain` times a random orthogonal matrix (rows or columns orthonormal, whichever are fewer),
    over the last axis against all the others flattened."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain):
            raise ValueError(f"Orthogonal `gain` must be a finite number, got {gain!r}.")
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape: Sequence[int]) -> np.ndarray:
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializes weights of at least 2 dimensions, got shape {tuple(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        q, r = np.linalg.qr(self._generator().normal(size=(max(rows, cols), min(rows, cols))))
        q *= np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(tuple(shape)).astype(np.float32)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


def _truncated_normal(generator: np.random.Generator, stddev: float, shape: tuple[int, ...]) -> np.ndarray:
    values = generator.normal(0.0, stddev, shape)
    outside = np.abs(values) > 2 * stddev
    while outside.any():
        values[outside] = generator.normal(0.0, stddev, int(outside.sum()))
        outside = np.abs(values) > 2 * stddev
    return values


CLASSES: tuple[type[Initializer], ...] = (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, GlorotUniform, GlorotNormal,
    HeNormal, HeUniform, LecunNormal, LecunUniform, Orthogonal,
)
_BY_NAME: dict[str, type[Initializer]] = {
    "zeros": Zeros,
    "zero": Zeros,
    "ones": Ones,
    "one": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "normal": RandomNormal,
    "random_uniform": RandomUniform,
    "uniform": RandomUniform,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal,
    **{cls.__name__: cls for cls in CLASSES},
}


def get(identifier: str | Initializer) -> Initializer:
    """Resolve a name (`"glorot_uniform"`) or an Initializer instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return lookup("initializer", identifier, _BY_NAME)()
    raise TypeError(f"An initializer must be a name or a trainer.initializers.Initializer, got {identifier!r}.")
