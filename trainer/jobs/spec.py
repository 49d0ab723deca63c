"""What a job trains: a compiled model and the arguments of its ``fit``, made afresh for every run."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eventbus import EventBus
from trainer.callbacks import BackupAndRestore, Callback, History
from trainer.model import Sequential

__all__ = ["Build", "TrainingSpec", "checked_spec"]

_SET_BY_THE_MANAGER = frozenset({"x", "y", "epochs", "batch_size", "callbacks", "bus", "run_id"})


@dataclasses.dataclass(frozen=True)
class TrainingSpec:
    """A compiled ``model`` and what its ``fit`` is called with.

    ``fit_kwargs`` holds the other arguments of ``fit`` (``validation_split``, ``shuffle``, ...);
    ``verbose`` is 0 unless it says otherwise. ``callbacks`` run after the manager's own
    :class:`~trainer.callbacks.BackupAndRestore`, which lets a cancelled or failed job resume.
    """

    model: Sequential
    x: Any
    y: Any = None
    epochs: int = 1
    batch_size: int | None = None
    callbacks: Sequence[Callback] = ()
    fit_kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.model, Sequential):
            raise TypeError(f"TrainingSpec.model must be a compiled trainer.Sequential; got {self.model!r}")
        taken = sorted(_SET_BY_THE_MANAGER.intersection(self.fit_kwargs))
        if taken:
            raise ValueError(
                f"TrainingSpec.fit_kwargs must not hold {', '.join(taken)}: they are fields of the spec "
                "(x, y, epochs, batch_size, callbacks) or set by the job manager (bus, run_id)"
            )

    async def fit(self, *, bus: EventBus, run_id: str, backup_dir: str | os.PathLike[str]) -> History:
        """Train, publishing every event on ``bus`` as ``run_id``, resuming from ``backup_dir`` if it
        holds a backup. Cancelling the caller stops training before the next step; the backup stays."""
        callbacks = [BackupAndRestore(backup_dir), *self.callbacks]
        kwargs = {"verbose": 0, **self.fit_kwargs}
        return await self.model.fit_async(
            self.x, self.y, batch_size=self.batch_size, epochs=self.epochs, callbacks=callbacks,
            bus=bus, run_id=run_id, **kwargs,
        )  # fmt: skip


def checked_spec(built: object, job_id: str) -> TrainingSpec:
    """What a job's build returned, if it is a :class:`TrainingSpec`; a TypeError naming the job if not."""
    if not isinstance(built, TrainingSpec):
        raise TypeError(f"the build of job {job_id} returned {type(built).__name__}, not a TrainingSpec")
    return built


Build = Callable[[], TrainingSpec]
"""Makes a job's :class:`TrainingSpec`. Called in a worker thread once per run (a resumed job is
built again, then restored from its backup), one build at a time across the manager, so a build
that calls ``trainer.set_random_seed`` first makes the same model every time. A
:class:`~trainer.jobs.RayExecutor` calls it in the job's Ray worker instead: it must then pickle
(a module-level function or a ``functools.partial`` of one, importable on every node; see the README)."""
