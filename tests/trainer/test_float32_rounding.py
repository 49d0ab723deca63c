"""Python floats rounded by to_float32 after each operation are float32 arithmetic, bit for bit."""

import math
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trainer.float32_rounding import to_float32
from trainer.metrics import Mean

float32s = st.floats(width=32, allow_nan=False)
OPERATIONS = [operator.add, operator.sub, operator.mul, operator.truediv]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.__name__)
@given(a=float32s, b=float32s)
def test_an_operation_rounded_to_float32_is_numpy_s_float32_operation(operation, a, b):
    if operation is operator.truediv and b == 0:
        return
    with np.errstate(all="ignore"):
        expected = float(operation(np.float32(a), np.float32(b)))
    got = to_float32(operation(a, b))
    assert got == expected or (math.isnan(got) and math.isnan(expected))
    assert math.copysign(1, got) == math.copysign(1, expected)


def test_beyond_float32_s_range_is_an_infinity_of_its_sign():
    largest = float(np.finfo(np.float32).max)
    assert to_float32(largest * 2) == math.inf
    assert to_float32(-largest * 2) == -math.inf
    assert to_float32(largest) == largest
    assert math.isnan(to_float32(math.nan))


def test_the_loss_tracker_s_running_mean_is_a_float32_accumulation():
    rng = np.random.default_rng(3)
    losses = (rng.standard_normal(5000) * 1e3).astype(np.float32)
    sizes = rng.integers(1, 129, 5000)
    tracker = Mean()
    total, count = np.float32(0), np.float32(0)
    for loss, size in zip(losses, sizes):
        tracker.add_weighted(loss, int(size))
        total, count = np.float32(total + loss * np.float32(size)), np.float32(count + np.float32(size))
    assert tracker.result() == np.float32(total / count)
    assert tracker.result().dtype == np.float32


def test_logs_hold_what_result_gives_even_for_a_subclass_s_own_result():
    class Doubled(Mean):
        def result(self):
            return np.float32(2) * super().result()

    for metric in (Mean(), Doubled()):
        metric.add_weighted(np.float32(0.1), 3)
        metric.add_weighted(np.float32(0.7), 5)
        assert metric._logs_value() == float(metric.result())
