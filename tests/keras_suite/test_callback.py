"""Keras 3.15's ``callback_test.py``, ported, and the ``on_batch_begin``/``on_batch_end`` aliases
of Keras's ``Callback`` (and R keras3's ``Callback()``) through a subclass and the factory."""

from __future__ import annotations

from typing import Any

import pytest

from trainer.callbacks import Callback
from trainer.callbacks.subscriber import delivery_of, overridden_hooks

from .models import data, regression


def fit(callbacks: list[Callback], **kwargs: Any) -> Any:
    x, y = data(samples=8, inputs=1)
    model = regression(inputs=1, metrics=[])
    model.fit(x, y, batch_size=2, verbose=0, callbacks=callbacks, **kwargs)
    return model


def test_model_state_is_current_on_epoch_end() -> None:
    """test_model_state_is_current_on_epoch_end: at on_batch_end, the model has trained that batch
    (Keras counts calls in a variable of the model; the optimizer's iterations count the same)."""

    class CBK(Callback):
        calls = 0

        def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            assert self.model.optimizer.iterations == batch + 1
            self.calls += 1

    callback = CBK()
    fit([callback])
    assert callback.calls == 4


@pytest.mark.anyio
async def test_an_async_on_batch_end_is_queued_and_hears_every_training_batch() -> None:
    seen: list[int] = []

    class Async(Callback):
        async def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            seen.append(batch)

    callback = Async()
    assert delivery_of(callback) == "queued"
    x, y = data(samples=8, inputs=1)
    await regression(inputs=1).fit_async(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[callback])
    assert seen == [0, 1, 2, 3] * 2


def test_on_batch_begin_comes_before_the_step_and_evaluation_batches_are_not_heard() -> None:
    seen: list[tuple[str, int, int]] = []

    class Aliases(Callback):
        def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            seen.append(("begin", batch, int(self.model.optimizer.iterations)))

        def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            seen.append(("end", batch, int(self.model.optimizer.iterations)))

    fit([Aliases()], validation_split=0.5)  # 4 training samples: 2 batches, then validation
    assert seen == [("begin", 0, 0), ("end", 0, 1), ("begin", 1, 1), ("end", 1, 2)]


def test_an_overridden_on_train_batch_end_replaces_the_alias_unless_it_calls_super() -> None:
    seen: list[str] = []

    class Replaces(Callback):
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            seen.append("replaces")

        def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            seen.append("never")

    class Extends(Replaces):
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            seen.append("extends")
            Callback.on_train_batch_end(self, batch, logs)  # Keras's default: calls on_batch_end

    fit([Replaces()], epochs=1)
    assert seen == ["replaces"] * 4
    seen.clear()
    fit([Extends()], epochs=1)
    assert seen == ["extends", "never"] * 4


def test_a_callback_overriding_neither_never_hears_the_batches() -> None:
    class EpochsOnly(Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...

    assert list(overridden_hooks(EpochsOnly())) == ["on_epoch_end"]


def test_the_factory_takes_the_aliases() -> None:
    seen: list[int] = []

    def on_batch_end(self: Any, batch: int, logs: Any = None) -> None:
        seen.append(batch)

    Counter = Callback("Counter", on_batch_end=on_batch_end)
    fit([Counter()], epochs=1)
    assert seen == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("name", "nearest"),
    [("on_epoch_ends", "on_epoch_end"), ("onEpochEnd", "on_epoch_end"), ("epoch_end", "on_epoch_end"), ("on_batch_ends", "on_batch_end")],
)
def test_the_factory_refuses_a_misspelt_hook_with_the_nearest(name: str, nearest: str) -> None:
    with pytest.raises(ValueError, match=f"'{name}' is not a callback hook; did you mean '{nearest}'"):
        Callback("Misspelt", **{name: lambda self, epoch, logs=None: None})


def test_the_factory_keeps_other_members() -> None:
    Made = Callback("Made", public={"threshold": 0.5, "epochs_seen": 0})
    assert Made().threshold == 0.5  # type: ignore[attr-defined]
