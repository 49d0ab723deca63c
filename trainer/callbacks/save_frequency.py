"""``save_freq``, as Keras's saving callbacks take it: ``"epoch"``, or every N training batches."""

from __future__ import annotations

import types

from .callback import Callback

__all__ = ["SaveFrequency"]


class SaveFrequency:
    """When a saving callback saves: at each epoch's end, or once every ``save_freq`` training batches.

    Batches are counted as Keras counts them: across epochs, and, when batch hooks come once per
    group of ``steps_per_execution`` batches, by the indices they report (a group of N counts N).
    """

    def __init__(self, save_freq: object, owner: str) -> None:
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            # Keras's words ("Unrecognized save_freq", "Invalid value") too, so code matching them still does.
            raise ValueError(
                f"{owner}: Unrecognized save_freq {save_freq!r} (Invalid value): "
                "save_freq must be 'epoch' or a positive integer (batches)"
            )
        self.per_epoch = save_freq == "epoch"
        self._every = 0 if self.per_epoch else int(save_freq)
        self._since_save = 0
        self._last_batch: int | None = None

    def leave_batch_hook_unsubscribed(self, callback: Callback) -> None:
        """Per epoch, ``callback`` needs no ``on_train_batch_end``: shadowing it with the base class's
        no-op keeps it off the bus, so the batches of a run do not wait for the event loop."""
        if self.per_epoch:
            callback.on_train_batch_end = types.MethodType(Callback.on_train_batch_end, callback)  # type: ignore[method-assign]

    def batch_ended(self, batch: int) -> bool:
        """Count the batches up to ``batch`` (0-based, in its epoch); true when it is time to save."""
        if self.per_epoch:
            return False
        new_epoch = self._last_batch is None or batch <= self._last_batch
        self._since_save += batch + 1 if new_epoch else batch - self._last_batch  # type: ignore[operator]
        self._last_batch = batch
        if self._since_save < self._every:
            return False
        self._since_save = 0
        return True
