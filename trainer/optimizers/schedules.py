"""Learning-rate schedules with Keras 3's names, parameters and formulas, given as `learning_rate=`.

A schedule maps the optimizer's step count (`optimizer.iterations`, from 0) to the rate of that
step, computed in float32 as Keras computes it. An optimizer built with a schedule reads its rate
from it at every step; its `learning_rate` cannot then be set (TypeError, as in Keras), so
ReduceLROnPlateau and LearningRateScheduler refuse such an optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.lookup import unknown_name_message

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "CosineDecay",
    "InverseTimeDecay",
    "CLASSES",
    "serialize",
    "deserialize",
]

_F32 = np.float32


def _number(owner: str, argument: str, value: float, minimum: float | None = 0.0, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner} `{argument}` must be a finite number, got {value!r}.")
    if (positive and value <= 0) or (minimum is not None and value < minimum):
        raise ValueError(f"{owner} `{argument}` must be {'positive' if positive else f'at least {minimum}'}, got {value!r}.")
    return float(value)


def _steps(owner: str, argument: str, value: int, positive: bool = True) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (1 if positive else 0):
        raise ValueError(f"{owner} `{argument}` must be a {'positive' if positive else 'non-negative'} integer, got {value!r}.")
    return int(value)


class LearningRateSchedule:
    """Base class: `schedule(step) -> float32` rate, `get_config()`, `from_config()`."""

    def __call__(self, step: int) -> np.float32:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        return cls(**config)


class _StepDecay(LearningRateSchedule):
    """A decay driven by step / decay_steps (floored if `staircase`): ExponentialDecay and InverseTimeDecay."""

    def __init__(
        self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool, name: str
    ) -> None:
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps(owner, "decay_steps", decay_steps)
        self.decay_rate = _number(owner, "decay_rate", decay_rate, positive=isinstance(self, ExponentialDecay))
        self.staircase = bool(staircase)
        self.name = name

    def _progress(self, step: int) -> np.float32:
        p = _F32(step) / _F32(self.decay_steps)
        return _F32(np.floor(p)) if self.staircase else p

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_StepDecay):
    """initial_learning_rate * decay_rate ** (step / decay_steps); the exponent floored if `staircase`."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "ExponentialDecay",
    ) -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> np.float32:
        return _F32(_F32(self.initial_learning_rate) * _F32(self.decay_rate) ** self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i],
    values[-1] after the last boundary."""

    def __init__(self, boundaries: Sequence[int], values: Sequence[float], name: str = "PiecewiseConstant") -> None:
        owner = type(self).__name__
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise ValueError(f"{owner} takes lists: `boundaries` and `values`, got {boundaries!r} and {values!r}.")
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"{owner}: `values` must have one more element than `boundaries`, got {len(values)} values "
                f"for {len(boundaries)} boundaries."
            )
        self.boundaries = [_steps(owner, "boundaries", b, positive=False) for b in boundaries]
        if sorted(self.boundaries) != self.boundaries:
            raise ValueError(f"{owner} `boundaries` must increase, got {list(boundaries)!r}.")
        self.values = [_number(owner, "values", v) for v in values]
        self.name = name

    def __call__(self, step: int) -> np.float32:
        index = int(np.searchsorted(self.boundaries, step, side="left"))  # first boundary >= step
        return _F32(self.values[index])

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


class CosineDecay(LearningRateSchedule):
    """A linear warmup from `initial_learning_rate` to `warmup_target` over `warmup_steps` (when
    `warmup_target` is given), then a cosine from that rate down to `alpha` times it over `decay_steps`,
    constant afterwards."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        name: str = "CosineDecay",
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        owner = type(self).__name__
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _steps(owner, "decay_steps", decay_steps)
        self.alpha = _number(owner, "alpha", alpha)
        self.name = name
        self.warmup_target = None if warmup_target is None else _number(owner, "warmup_target", warmup_target)
        self.warmup_steps = _steps(owner, "warmup_steps", warmup_steps, positive=False)

    def _decayed(self, step: np.float32, start: np.float32) -> np.float32:
        fraction = step / _F32(self.decay_steps)
        cosine = _F32(0.5) * (_F32(1) + np.cos(_F32(math.pi) * fraction))
        return _F32(start * ((_F32(1) - _F32(self.alpha)) * cosine + _F32(self.alpha)))

    def __call__(self, step: int) -> np.float32:
        initial = _F32(self.initial_learning_rate)
        if self.warmup_target is None:
            return self._decayed(min(_F32(step), _F32(self.decay_steps)), initial)
        current = min(_F32(step), _F32(self.decay_steps) + _F32(self.warmup_steps))
        target = _F32(self.warmup_target)
        if current < self.warmup_steps:
            return _F32((target - initial) * (current / _F32(self.warmup_steps)) + initial)
        return self._decayed(current - _F32(self.warmup_steps), target)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class InverseTimeDecay(_StepDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps); the ratio floored if `staircase`."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
        name: str = "InverseTimeDecay",
    ) -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step: int) -> np.float32:
        return _F32(_F32(self.initial_learning_rate) / (_F32(1) + _F32(self.decay_rate) * self._progress(step)))


CLASSES: dict[str, type[LearningRateSchedule]] = {
    cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay, InverseTimeDecay)
}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """`{"class_name", "config"}` of a built-in schedule."""
    if CLASSES.get(type(schedule).__name__) is not type(schedule):
        raise TypeError(f"{type(schedule).__name__} is not a built-in schedule, so it cannot be serialized.")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    """Rebuild a schedule from `serialize` output; only the built-in classes are instantiated."""
    class_name = config.get("class_name") if isinstance(config, dict) else None
    if not isinstance(class_name, str) or class_name not in CLASSES:
        raise ValueError(unknown_name_message("schedule class", str(class_name), list(CLASSES)))
    return CLASSES[class_name].from_config(dict(config.get("config", {})))
