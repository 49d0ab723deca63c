"""The base optimizer: learning rate, iteration count, gradient clipping, weight decay, and state.

Subclasses give `slot_names` (per-variable state, Keras's names) and `update_step`, the rule for
one variable. `apply(grads, variables)` updates the variables in place, in the order Keras's base
optimizer does: clip the gradients, decay the weights (decoupled: w *= 1 - weight_decay * lr),
update, then count the iteration. Where Keras's torch backend writes a rule differently from its
generic one, the subclasses follow the torch form, which the reference fixtures were made with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.optimizers import schedules

__all__ = ["Optimizer", "LearningRate"]

LearningRate = float | schedules.LearningRateSchedule
"""What `learning_rate=` takes: a fixed rate, or a schedule of the step count."""


def _positive_or_none(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number or None, got {value!r}.")
    return float(value)


def check_betas(owner: str, beta_1: float, beta_2: float, beta_1_open_at_zero: bool = False) -> tuple[float, float]:
    """Both decay rates as floats in [0, 1) (Lion: beta_1 in (0, 1], as Keras checks), else ValueError."""
    for argument, value in (("beta_1", beta_1), ("beta_2", beta_2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{owner} `{argument}` must be a number, got {value!r}.")
    if beta_1_open_at_zero:
        if not 0 < beta_1 <= 1:
            raise ValueError(f"{owner} `beta_1` must be in (0, 1], got {beta_1!r}.")
    elif not 0 <= beta_1 < 1:
        raise ValueError(f"{owner} `beta_1` must be in [0, 1), got {beta_1!r}.")
    if not 0 <= beta_2 < 1 + beta_1_open_at_zero:
        raise ValueError(f"{owner} `beta_2` must be in [0, 1), got {beta_2!r}.")
    return float(beta_1), float(beta_2)


class Optimizer:
    """Base class for the optimizers; `learning_rate` may be read and set between steps, unless it is a
    `trainer.optimizers.schedules.LearningRateSchedule`, which then gives the rate of every step."""

    slot_names: tuple[str, ...] = ()

    def __init__(
        self,
        learning_rate: LearningRate,
        weight_decay: float | None = None,
        clipnorm: float | None = None,
        clipvalue: float | None = None,
        global_clipnorm: float | None = None,
        name: str | None = None,
    ) -> None:
        self._schedule: schedules.LearningRateSchedule | None = None
        if isinstance(learning_rate, schedules.LearningRateSchedule):
            self._schedule = learning_rate
        else:
            self.learning_rate = learning_rate
        self.weight_decay = _positive_or_none("weight_decay", weight_decay) if weight_decay else None
        self.clipnorm = _positive_or_none("clipnorm", clipnorm)
        self.clipvalue = _positive_or_none("clipvalue", clipvalue)
        self.global_clipnorm = _positive_or_none("global_clipnorm", global_clipnorm)
        if sum(v is not None for v in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set.")
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots: dict[str, list[np.ndarray]] = {}
        self._shapes: list[tuple[int, ...]] | None = None

    @property
    def learning_rate(self) -> float:
        """The rate of the next step, a Python float; setting it takes effect at the next step
        (a TypeError, as in Keras, for an optimizer made with a schedule)."""
        return float(self._current_learning_rate())

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if self._schedule is not None:
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` constructor "
                "argument, hence its learning rate is not settable. If you need the learning rate to be settable, "
                "you should instantiate the optimizer with a float `learning_rate` argument."
            )
        if isinstance(value, schedules.LearningRateSchedule):
            raise TypeError("A learning-rate schedule is given to the optimizer's constructor, as `learning_rate=`.")
        if callable(value):
            raise TypeError(
                "learning_rate must be a number or a trainer.optimizers.schedules.LearningRateSchedule, "
                f"got the callable {value!r}."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
            raise TypeError(f"learning_rate must be a finite number, got {value!r}.")
        if value < 0:
            raise ValueError(f"learning_rate must be non-negative, got {value}.")
        self._learning_rate = np.float32(value)  # Keras keeps it in a float32 variable

    @property
    def schedule(self) -> schedules.LearningRateSchedule | None:
        """The schedule the rate comes from, or None for a fixed (settable) rate."""
        return self._schedule

    def _current_learning_rate(self) -> np.float32:
        return self._schedule(self.iterations) if self._schedule is not None else self._learning_rate

    @property
    def built(self) -> bool:
        return self._shapes is not None

    def build(self, variables: Sequence[np.ndarray]) -> None:
        """Create the per-variable state (zeros unless a subclass says otherwise)."""
        self._shapes = [v.shape for v in variables]
        self._slots = {name: [self.initial_slot(name, v) for v in variables] for name in self.slot_names}

    def initial_slot(self, slot_name: str, variable: np.ndarray) -> np.ndarray:
        return np.zeros_like(variable, dtype=np.float32)

    def apply(self, grads: Sequence[np.ndarray], variables: Sequence[np.ndarray]) -> None:
        """Update `variables` in place from `grads` (same order and shapes); the inputs are not modified."""
        if not self.built:
            self.build(variables)
        lr = self._current_learning_rate()
        grads = self._clipped(grads)
        if self.weight_decay:
            decay = np.float32(1) - np.float32(self.weight_decay) * lr
            for variable in variables:
                variable *= decay
        self.update_all(grads, variables, lr)
        self.iterations += 1

    def apply_gradients(self, grads_and_vars: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Keras's spelling of `apply`: an iterable of (gradient, variable) pairs."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def update_all(self, grads: Sequence[np.ndarray], variables: Sequence[np.ndarray], lr: np.float32) -> None:
        for index, (grad, variable) in enumerate(zip(grads, variables)):
            self.update_step(index, grad, variable, lr)

    def update_step(self, index: int, grad: np.ndarray, variable: np.ndarray, lr: np.float32) -> None:
        raise NotImplementedError

    def slot(self, slot_name: str, index: int) -> np.ndarray:
        return self._slots[slot_name][index]

    def _clipped(self, grads: Sequence[np.ndarray]) -> Sequence[np.ndarray]:
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            return [_clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(np.square(g, dtype=np.float32).sum()) for g in grads))
            scale = np.float32(self.global_clipnorm * min(1 / norm if norm else math.inf, 1 / self.global_clipnorm))
            return [g * scale for g in grads]
        return grads

    def get_state(self) -> dict[str, np.ndarray]:
        """Every stateful value as named arrays: iterations, learning_rate (unless a schedule gives it) and
        each slot (copies)."""
        state: dict[str, np.ndarray] = {"iterations": np.array(self.iterations, dtype=np.int64)}
        if self._schedule is None:
            state["learning_rate"] = np.array(self._learning_rate, dtype=np.float32)
        for name, arrays in self._slots.items():
            for index, array in enumerate(arrays):
                state[f"{name}/{index}"] = array.copy()
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore `get_state()` output; checks everything first, so a bad state changes nothing."""
        if not self.built:
            raise ValueError("The optimizer has no variables yet: build it (or run one step) before set_state.")
        expected = {k: v.shape for k, v in self.get_state().items()}
        problems = [
            f"{key}: expected shape {shape}, got {None if key not in state else np.shape(state[key])}"
            for key, shape in expected.items()
            if key not in state or np.shape(state[key]) != shape
        ]
        problems += [f"{key}: not a state of this optimizer" for key in state if key not in expected]
        if problems:
            raise ValueError(f"Optimizer state does not fit {type(self).__name__}: " + "; ".join(problems))
        self.iterations = int(state["iterations"])
        if self._schedule is None:
            self.learning_rate = float(state["learning_rate"])
        for name, arrays in self._slots.items():
            for index, array in enumerate(arrays):
                array[...] = state[f"{name}/{index}"]

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "learning_rate": self.learning_rate if self._schedule is None else schedules.serialize(self._schedule),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)


def _clip_by_norm(grad: np.ndarray, clip_norm: float) -> np.ndarray:
    norm = np.sqrt(np.square(grad, dtype=np.float32).sum())
    if norm <= clip_norm:
        return grad
    clipped: np.ndarray = grad * np.float32(clip_norm) / norm
    return clipped
