"""BackupAndRestore: back training up as it goes, so a run started again after a crash resumes there."""

from __future__ import annotations

import copy
import os
import shutil
import warnings
from collections.abc import Awaitable, Sequence
from typing import Any

import anyio.to_thread
import numpy as np

from trainer import saving

from .callback import Callback
from .provisional_file import ProvisionalFile
from .save_frequency import SaveFrequency

__all__ = ["BackupAndRestore"]

BACKUP_FILE = "latest" + saving.BACKUP_SUFFIX
EPOCH_END_FILE = "latest-epoch-end" + saving.BACKUP_SUFFIX
_ARRAY_MARK = "__array__"


class BackupAndRestore(Callback):
    """Backs up training in ``backup_dir``; a run started again with the same call resumes from it.

    A backup is one file, ``backup_dir/latest.backup.npz``, replaced atomically (a crash leaves the
    previous backup or the new one, never part of one). It holds the weights, the optimizer's state
    (slots, iterations, learning rate), the epoch to resume at, the random state of layers that draw
    (Dropout), and the state of the run's other callbacks that have ``get_state()`` and
    ``set_state(dict)`` (EarlyStopping, ReduceLROnPlateau), matched by position and class name.

    When: with ``save_freq="epoch"``, at each epoch boundary, once every callback is done with the
    epoch (the backup is taken as the next epoch begins), so a resumed run ends with the same weights
    as one never stopped, provided ``trainer.set_random_seed`` is called with the same seed before
    the model is built. As in Keras, this callback's own ``on_epoch_end`` backs up too, so a later
    callback failing in that epoch's end loses nothing (the run resumes at the next epoch): that
    backup goes to a file of its own, ``latest-epoch-end.backup.npz``, which the next epoch's backup
    removes before training goes on, so a process killed later never resumes from it.
    With an integer ``save_freq``, every that many batches: as in Keras, the
    resumed run then starts that epoch again from its first batch with the backed-up weights.
    The copy is taken inline, before training goes on; the file is written queued, concurrently.

    When training ends normally, ``delete_checkpoint`` removes ``backup_dir`` (as Keras does: keep it
    for this callback alone); otherwise the final state is backed up, so the same call has nothing
    left to do. A run that raised or was cancelled keeps its backup.
    """

    delivery = "inline"

    def __init__(self, backup_dir: str | os.PathLike[str], save_freq: str | int = "epoch", delete_checkpoint: bool = True) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError(f"BackupAndRestore: Empty `backup_dir` argument passed ({backup_dir!r}); it must name a directory")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self._frequency = SaveFrequency(save_freq, "BackupAndRestore")
        self._frequency.leave_batch_hook_unsubscribed(self)
        self._path = os.path.join(self.backup_dir, BACKUP_FILE)
        self._epoch_end = ProvisionalFile(os.path.join(self.backup_dir, EPOCH_END_FILE))
        self._stateful: list[tuple[int, Callback]] = []
        self._pending_states: list[dict[str, Any]] = []
        self._first_epoch: int | None = None
        self._current_epoch = 0

    def set_callbacks(self, callbacks: Sequence[Callback]) -> None:
        self._stateful = [
            (position, callback)
            for position, callback in enumerate(callbacks)
            if callback is not self and hasattr(callback, "get_state") and hasattr(callback, "set_state")
        ]

    async def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._first_epoch = None
        self._pending_states = []
        restored = await anyio.to_thread.run_sync(self._restore_latest)
        if restored is None:
            return
        state, arrays = restored
        _set_generator_states(self.model, state["generators"])
        # Callbacks reset themselves in on_train_begin, some after this one: theirs is restored later.
        self._pending_states = _decoded(state["callbacks"], arrays)
        self.model._initial_epoch = state["epoch"]  # fit_loop resumes there

    def _check_state(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Raise unless ``state`` is one this run can resume from (called before the model changes)."""
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"'epoch' must be an integer >= 0, got {epoch!r}")
        generators = state["generators"]
        if not isinstance(generators, dict):
            raise TypeError(f"'generators' must be a mapping, got {type(generators).__name__}")
        for position, generator in _generators(self.model):
            if str(position) in generators:
                trial = type(generator.bit_generator)()  # a throwaway one takes the state first
                trial.state = generators[str(position)]
        callbacks = state["callbacks"]
        if not isinstance(callbacks, list):
            raise TypeError(f"'callbacks' must be a list, got {type(callbacks).__name__}")
        for saved in callbacks:
            if not isinstance(saved, dict) or not isinstance(saved["position"], int) or not isinstance(saved["class"], str):
                raise TypeError(f"each saved callback state must name its 'position' and 'class', got {saved!r:.80}")
            _decoded(saved["state"], arrays)

    async def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> Awaitable[None] | None:
        self._current_epoch = epoch
        if self._first_epoch is None:
            self._first_epoch = epoch
            self._restore_callback_states()
            return None
        if not self._frequency.per_epoch:
            return None
        await self._supersede_epoch_end()
        return self._back_up(resume_at=epoch)

    async def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> Awaitable[None] | None:
        if not self._frequency.per_epoch:
            return None
        contents = self._contents(resume_at=epoch + 1)
        generation = self._epoch_end.begin()
        return anyio.to_thread.run_sync(self._epoch_end.write, generation, contents)

    async def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> Awaitable[None] | None:
        if not self._frequency.batch_ended(batch):
            return None
        return self._back_up(resume_at=self._current_epoch)

    async def on_train_end(self, logs: dict[str, Any] | None = None) -> Awaitable[None] | None:
        if self.delete_checkpoint:
            return self._delete()
        if self._first_epoch is None:
            return None  # no epoch ran: the backup there is (if any) is still the latest state
        await self._supersede_epoch_end()
        return self._back_up(resume_at=self._current_epoch + 1)

    def _restore_latest(self) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
        """Load the latest backup, if any, into the model. An epoch-end backup still on disk is the
        latest (the run failed before the next epoch began): it becomes the backup."""
        for path in (self._epoch_end.path, self._path):
            if os.path.exists(path):
                restored = saving.load_backup(self.model, path, check_state=self._check_state)
                if path != self._path:
                    os.replace(path, self._path)
                return restored
        return None

    async def _supersede_epoch_end(self) -> None:
        if self._epoch_end.needs_superseding:
            await anyio.to_thread.run_sync(self._epoch_end.supersede)

    def _back_up(self, resume_at: int) -> Awaitable[None]:
        """Copy everything now; return the write, for this callback's queued lane."""
        return self._write(self._contents(resume_at))

    def _contents(self, resume_at: int) -> saving.Contents:
        """A copy of everything a run resuming at epoch ``resume_at`` needs."""
        states: list[dict[str, Any]] = []
        arrays: dict[str, np.ndarray] = {}
        for position, callback in self._stateful:
            own_state = copy.deepcopy(callback.get_state())  # type: ignore[attr-defined]
            values = _encoded(own_state, f"callback_{position}", arrays)
            states.append({"position": position, "class": type(callback).__name__, "state": values})
        state = {"epoch": resume_at, "generators": _generator_states(self.model), "callbacks": states}
        return saving.backup_contents(self.model, state, arrays)

    async def _write(self, contents: saving.Contents) -> None:
        def write() -> None:
            os.makedirs(self.backup_dir, exist_ok=True)
            saving.write_contents(self._path, contents)

        await anyio.to_thread.run_sync(write)

    async def _delete(self) -> None:
        # Queued behind the writes still pending, so none can bring the backup back afterwards.
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(self.backup_dir, ignore_errors=True))

    def _restore_callback_states(self) -> None:
        by_position = dict(self._stateful)
        for saved in self._pending_states:
            callback = by_position.get(saved["position"])
            if callback is None or type(callback).__name__ != saved["class"]:
                warnings.warn(
                    f"BackupAndRestore: the backup holds the state of a {saved['class']} at position "
                    f"{saved['position']} of the callbacks, which this run does not have there; its state "
                    "is not restored (was the run started with other callbacks?)",
                    stacklevel=2,
                )
                continue
            callback.set_state(saved["state"])  # type: ignore[attr-defined]
        self._pending_states = []


