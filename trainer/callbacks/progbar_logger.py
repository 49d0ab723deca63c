"""ProgbarLogger: the progress bar ``fit``, ``evaluate`` and ``predict`` print to stdout."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .callback import Callback
from .subscriber import current_event

__all__ = ["ProgbarLogger"]

_BAR_WIDTH = 20
_BATCH_HOOKS = ("on_train_batch_end", "on_test_batch_end", "on_predict_batch_end")


class ProgbarLogger(Callback):
    """Prints progress as Keras does: ``verbose=1`` a live bar per epoch, ``verbose=2`` a line per epoch.

    Like Keras's, it runs in the compute thread (``delivery = "thread"``) and redraws the bar at
    most every ``interval`` seconds, which is also its ``batch_interval``: unless other callbacks
    take every batch, the run makes a batch event for it only that often, and the batches between
    cost it nothing. At ``verbose=2`` it does not listen to batch events at all. Times
    shown are those of the events (when they happened), not of the drawing.
    """

    delivery = "thread"

    def __init__(self, stream: TextIO | None = None, interval: float = 0.05) -> None:
        super().__init__()
        self.stream = stream
        self.interval = interval
        self._fitting = False
        self._started = 0.0
        self._drawn = 0.0
        self._seen = 0  # batches done in this epoch (or evaluation), for an epoch of unknown length
        self._verbose = 1

    @property
    def verbose(self) -> int:
        return self._verbose

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self._verbose = int(params.get("verbose", 1))
        # The bar samples batches: it needs one only when it could redraw. An epoch of unknown length
        # is counted batch by batch, for its last line, and a subclass's own batch hook gets every batch.
        own_hooks = all(getattr(type(self), hook) is getattr(ProgbarLogger, hook) for hook in _BATCH_HOOKS)
        self.batch_interval = self.interval if own_hooks and params.get("steps") is not None else 0.0
        # Only the live bar (verbose=1) draws batches. A hook set to the base class's no-op is never
        # subscribed, so at verbose=2 batch events cost nothing, or are not even made.
        for hook in _BATCH_HOOKS:
            if self.verbose == 1:
                self.__dict__.pop(hook, None)
            elif getattr(type(self), hook) is getattr(ProgbarLogger, hook):  # a subclass's own hook stays
                setattr(self, hook, getattr(super(), hook))

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._fitting = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._fitting = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._write(f"Epoch {epoch + 1}/{self.params['epochs']}\n")
        self._started = _happened()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._seen = batch + 1
        if self.verbose == 1:
            self._render(batch + 1, logs or {}, final=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._render(self.params["steps"], logs or {}, final=True)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._fitting:
            self._started = _happened()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._fitting:
            self._seen = batch + 1
        if not self._fitting and self.verbose == 1:
            self._render(batch + 1, logs or {}, final=False)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self._fitting:
            self._render(self.params["steps"], logs or {}, final=True)

    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._started = _happened()

    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._seen = batch + 1
        if self.verbose == 1:
            self._render(batch + 1, {}, final=False)

    def on_predict_end(self, logs: dict[str, Any] | None = None) -> None:
        self._render(self.params["steps"], {}, final=True)

    def _render(self, done: int, logs: dict[str, Any], *, final: bool) -> None:
        now = time.monotonic()
        if not final and now - self._drawn < self.interval:
            return
        self._drawn = now
        steps = self.params["steps"]
        if steps is None:  # not known before the data ran out (a generator): Keras's "Unknown", then the count
            done = self._seen if final else done
            steps = done if final else None
        elapsed = _happened() - self._started
        per_step = _per_step(elapsed / max(done, 1))
        metrics = "".join(f" - {key}: {_number(value)}" for key, value in logs.items())
        if self.verbose == 2:
            if final:
                self._write(f"{steps}/{steps} - {elapsed:.0f}s - {per_step}{metrics}\n")
            return
        if steps is None:
            self._write(f"\r{done}/Unknown {elapsed:.0f}s {per_step}{metrics}")
            return
        filled = _BAR_WIDTH * done // max(steps, 1)
        bar = "━" * filled + " " * (_BAR_WIDTH - filled)
        self._write(f"\r{done}/{steps} {bar} {elapsed:.0f}s {per_step}{metrics}" + ("\n" if final else ""))

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(text)
        stream.flush()


def _happened() -> float:
    """When the event being handled happened (now, if a hook is called directly, as in a test)."""
    event = current_event()
    return time.monotonic() if event is None else event.time


def _per_step(seconds: float) -> str:
    return f"{1000 * seconds:.0f}ms/step" if seconds >= 0.001 else f"{1e6 * seconds:.0f}us/step"


def _number(value: Any) -> str:
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return str(value)
