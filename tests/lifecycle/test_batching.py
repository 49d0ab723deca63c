"""Batches: Keras's order of batches across epochs, and resuming at any epoch."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.batching import Batches, split_for_validation
from trainer.validation import Batch

DATA = Batch(np.arange(8, dtype=np.float32).reshape(8, 1), np.arange(8), None)


def firsts(batches: Batches, epochs: int) -> list[list[int]]:
    return [[int(batch.x[0, 0]) for batch in batches.epoch()] for _ in range(epochs)]


@pytest.mark.parametrize(
    ("steps_per_epoch", "expected"),
    [
        (None, [[0, 2, 4, 6]] * 4),
        (2, [[0, 2], [4, 6], [0, 2], [4, 6]]),  # a pass used up exactly: the next epoch starts a new one
        (3, [[0, 2, 4], [6], [0, 2, 4], [6]]),  # a pass running out mid-epoch ends that epoch early (Keras)
    ],
)
def test_epochs_follow_keras_data_iteration(steps_per_epoch: int | None, expected: list[list[int]]) -> None:
    assert firsts(Batches(DATA, 2, steps_per_epoch=steps_per_epoch), 4) == expected


@pytest.mark.parametrize("steps_per_epoch", [None, 2, 3])
def test_a_run_resumed_at_any_epoch_is_served_the_same_batches(steps_per_epoch: int | None) -> None:
    uninterrupted = firsts(Batches(DATA, 2, shuffle=True, seed=11, steps_per_epoch=steps_per_epoch), 6)
    for epoch in range(6):
        resumed = Batches(DATA, 2, shuffle=True, seed=11, steps_per_epoch=steps_per_epoch)
        resumed.start_at(epoch)
        assert firsts(resumed, 1)[0] == uninterrupted[epoch]
    assert len({tuple(e) for e in uninterrupted}) > 1, "shuffled differently from pass to pass"


def test_shuffled_batches_keep_x_and_y_together() -> None:
    for batch in Batches(DATA, 3, shuffle=True, seed=1).epoch():
        np.testing.assert_array_equal(batch.x[:, 0], batch.y)


def test_validation_split_takes_the_last_fraction_and_refuses_empty_parts() -> None:
    train, validation = split_for_validation(DATA, 0.25)
    assert train.x[:, 0].tolist() == [0, 1, 2, 3, 4, 5] and validation.x[:, 0].tolist() == [6, 7]
    with pytest.raises(ValueError, match="leaves 0 for training and 8 for validation"):
        split_for_validation(DATA, 0.95)