def _generator_states(model: Any) -> dict[str, Any]:
    """The state of each layer's own random generator (Dropout's masks), keyed by the layer's position
    (names are not stable: a second model built in one process numbers its layers on)."""
    return {str(position): generator.bit_generator.state for position, generator in _generators(model)}


def _set_generator_states(model: Any, states: dict[str, Any]) -> None:
    for position, generator in _generators(model):
        if str(position) in states:
            generator.bit_generator.state = states[str(position)]


def _generators(model: Any) -> list[tuple[int, np.random.Generator]]:
    # Layers keep their generator private; reading it is this callback's job, as resuming needs it.
    found = [(position, getattr(layer, "_generator", None)) for position, layer in enumerate(model.layers)]
    return [(position, generator) for position, generator in found if isinstance(generator, np.random.Generator)]


def _encoded(value: Any, name: str, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON-ready data, its numpy arrays moved to ``arrays`` and marked by name."""
    if isinstance(value, np.ndarray):
        arrays[name] = value
        return {_ARRAY_MARK: name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(key): _encoded(item, f"{name}/{key}", arrays) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encoded(item, f"{name}/{index}", arrays) for index, item in enumerate(value)]
    return value


def _decoded(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The inverse of :func:`_encoded` (tuples come back as lists)."""
    if isinstance(value, dict):
        if set(value) == {_ARRAY_MARK}:
            return arrays[value[_ARRAY_MARK]]
        return {key: _decoded(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item, arrays) for item in value]
    return value
