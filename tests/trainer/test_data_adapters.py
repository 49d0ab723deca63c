"""fit, evaluate and predict on generators, iterables, PyDatasets and async iterables, as Keras 3 takes them."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import numpy as np
import pytest

import trainer
from trainer import layers
from trainer.callbacks import Callback
from trainer.data_adapters import RAN_OUT

BATCH = 8
rng = np.random.default_rng(0)
X = rng.random((40, 3)).astype(np.float32)
Y = rng.random((40, 1)).astype(np.float32)


def model() -> trainer.Sequential:
    trainer.set_random_seed(0)
    built = trainer.Sequential([trainer.Input(shape=(3,)), layers.Dense(1)])
    built.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return built


def batches(count: int = 5, pulls: list[int] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A generator of ``count`` batches (cycling over the data); ``pulls`` records each one read."""
    for index in range(count):
        if pulls is not None:
            pulls.append(index)
        start = (index % 5) * BATCH
        yield X[start : start + BATCH], Y[start : start + BATCH]


async def async_batches(count: int = 5) -> AsyncIterator[tuple[np.ndarray, np.ndarray]]:
    for x, y in batches(count):
        await anyio.sleep(0)
        yield x, y


class Dataset:
    """Keras 3's PyDataset protocol: ``__len__`` batches, ``__getitem__``, and the epoch hooks."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.read: list[int] = []

    def __len__(self) -> int:
        return 5

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        self.read.append(index)
        return X[index * BATCH : (index + 1) * BATCH], Y[index * BATCH : (index + 1) * BATCH]

    def on_epoch_begin(self) -> None:
        self.calls.append("begin")

    def on_epoch_end(self) -> None:
        self.calls.append("end")


class Passes:
    """An iterable whose ``__iter__`` starts a new pass (of ``count`` batches) each time."""

    def __init__(self, count: int = 5) -> None:
        self.count = count
        self.passes = 0

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        self.passes += 1
        return batches(self.count)


class AsyncPasses:
    def __aiter__(self) -> AsyncIterator[tuple[np.ndarray, np.ndarray]]:
        return async_batches().__aiter__()


class Params(Callback):
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.seen = dict(self.params)


async def assert_same_training(history: Any, trained: trainer.Sequential, epochs: int = 2) -> None:
    """As the same batches from arrays, unshuffled: the same losses and weights, exactly."""
    reference = model()
    expected = await reference.fit_async(X, Y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0)
    assert history.history == expected.history
    for ours, theirs in zip(trained.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.anyio
@pytest.mark.parametrize("source", [batches, async_batches], ids=["generator", "async generator"])
async def test_a_generator_with_steps_per_epoch_trains_as_the_same_batches_from_arrays(source: Any) -> None:
    trained = model()
    params = Params()
    history = await trained.fit_async(source(10), steps_per_epoch=5, epochs=2, verbose=0, callbacks=[params])
    assert params.seen["steps"] == 5
    await assert_same_training(history, trained)


@pytest.mark.anyio
async def test_a_generator_without_steps_is_one_epoch_of_unknown_length_then_training_stops_with_keras_warning() -> None:
    trained = model()
    params = Params()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training.*after epoch 1 of 3"):
        history = await trained.fit_async(batches(), epochs=3, verbose=0, callbacks=[params])
    assert params.seen["steps"] is None
    assert history.epoch == [0]
    await assert_same_training(history, trained, epochs=1)


@pytest.mark.anyio
async def test_a_generator_ending_at_an_epoch_boundary_stops_there_and_is_never_read_past_what_training_needs() -> None:
    pulls: list[int] = []
    with pytest.warns(UserWarning, match=RAN_OUT[:40]):
        history = await model().fit_async(batches(6, pulls), steps_per_epoch=3, epochs=5, verbose=0)
    assert history.epoch == [0, 1]  # no empty epoch: the end was seen before epoch 2 began
    pulls.clear()
    history = await model().fit_async(batches(100, pulls), steps_per_epoch=3, epochs=2, verbose=0)
    assert history.epoch == [0, 1]
    assert pulls == [0, 1, 2, 3, 4, 5]  # not a seventh batch, lost to its owner


@pytest.mark.anyio
async def test_a_generator_running_out_mid_epoch_ends_that_epoch_early() -> None:
    with pytest.warns(UserWarning, match="after epoch 2 of 4"):
        history = await model().fit_async(batches(5), steps_per_epoch=3, epochs=4, verbose=0)
    assert history.epoch == [0, 1]


@pytest.mark.anyio
async def test_an_iterable_starts_a_new_pass_each_epoch() -> None:
    source = Passes()
    trained = model()
    history = await trained.fit_async(source, epochs=2, verbose=0)
    assert source.passes == 2
    await assert_same_training(history, trained)


@pytest.mark.anyio
async def test_steps_per_epoch_spreads_an_iterable_s_pass_over_epochs_as_for_arrays() -> None:
    # 5 batches a pass, 3 an epoch: epochs of 3, 2 (the pass ends), 3, 2, as arrays are served.
    counts: list[int] = []

    class Count(Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            counts.append(0)

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            counts[-1] += 1

    await model().fit_async(Passes(), steps_per_epoch=3, epochs=4, verbose=0, callbacks=[Count()])
    from_sources = list(counts)
    counts.clear()
    await model().fit_async(X, Y, batch_size=BATCH, steps_per_epoch=3, epochs=4, verbose=0, callbacks=[Count()])
    assert from_sources == counts == [3, 2, 3, 2]


@pytest.mark.anyio
async def test_a_py_dataset_gives_its_length_as_steps_calls_its_epoch_hooks_and_shuffles_each_pass() -> None:
    dataset = Dataset()
    trained = model()
    params = Params()
    history = await trained.fit_async(dataset, epochs=2, shuffle=False, verbose=0, callbacks=[params])
    assert params.seen["steps"] == 5
    assert dataset.calls == ["begin", "end", "begin", "end"]
    assert dataset.read == [0, 1, 2, 3, 4] * 2
    await assert_same_training(history, trained)
    shuffled = Dataset()
    trainer.set_random_seed(1)
    await model().fit_async(shuffled, epochs=2, verbose=0)  # shuffle=True, Keras's default: the batch order
    first, second = shuffled.read[:5], shuffled.read[5:]
    assert sorted(first) == sorted(second) == [0, 1, 2, 3, 4]
    assert first != [0, 1, 2, 3, 4] or second != [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_validation_data_may_be_a_source_with_validation_steps() -> None:
    trained = model()
    history = await trained.fit_async(Dataset(), epochs=2, shuffle=False, verbose=0, validation_data=batches(100), validation_steps=2)
    reference = model()
    expected = await reference.fit_async(
        X, Y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, validation_data=(X, Y), validation_steps=2
    )
    # As Keras: each validation takes 2 batches and the next goes on from there (batches 0-1, then 2-3).
    assert history.history["val_loss"] == expected.history["val_loss"]
    first_two = await trained.evaluate_async(X[: 2 * BATCH], Y[: 2 * BATCH], verbose=0)
    assert history.history["val_loss"][1] != first_two


@pytest.mark.anyio
async def test_a_one_shot_validation_source_used_up_is_a_clear_error_at_the_next_validation() -> None:
    with pytest.raises(ValueError, match="validation_data, a generator, has no batches left.*validation_steps"):
        await model().fit_async(Dataset(), epochs=2, verbose=0, validation_data=batches())


@pytest.mark.anyio
async def test_evaluate_and_predict_take_sources_and_steps() -> None:
    trained = model()
    await trained.fit_async(X, Y, batch_size=BATCH, verbose=0)
    expected = await trained.evaluate_async(X[:16], Y[:16], batch_size=BATCH, verbose=0)
    assert await trained.evaluate_async(batches(), steps=2, verbose=0) == expected
    assert await trained.evaluate_async(X, Y, batch_size=BATCH, steps=2, verbose=0) == expected
    assert await trained.evaluate_async(Dataset(), verbose=0) == await trained.evaluate_async(X, Y, batch_size=BATCH, verbose=0)
    outputs = await trained.predict_async(X, verbose=0)
    np.testing.assert_array_equal(await trained.predict_async(batches(), steps=2, verbose=0), outputs[:16])
    np.testing.assert_array_equal(await trained.predict_async((x for x, _ in batches()), verbose=0), outputs)
    np.testing.assert_array_equal(await trained.predict_async(X, batch_size=BATCH, steps=3, verbose=0), outputs[:24])


def test_the_sync_faces_take_sources_and_show_an_unknown_length_in_the_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    trained = model()
    history = trained.fit(batches(), epochs=1)
    assert "5/5" in capsys.readouterr().out
    assert history.epoch == [0]
    assert trained.evaluate(Dataset(), verbose=2) == trained.evaluate(X, Y, batch_size=BATCH, verbose=0)
    assert trained.predict(batches(), steps=1, verbose=0).shape == (BATCH, 1)


@pytest.mark.anyio
async def test_fit_async_takes_an_async_iterable_and_evaluate_and_predict_async_too() -> None:
    again = model()
    await assert_same_training(await again.fit_async(AsyncPasses(), epochs=2, verbose=0), again)
    with pytest.warns(UserWarning, match="x, an async iterable, has no batches left after epoch 1 of 2"):
        assert (await model().fit_async(async_batches(), epochs=2, verbose=0)).epoch == [0]
    outputs = await again.predict_async(X, verbose=0)
    np.testing.assert_array_equal(await again.predict_async(async_batches(), verbose=0), outputs)
    assert await again.evaluate_async(AsyncPasses(), verbose=0) == await again.evaluate_async(X, Y, batch_size=BATCH, verbose=0)


@pytest.mark.anyio
async def test_loading_a_batch_never_holds_the_event_loop() -> None:
    # Each batch can only be loaded once a task on the event loop has run: if loading held the
    # loop, the first batch would never come.
    ticks: list[threading.Event] = [threading.Event() for _ in range(5)]

    def waits_for_the_loop() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for index, (x, y) in enumerate(batches()):
            assert ticks[index].wait(timeout=30), "the event loop never ran while the batch loaded"
            yield x, y

    async def tick() -> None:
        for event in ticks:
            await anyio.sleep(0.001)
            event.set()

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(tick)
        history = await model().fit_async(waits_for_the_loop(), epochs=1, verbose=0)
    assert history.epoch == [0]


@pytest.mark.anyio
@pytest.mark.parametrize("asynchronous", [False, True], ids=["generator", "async generator"])
async def test_the_next_batch_loads_while_the_model_works_on_the_one_before(asynchronous: bool) -> None:
    # Batch 0's begin hook waits until the load of batch 1 has started: without the overlap, that
    # load would only start after batch 0's step, and the hook would wait in vain.
    loading = [threading.Event() for _ in range(5)]

    def sync_source() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for index, batch in enumerate(batches()):
            loading[index].set()
            yield batch

    async def async_source() -> AsyncIterator[tuple[np.ndarray, np.ndarray]]:
        for index, batch in enumerate(batches()):
            loading[index].set()
            yield batch

    class WaitForTheNextLoad(Callback):
        delivery = "inline"

        async def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            with anyio.fail_after(30):
                while batch + 1 < len(loading) and not loading[batch + 1].is_set():
                    await anyio.sleep(0.001)

    source = async_source() if asynchronous else sync_source()
    history = await model().fit_async(source, epochs=1, verbose=0, callbacks=[WaitForTheNextLoad()])
    assert history.epoch == [0]


@pytest.mark.anyio
async def test_an_error_in_the_source_fails_the_fit_as_it_is() -> None:
    def broken() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        yield X[:BATCH], Y[:BATCH]
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="the disk went away"):
        await model().fit_async(broken(), epochs=1, verbose=0)


@pytest.mark.anyio
async def test_cancelling_fit_async_stops_a_source_that_never_ends() -> None:
    async def endless() -> AsyncIterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            for batch in batches():
                await anyio.sleep(0)
                yield batch

    seen: list[int] = []

    class Count(Callback):
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            seen.append(batch)

    with anyio.move_on_after(0.3):
        await model().fit_async(endless(), epochs=1, verbose=0, callbacks=[Count()])
    assert seen  # it trained, then stopped when cancelled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": Y}, "`y` argument is not supported when x is a generator: its batches hold the targets"),
        ({"sample_weight": np.ones(40)}, "`sample_weight` argument is not supported"),
        ({"class_weight": {0: 1.0}}, "`class_weight` argument is not supported"),
        ({"batch_size": 8}, "`batch_size` argument is not supported when x is a generator: it makes its own batches"),
        ({"validation_split": 0.2}, "validation_split is only supported for arrays"),
    ],
)
def test_arguments_that_a_source_makes_meaningless_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model().fit(batches(), verbose=0, **kwargs)


def test_a_batch_that_is_not_x_y_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"x must give batches \(x, y\) or \(x, y, sample_weight\); got a ndarray"):
        model().fit((x for x, _ in batches()), verbose=0)


def test_an_empty_source_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="x, a generator, gave no batches"):
        model().fit(batches(0), verbose=0)


@pytest.mark.parametrize("name", ["steps_per_epoch", "validation_steps"])
def test_steps_must_be_positive_integers(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        model().fit(X, Y, verbose=0, **{name: 0})


@pytest.mark.anyio
async def test_a_run_resumed_from_a_backup_is_served_a_py_dataset_s_batches_as_one_never_stopped(tmp_path: Any) -> None:
    from trainer.callbacks import BackupAndRestore

    class CrashAtEpoch(Callback):
        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if epoch == 3:
                raise RuntimeError("crash")

    # 5 batches a pass, 3 an epoch, shuffled: epochs of 3, 2 (the pass ends), 3, then epoch 3 takes
    # the last 2 batches of the second pass, in that pass's shuffled order.
    reference = model()
    read = Dataset()
    await reference.fit_async(read, steps_per_epoch=3, epochs=4, verbose=0)
    with pytest.raises(RuntimeError, match="crash"):
        await model().fit_async(Dataset(), steps_per_epoch=3, epochs=4, verbose=0, callbacks=[BackupAndRestore(tmp_path), CrashAtEpoch()])
    resumed = model()
    served = Dataset()
    history = await resumed.fit_async(served, steps_per_epoch=3, epochs=4, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert history.epoch == [3]
    assert served.read == read.read[8:]
    for ours, theirs in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
