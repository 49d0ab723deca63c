"""An optimizer built with a schedule reads its rate from it at every step; callbacks that set the rate
refuse it, with Keras's TypeError."""

from __future__ import annotations

import numpy as np
import pytest

import trainer
from trainer import callbacks, layers, optimizers
from trainer.optimizers import schedules


def fitted(optimizer: optimizers.Optimizer, callback: trainer.Callback | None = None, epochs: int = 2) -> trainer.Sequential:
    model = trainer.Sequential([trainer.Input(shape=(2,)), layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((8, 2)), np.zeros((8, 1)), batch_size=4, epochs=epochs, callbacks=[callback] if callback else None,
              verbose=0)
    return model


def test_the_rate_follows_the_schedule_step_by_step() -> None:
    schedule = schedules.PiecewiseConstantDecay(boundaries=[1, 2], values=[0.25, 0.1, 0.0])
    optimizer = optimizers.SGD(learning_rate=schedule)
    assert optimizer.learning_rate == 0.25
    model = trainer.Sequential([trainer.Input(shape=(1,)), layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizer=optimizer, loss="mse")
    kernels = []
    for _ in range(4):  # d(loss)/d(kernel) = 2 * (k * 1 - 0) = 2k
        model.train_on_batch(np.ones((1, 1)), np.zeros((1, 1)))
        kernels.append(float(model.get_weights()[0][0, 0]))
    # steps 0 and 1 (step <= 1) at 0.25, step 2 at 0.1, then 0: k -= lr * 2k
    np.testing.assert_allclose(kernels, [0.5, 0.25, 0.2, 0.2], rtol=1e-6)
    assert optimizer.iterations == 4 and optimizer.learning_rate == 0.0


def test_a_schedule_is_not_settable() -> None:
    optimizer = optimizers.Adam(learning_rate=schedules.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="not settable"):
        optimizer.learning_rate = 0.01
    fixed = optimizers.Adam()
    with pytest.raises(TypeError, match="given to the optimizer's constructor"):
        fixed.learning_rate = schedules.ExponentialDecay(0.1, 10, 0.5)  # type: ignore[assignment]
    with pytest.raises(TypeError, match="number or a trainer.optimizers.schedules.LearningRateSchedule"):
        optimizers.Adam(learning_rate=lambda step: 0.1)  # type: ignore[arg-type]


def test_learning_rate_scheduler_refuses_a_schedule_as_keras_does() -> None:
    optimizer = optimizers.SGD(learning_rate=schedules.InverseTimeDecay(0.1, 1, 1.0))
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        fitted(optimizer, callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5))


def test_reduce_lr_on_plateau_refuses_a_schedule_when_it_would_reduce() -> None:
    optimizer = optimizers.SGD(learning_rate=schedules.CosineDecay(0.1, 100))
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        fitted(optimizer, callbacks.ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10), epochs=3)


def test_a_schedule_survives_the_optimizer_config() -> None:
    optimizer = optimizers.Lion(learning_rate=schedules.CosineDecay(0.0, 4, alpha=0.1, warmup_target=0.1, warmup_steps=2))
    rebuilt = optimizers.Lion.from_config(optimizer.get_config())
    assert isinstance(rebuilt.schedule, schedules.CosineDecay)
    assert rebuilt.schedule.get_config() == optimizer.schedule.get_config()  # type: ignore[union-attr]
    assert "learning_rate" not in rebuilt.get_state()  # the schedule and `iterations` give it


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: schedules.ExponentialDecay(0.1, 0, 0.5), "decay_steps` must be a positive integer"),
        (lambda: schedules.ExponentialDecay(-1, 10, 0.5), "initial_learning_rate` must be at least 0"),
        (lambda: schedules.PiecewiseConstantDecay([1, 2], [0.1]), "one more element than `boundaries`"),
        (lambda: schedules.PiecewiseConstantDecay([3, 2], [0.1, 0.2, 0.3]), "must increase"),
        (lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1), "warmup_steps` must be a non-negative integer"),
        (lambda: schedules.InverseTimeDecay(0.1, 10, float("nan")), "decay_rate` must be a finite number"),
        (lambda: schedules.deserialize({"class_name": "builtins.eval"}), "Unknown schedule class"),
        (lambda: optimizers.Nadam(beta_1=1.0), "beta_1` must be in \\[0, 1\\)"),
        (lambda: optimizers.Lion(beta_1=0.0), "beta_1` must be in \\(0, 1\\]"),
        (lambda: optimizers.Adamax(beta_2=1.5), "beta_2` must be in \\[0, 1\\)"),
    ],
)
def test_bad_arguments_are_refused(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        make()
