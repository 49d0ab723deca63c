"""LambdaCallback: all 14 hooks from functions, def or async def; returned mappings; bad names."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from tests.callbacks.scripted_fit import X, Y, small_model
from trainer.callbacks.callback import HOOKS
from trainer.callbacks.lambda_callback import LambdaCallback
from trainer.callbacks.subscriber import delivery_of

INDEXED = {hook for hook in HOOKS if hook.startswith("on_epoch") or "_batch_" in hook}


def recording_hooks(calls: list[tuple[str, Any]]) -> dict[str, Any]:
    """A function for each of the 14 hooks, recording (hook, index or None)."""

    def indexed(hook: str) -> Any:
        return lambda index, logs: calls.append((hook, index))

    def plain(hook: str) -> Any:
        return lambda logs: calls.append((hook, None))

    return {hook: indexed(hook) if hook in INDEXED else plain(hook) for hook in HOOKS}


def test_all_fourteen_hooks_are_called_with_keras_arguments() -> None:
    calls: list[tuple[str, Any]] = []
    callback = LambdaCallback(**recording_hooks(calls))
    assert delivery_of(callback) == "inline"
    model = small_model()
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0, validation_split=0.5, callbacks=[callback])
    model.evaluate(X, Y, batch_size=32, verbose=0, callbacks=[callback])
    model.predict(X, batch_size=32, verbose=0, callbacks=[callback])
    assert calls == [
        ("on_train_begin", None), ("on_epoch_begin", 0),
        ("on_train_batch_begin", 0), ("on_train_batch_end", 0),
        ("on_test_begin", None), ("on_test_batch_begin", 0), ("on_test_batch_end", 0), ("on_test_end", None),
        ("on_epoch_end", 0), ("on_train_end", None),
        ("on_test_begin", None), ("on_test_batch_begin", 0), ("on_test_batch_end", 0), ("on_test_end", None),
        ("on_predict_begin", None), ("on_predict_batch_begin", 0), ("on_predict_batch_end", 0), ("on_predict_end", None),
    ]  # fmt: skip


@pytest.mark.anyio
async def test_async_hooks_run_queued_and_all_have_run_when_fit_async_returns() -> None:
    seen: list[tuple[str, int]] = []

    async def on_epoch_end(epoch: int, logs: Any) -> None:
        await anyio.sleep(0.001)
        seen.append(("epoch", epoch))

    async def on_train_end(logs: Any) -> None:
        await anyio.sleep(0.01)
        seen.append(("end", len(logs)))

    callback = LambdaCallback(on_epoch_end=on_epoch_end, on_train_end=on_train_end)
    assert delivery_of(callback) == "queued"
    await small_model().fit_async(X, Y, epochs=3, verbose=0, callbacks=[callback])
    assert seen == [("epoch", 0), ("epoch", 1), ("epoch", 2), ("end", 2)]


def test_a_returned_mapping_is_merged_and_other_return_values_are_ignored() -> None:
    adds = LambdaCallback(on_epoch_end=lambda epoch, logs: {"doubled": 2 * logs["loss"]})
    returns_int = LambdaCallback(on_epoch_end=lambda epoch, logs: 42, on_train_end=lambda logs: [1, 2])
    history = small_model().fit(X, Y, epochs=2, verbose=0, callbacks=[adds, returns_int])
    assert history.history["doubled"] == [2 * loss for loss in history.history["loss"]]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"on_epoch_ends": print}, ValueError, "'on_epoch_ends' is not a callback hook; did you mean 'on_epoch_end'"),
        ({"on_test_batch_ends": print}, ValueError, "did you mean 'on_test_batch_end'"),
        ({"epoch_end": print}, ValueError, "'epoch_end' is not a callback hook; did you mean 'on_epoch_end'"),
        ({"onEpochEnd": print}, ValueError, "'onEpochEnd' is not a callback hook; did you mean 'on_epoch_end'"),
        ({"model": None}, ValueError, "'model' is a method or property of every Callback"),
        ({"on_train_end": "print"}, TypeError, "on_train_end must be a function or None"),
    ],
)
def test_bad_hooks_are_refused(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        LambdaCallback(**kwargs)


def test_a_coroutine_object_instead_of_a_function_is_refused() -> None:
    async def on_train_end(logs: Any) -> None: ...

    with pytest.raises(TypeError, match="not a coroutine object; pass the function itself"):
        LambdaCallback(on_train_end=on_train_end({}))
