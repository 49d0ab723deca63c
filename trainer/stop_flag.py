"""``model.stop_training``, which says so when a queued hook sets it, as Keras's semantics do not hold there."""

from __future__ import annotations

import warnings
from collections.abc import MutableMapping
from typing import Any

from trainer.callbacks.subscriber import current_event

__all__ = ["QueuedStopWarning", "StopTrainingFlag"]


class QueuedStopWarning(UserWarning):
    """A queued callback hook set ``model.stop_training``: the stop comes some steps later than in Keras."""


class StopTrainingFlag:
    """The ``stop_training`` attribute of a model: a plain flag, that warns once per model when a
    queued hook sets it.

    A queued hook runs concurrently with training, so the loop sees the flag a number of steps
    after the event that hook handled, a number that varies from run to run; in Keras, and for an
    inline hook here, training stops right after the hook. A queued hook is told apart by its event's
    ``logs``, a read-only snapshot (inline hooks get the live mapping).
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._key = f"_{name}_value"

    def __get__(self, model: Any, owner: type | None = None) -> Any:
        if model is None:
            return self
        return model.__dict__.get(self._key, False)

    def __set__(self, model: Any, value: Any) -> None:
        if value and not model.__dict__.get("_warned_queued_stop", False):
            event = current_event()
            if event is not None and not isinstance(event.logs, MutableMapping):
                model.__dict__["_warned_queued_stop"] = True
                warnings.warn(
                    f"model.stop_training was set by a queued callback hook ({event.hook}), which runs "
                    "concurrently with training: the stop takes effect some steps later, a number that varies "
                    "from run to run. For Keras's semantics (training stops right after the hook), give the "
                    "callback delivery = 'inline': its async def hooks are then awaited before training goes on.",
                    QueuedStopWarning,
                    stacklevel=2,
                )
        model.__dict__[self._key] = value
