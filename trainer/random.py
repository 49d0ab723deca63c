"""Seeding: one global generator that every unseeded random draw in the engine comes from.

`set_random_seed(seed)` resets it (and, as Keras does, Python's and numpy's legacy generators),
so a program that calls it before building its model gets the same weights and dropout masks
on every run.
"""

from __future__ import annotations

import random as python_random

import numpy as np

__all__ = ["set_random_seed", "make_generator"]

_global_generator = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Make every later unseeded draw (initializers, dropout) reproducible from `seed`."""
    global _global_generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_random_seed expects an integer seed, got {type(seed).__name__}: {seed!r}.")
    if seed < 0:
        raise ValueError(f"set_random_seed expects a non-negative seed, got {seed}.")
    python_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    _global_generator = np.random.default_rng(int(seed))


def make_generator(seed: int | None) -> np.random.Generator:
    """A generator fixed by `seed`, or, for None, one derived from the global generator.

    Deriving (rather than sharing) keeps one layer's draws from shifting another's.
    """
    if seed is None:
        return np.random.default_rng(_global_generator.integers(2**63))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"A seed must be a non-negative integer or None, got {seed!r}.")
    return np.random.default_rng(int(seed))
