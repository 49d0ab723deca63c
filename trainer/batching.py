"""Serving a data set as batches, epoch after epoch, as Keras's array data adapter does."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from .validation import Batch

__all__ = ["Batches", "EpochBatches", "split_for_validation"]


class EpochBatches(Protocol):
    """What the loops serve themselves from: :class:`Batches` for arrays, and
    :class:`~trainer.data_adapters.SourceBatches` for generators, datasets and async iterables."""

    @property
    def steps(self) -> int | None:
        """Batches in a full epoch, ``params["steps"]``; None when not known before the data runs out."""

    def start_at(self, epoch: int) -> None:
        """Serve epoch ``epoch`` next, as a run that trained the epochs before it would."""

    def epoch(self) -> Iterator[Batch]:
        """The batches of the next epoch."""


class Batches:
    """The batches of one data set.

    Each epoch is one pass over the data, reshuffled if ``shuffle``, unless ``steps_per_epoch`` is
    given: then, as in Keras, a pass is spread over epochs (an epoch takes up to that many batches;
    when the pass runs out mid-epoch, the epoch ends early, and the next epoch starts a new pass).
    Unshuffled batches are views of the data, not copies. Pass ``p`` is shuffled by a generator
    seeded with ``(seed, p)``, so a run resumed at epoch ``e`` (:meth:`start_at`) is served the same
    batches as one never stopped.
    """

    def __init__(
        self,
        data: Batch,
        batch_size: int,
        *,
        shuffle: bool = False,
        steps_per_epoch: int | None = None,
        seed: int = 0,
    ) -> None:
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.steps_per_pass = math.ceil(len(data.x) / batch_size)
        self.steps_per_epoch = steps_per_epoch
        self.start_at(0)

    def start_at(self, epoch: int) -> None:
        """Serve epoch ``epoch`` next, as a run that had trained the epochs before it would."""
        # Where the epochs before it left off: the pass in use and how many of its batches are gone.
        self._pass, self._used = -1, self.steps_per_pass
        for _ in range(epoch):
            self._take_epoch_steps()

    @property
    def steps(self) -> int:
        """Batches in a full epoch: ``params["steps"]``."""
        return self.steps_per_epoch or self.steps_per_pass

    def epoch(self) -> Iterator[Batch]:
        """The batches of the next epoch."""
        first = self._used if self._used < self.steps_per_pass else 0
        pass_index = self._pass if self._used < self.steps_per_pass else self._pass + 1
        order = self._order(pass_index)
        self._take_epoch_steps()
        for step in range(first, first + self._epoch_length(first)):
            start = step * self.batch_size
            index = slice(start, start + self.batch_size) if order is None else order[start : start + self.batch_size]
            yield _take(self.data, index)

    def _take_epoch_steps(self) -> None:
        """Account for one epoch's batches: a new pass if the last one is used up, then the epoch's share."""
        if self._used >= self.steps_per_pass:
            self._pass, self._used = self._pass + 1, 0
        self._used += self._epoch_length(self._used)

    def _epoch_length(self, used: int) -> int:
        return min(self.steps_per_epoch or self.steps_per_pass, self.steps_per_pass - used)

    def _order(self, pass_index: int) -> np.ndarray | None:
        if not self.shuffle:
            return None
        return np.random.default_rng((self.seed, pass_index)).permutation(len(self.data.x))


def _take(data: Batch, index: slice | np.ndarray) -> Batch:
    x, y, sample_weight = data
    return Batch(x[index], None if y is None else y[index], None if sample_weight is None else sample_weight[index])


def split_for_validation(data: Batch, validation_split: float) -> tuple[Batch, Batch]:
    """The first part for training and the last ``validation_split`` for validation, unshuffled, as Keras."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be a fraction in (0, 1); got {validation_split!r}")
    n = len(data.x)
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split} of {n} samples leaves "
            f"{split_at} for training and {n - split_at} for validation; both need at least one"
        )
    return _take(data, slice(0, split_at)), _take(data, slice(split_at, n))
