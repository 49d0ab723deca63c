"""What EarlyStopping and ReduceLROnPlateau share: a watched log value, its direction, and resumable state."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from trainer import metrics

from . import arguments
from .callback import Callback

__all__ = ["MonitorCallback"]

MODES = ("auto", "min", "max")

# How "auto" mode tells a metric's direction, by the class of the model's metric of that name.
_MAXIMISED = (metrics.BinaryAccuracy, metrics.CategoricalAccuracy, metrics.SparseCategoricalAccuracy)
_MINIMISED = (metrics.MeanSquaredError, metrics.MeanAbsoluteError)


class MonitorCallback(Callback):
    """Base of callbacks that watch one quantity of the epoch logs and act when it stops improving.

    ``mode="min"`` or ``"max"`` says which way is better; ``"auto"`` decides at the first epoch end:
    ``loss``/``val_loss`` and the mean errors are minimised, accuracies maximised, anything else is
    an error asking for an explicit mode (as Keras). A value improves on a reference only if it is
    better by more than ``min_delta``.

    The per-run state (``best``, ``wait``, ...) starts afresh at each ``on_train_begin``, unless
    :meth:`set_state` restored it for this run (``BackupAndRestore`` resuming a run, placed before or
    after this callback). Subclasses give :meth:`reset`, :meth:`get_state` and :meth:`_load_state`.
    """

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        super().__init__()
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"{owner}: monitor must be the name of a logged quantity, such as 'val_loss'; got {monitor!r}")
        self.monitor = monitor
        self.mode = arguments.choice(owner, "mode", mode, MODES)
        # Keras silently takes abs(min_delta); a negative one is a mistake here, since mode gives the direction.
        self.min_delta = arguments.number(owner, "min_delta", min_delta, minimum=0)
        self.best: float | None = None
        self._restored = False

    def reset(self) -> None:
        """Forget the previous run's progress."""
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        """This run's progress, for ``BackupAndRestore``; :meth:`set_state` takes it back."""
        raise NotImplementedError

    def _load_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned; the run's ``on_train_begin`` then keeps it."""
        missing = sorted(set(self.get_state()) - set(state))
        if missing:
            raise ValueError(f"{type(self).__name__}.set_state: the state lacks {', '.join(missing)}")
        self._load_state(state)
        self._restored = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._restored:
            self.reset()
        self._restored = False

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        # A restore that came after this callback's on_train_begin must not carry over to the next run.
        self._restored = False

    def monitored_value(self, logs: Mapping[str, Any] | None) -> float | None:
        """The monitored value in ``logs``; None, with a warning naming what is there, if it is missing."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} is conditioned on metric '{self.monitor}', which is not available. "
                f"Available metrics are: {','.join(logs)}",
                stacklevel=2,
            )
            return None
        return float(value)

    def is_improvement(self, current: float, reference: float | None) -> bool:
        """Whether ``current`` beats ``reference`` (anything beats None) by more than ``min_delta``."""
        if reference is None:
            return True
        if self._direction() == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def _direction(self) -> str:
        if self.mode != "auto":
            return self.mode
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return "min"
        for metric in getattr(self.model, "metrics", []):
            if metric.name == name and isinstance(metric, _MAXIMISED):
                return "max"
            if metric.name == name and isinstance(metric, _MINIMISED):
                return "min"
        raise ValueError(
            f"{type(self).__name__} received monitor={self.monitor!r}, but cannot tell whether it should be "
            "maximised or minimised. Pass mode='max' to monitor the highest value, or mode='min' for the lowest."
        )
