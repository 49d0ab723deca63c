"""Callback("Name", hooks..., public=, private=, inherit=): the R keras3 factory, in Python."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from trainer import Callback, Input, Sequential
from trainer.callbacks import History
from trainer.layers import Dense

X = np.linspace(-1, 1, 24, dtype=np.float32).reshape(12, 2)
Y = X.sum(axis=1, keepdims=True)


def fit(callbacks: list[Callback], epochs: int = 2) -> Sequential:
    model = Sequential([Input(shape=(2,)), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, batch_size=4, epochs=epochs, verbose=0, callbacks=callbacks)
    return model


def test_factory_makes_a_named_callback_class() -> None:
    def on_epoch_end(self: Any, epoch: int, logs: Any = None) -> None:
        self.epochs.append(epoch)

    def __init__(self: Any, label: str) -> None:
        super(Counter, self).__init__()
        self.label = label
        self.epochs = []

    Counter = Callback("Counter", on_epoch_end=on_epoch_end, public={"__init__": __init__, "kind": "counting"})
    assert isinstance(Counter, type) and issubclass(Counter, Callback)
    assert Counter.__name__ == "Counter" and Counter.__module__ == __name__
    counter = Counter("first")
    fit([counter], epochs=3)
    assert counter.epochs == [0, 1, 2]
    assert (counter.label, counter.kind) == ("first", "counting")


def test_async_hooks_work_from_the_factory_and_extra_keywords_add_members() -> None:
    async def on_train_end(self: Any, logs: Any = None) -> None:
        self.done = self.marker

    Marker = Callback("Marker", on_train_end=on_train_end, marker="finished")
    marker = Marker()
    fit([marker])
    assert marker.done == "finished"


def test_private_members_are_fresh_per_instance_and_never_subscribed() -> None:
    calls: list[str] = []

    def on_epoch_end(self: Any, epoch: int, logs: Any = None) -> None:
        self.private.seen.append(epoch)
        self.private.note(epoch)

    def note(self: Any, epoch: int) -> None:
        calls.append(f"{type(self).__name__} noted {epoch}")

    def on_train_begin(self: Any, logs: Any = None) -> None:  # a private hook: the engine must not call it
        calls.append("private hook called")

    Tracker = Callback(
        "Tracker", on_epoch_end=on_epoch_end, private={"seen": [], "note": note, "on_train_begin": on_train_begin}
    )
    first, second = Tracker(), Tracker()
    fit([first])
    assert first.private.seen == [0, 1]
    assert second.private.seen == [], "each instance has its own private copy"
    assert calls == ["Tracker noted 0", "Tracker noted 1"]


def test_inherit_extends_a_class_and_a_method_can_call_the_inherited_one() -> None:
    def base_end(self: Any, epoch: int, logs: Any = None) -> None:
        self.trail.append(f"base {epoch}")

    Base = Callback("Base", on_epoch_end=base_end, public={"trail": None})

    def child_end(self: Any, epoch: int, logs: Any = None) -> None:
        super(Child, self).on_epoch_end(epoch, logs)
        self.trail.append(f"child {epoch}")

    Child = Callback("Child", on_epoch_end=child_end, inherit=Base)
    child = Child()
    child.trail = []
    fit([child])
    assert child.trail == ["base 0", "child 0", "base 1", "child 1"]
    assert issubclass(Child, Base)


def test_inheriting_a_built_in_callback() -> None:
    def on_epoch_end(self: Any, epoch: int, logs: Any = None) -> None:
        History.on_epoch_end(self, epoch, {**(logs or {}), "doubled_loss": 2 * logs["loss"]})

    DoublingHistory = Callback("DoublingHistory", on_epoch_end=on_epoch_end, inherit=History)
    recorder = DoublingHistory()
    fit([recorder])
    assert recorder.history["doubled_loss"] == pytest.approx([2 * v for v in recorder.history["loss"]])


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"classname": "Mark Finished"}, ValueError, "classname must be a Python identifier"),
        ({"classname": "class"}, ValueError, "classname must be a Python identifier"),
        ({"on_epoch_ends": lambda self, epoch, logs=None: None}, ValueError, "did you mean 'on_epoch_end'"),
        ({"public": {"on_trian_end": lambda self, logs=None: None}}, ValueError, "did you mean 'on_train_end'"),
        ({"on_epoch_end": lambda self, logs=None: None}, TypeError, r"must accept \(self, epoch, logs\)"),
        ({"on_train_end": 42}, TypeError, "on_train_end must be a function"),
        ({"inherit": dict}, TypeError, "inherit must be a Callback class"),
        ({"public": ["not", "a", "mapping"]}, TypeError, "public must be a mapping"),
        ({"private": {"x": 1}, "public": {"private": 2}}, ValueError, "'private' is reserved"),
    ],
)
def test_bad_input_is_refused_before_any_class_is_made(arguments: dict, error: type, message: str) -> None:
    arguments = {"classname": "Valid", **arguments}
    with pytest.raises(error, match=message):
        Callback(arguments.pop("classname"), **arguments)


def test_a_coroutine_object_as_hook_is_refused_and_closed() -> None:
    async def on_train_end(self: Any, logs: Any = None) -> None: ...

    with pytest.raises(TypeError, match="not a coroutine object"):
        Callback("Oops", on_train_end=on_train_end(None))


def test_a_callback_class_instead_of_an_instance_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="did you forget to call it"):
        fit([History])  # type: ignore[list-item]
