"""TensorBoard: what it writes, read back with TensorBoard's own EventAccumulator; Keras's tests mirrored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import trainer
from trainer import Input, Sequential
from trainer.callbacks import Callback, LearningRateScheduler, TensorBoard
from trainer.callbacks.extras import require
from trainer.callbacks.scalar_logs import scalar_logs
from trainer.callbacks.subscriber import overridden_hooks
from trainer.callbacks.tensorboard import HISTOGRAM_BUCKETS
from trainer.jobs import JobManager, JobStatus
from trainer.layers import Dense, Flatten

from ..jobs.specs import spec_builder

pytestmark = pytest.mark.anyio

EVERYTHING = {"scalars": 0, "histograms": 0, "tensors": 0}  # size guidance: keep every value


class Summary(NamedTuple):
    """One time series, as Keras's tests name it: the run directory and the tag."""

    logdir: str
    tag: str


def accumulators(logdir: Path) -> dict[str, EventAccumulator]:
    """An EventAccumulator for each directory under ``logdir`` holding event files."""
    found = {}
    for dirpath, _, filenames in os.walk(logdir):
        if any(name.startswith("events.out.") for name in filenames):
            accumulator = EventAccumulator(dirpath, size_guidance=EVERYTHING)
            accumulator.Reload()
            found[dirpath] = accumulator
    return found


def summaries(logdir: Path, kind: str) -> set[Summary]:
    return {Summary(path, tag) for path, acc in accumulators(logdir).items() for tag in acc.Tags()[kind]}


def scalars(logdir: Path, tag: str) -> list[tuple[int, float]]:
    return [(event.step, event.value) for event in accumulators(logdir)[str(logdir)].Scalars(tag)]


def keras_model() -> Sequential:
    """The model of Keras's tests: Input((10, 10, 1)), Flatten, Dense(1); SGD and MSE."""
    trainer.set_random_seed(0)
    model = Sequential([Input((10, 10, 1)), Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    return model


def keras_data() -> tuple[np.ndarray, np.ndarray]:
    return np.ones((10, 10, 10, 1), dtype=np.float32), np.ones((10, 1), dtype=np.float32)


def dirs(tmp_path: Path) -> tuple[Path, str, str]:
    logdir = tmp_path / "tb"
    return logdir, str(logdir / "train"), str(logdir / "validation")


async def fit(model: Sequential, callbacks: list[Callback], validate: bool = True, **kwargs: Any) -> Any:
    x, y = keras_data()
    kwargs.setdefault("epochs", 2)
    validation = {"validation_data": (x, y)} if validate else {}
    return await model.fit_async(x, y, batch_size=2, verbose=0, callbacks=callbacks, **validation, **kwargs)


def epoch_scalars(train: str, validation: str) -> set[Summary]:
    return {
        Summary(train, "epoch_loss"),
        Summary(validation, "epoch_loss"),
        Summary(train, "epoch_learning_rate"),
        Summary(validation, "evaluation_loss_vs_iterations"),
    }


# -- Keras's tests (keras/src/callbacks/tensorboard_test.py), those about scalars, histograms, update_freq


async def test_basic(tmp_path: Path) -> None:
    logdir, train, validation = dirs(tmp_path)
    await fit(keras_model(), [TensorBoard(logdir)])
    assert summaries(logdir, "scalars") == epoch_scalars(train, validation)


async def test_across_invocations(tmp_path: Path) -> None:
    logdir, train, validation = dirs(tmp_path)
    model, callback = keras_model(), TensorBoard(logdir)
    for _ in (1, 2):
        await fit(model, [callback])
    assert summaries(logdir, "scalars") == epoch_scalars(train, validation)
    # Each fit has its own event files; TensorBoard reads both, so each epoch step comes twice.
    assert len(os.listdir(train)) == 2
    assert [step for step, _ in scalars(Path(train), "epoch_loss")] == [0, 1, 0, 1]


async def test_no_spurious_event_files(tmp_path: Path) -> None:
    logdir, train, _ = dirs(tmp_path)
    await fit(keras_model(), [TensorBoard(logdir)], validate=False)
    assert os.listdir(logdir) == ["train"]
    assert [name.startswith("events.out.") for name in os.listdir(train)] == [True]


async def test_batch_metrics(tmp_path: Path) -> None:
    logdir, train, validation = dirs(tmp_path)
    await fit(keras_model(), [TensorBoard(logdir, update_freq=1)])
    assert summaries(logdir, "scalars") == epoch_scalars(train, validation) | {Summary(train, "batch_loss")}


async def test_learning_rate_schedules(tmp_path: Path) -> None:
    # Keras's test uses a CosineDecay schedule; here schedules are callbacks, which log the rate they set.
    logdir, train, _ = dirs(tmp_path)
    schedule = LearningRateScheduler(lambda epoch: 0.01 / (epoch + 1))
    await fit(keras_model(), [schedule, TensorBoard(logdir)], validate=False)
    assert summaries(logdir, "scalars") == {Summary(train, "epoch_loss"), Summary(train, "epoch_learning_rate")}
    assert scalars(Path(train), "epoch_learning_rate") == [(0, pytest.approx(0.01)), (1, pytest.approx(0.005))]


async def test_global_step(tmp_path: Path) -> None:
    logdir, train, _ = dirs(tmp_path)
    await fit(keras_model(), [TensorBoard(logdir, update_freq=1, write_steps_per_second=True)], validate=False)
    assert summaries(logdir, "scalars") == {
        Summary(train, "batch_loss"),
        Summary(train, "epoch_loss"),
        Summary(train, "epoch_learning_rate"),
        Summary(train, "epoch_steps_per_second"),
        Summary(train, "batch_steps_per_second"),
    }
    # The batch step counts on across epochs: 5 batches an epoch, 1-based.
    assert [step for step, _ in scalars(Path(train), "batch_loss")] == list(range(1, 11))
    assert all(value > 0 for _, value in scalars(Path(train), "batch_steps_per_second"))


async def test_weight_histograms(tmp_path: Path) -> None:
    logdir, train, validation = dirs(tmp_path)
    model = keras_model()
    await fit(model, [TensorBoard(logdir, histogram_freq=1)])
    assert summaries(logdir, "scalars") == epoch_scalars(train, validation)
    histograms = summaries(logdir, "histograms")
    assert {Summary(s.logdir, s.tag.split("/")[-1]) for s in histograms} == {Summary(train, "histogram")}
    dense = model.layers[-1].name
    assert {s.tag for s in histograms} == {f"{dense}/kernel/histogram", f"{dense}/bias/histogram"}


# -- what each value is


async def test_epoch_scalars_are_the_history_s_values_at_steps_0_to_n(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    model = keras_model()
    history = await fit(model, [TensorBoard(logdir)], epochs=5)
    train, validation = logdir / "train", logdir / "validation"
    for name in ("loss", "val_loss"):
        run, tag = (validation, "epoch_loss") if name.startswith("val_") else (train, "epoch_loss")
        assert scalars(run, tag) == [(epoch, pytest.approx(value, rel=1e-6)) for epoch, value in enumerate(history.history[name])]
    # Each validation at the optimizer's iterations: 5 steps an epoch.
    assert scalars(validation, "evaluation_loss_vs_iterations") == [
        (5 * (epoch + 1), pytest.approx(value, rel=1e-6)) for epoch, value in enumerate(history.history["val_loss"])
    ]
    assert model.optimizer.iterations == 25  # type: ignore[union-attr]


async def test_histograms_at_every_histogram_freq_epochs_the_last_of_the_final_weights(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    model = keras_model()
    await fit(model, [TensorBoard(logdir, histogram_freq=2)], epochs=5, validate=False)
    accumulator = accumulators(logdir)[str(logdir / "train")]
    dense = model.layers[-1]
    kernel, bias = dense.weights
    for tag, weight in ((f"{dense.name}/kernel/histogram", kernel), (f"{dense.name}/bias/histogram", bias)):
        events = accumulator.Histograms(tag)
        assert [event.step for event in events] == [0, 2, 4]
        assert all(event.histogram_value.num == weight.size for event in events)
        # That many buckets at most, holding every value (tensorboardX trims empty ones at the ends,
        # then adds an empty one on the left, since TensorBoard reads only right-hand limits).
        assert all(len(event.histogram_value.bucket) <= HISTOGRAM_BUCKETS + 1 for event in events)
        assert all(sum(event.histogram_value.bucket) == weight.size for event in events)
        # Epoch 4 is the last: nothing trains after its end, so its histogram is of the final weights.
        last = events[-1].histogram_value
        assert (last.min, last.max) == (pytest.approx(float(weight.min())), pytest.approx(float(weight.max())))
        assert last.sum == pytest.approx(float(weight.sum()), rel=1e-5, abs=1e-6)


async def test_each_histogram_is_of_the_weights_as_its_epoch_left_them(tmp_path: Path) -> None:
    class RecordWeights(Callback):
        """After TensorBoard, in the same thread: the weights at each epoch's end."""

        delivery = "thread"

        def __init__(self) -> None:
            super().__init__()
            self.at_end: list[list[np.ndarray]] = []

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.at_end.append([np.array(weight) for weight in self.model.layers[-1].weights])

    logdir, recorder, model = tmp_path / "tb", RecordWeights(), keras_model()
    await fit(model, [TensorBoard(logdir, histogram_freq=1), recorder], epochs=4, validate=False)
    accumulator = accumulators(logdir)[str(logdir / "train")]
    dense = model.layers[-1].name
    for index, name in enumerate(("kernel", "bias")):
        events = accumulator.Histograms(f"{dense}/{name}/histogram")
        assert [event.step for event in events] == [0, 1, 2, 3]
        for event, weights in zip(events, recorder.at_end, strict=True):
            weight = weights[index]
            histogram = event.histogram_value
            assert (histogram.min, histogram.max) == (pytest.approx(float(weight.min())), pytest.approx(float(weight.max())))
            assert histogram.sum == pytest.approx(float(weight.sum()), rel=1e-5, abs=1e-6)
    # Training moved the weights between epochs: each histogram told its own epoch apart.
    assert len({float(weights[0].sum()) for weights in recorder.at_end}) == 4


async def test_an_epoch_is_on_disk_while_training_goes_on(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    seen: list[list[int]] = []

    class WaitForEpochs(Callback):
        """Holds epoch 2's start until TensorBoard's files show epochs 0 and 1 (or fails after 30 s)."""

        delivery = "inline"

        async def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if epoch != 2:
                return
            with anyio.fail_after(30):
                while True:
                    written = accumulators(logdir).get(str(logdir / "train"))
                    found = written is not None and "epoch_loss" in written.Tags()["scalars"]
                    steps = [event.step for event in written.Scalars("epoch_loss")] if found else []  # type: ignore[union-attr]
                    if steps == [0, 1]:
                        break
                    await anyio.sleep(0.05)
            seen.append(steps)

    await fit(keras_model(), [TensorBoard(logdir), WaitForEpochs()], epochs=3, validate=False)
    assert seen == [[0, 1]]
    assert [step for step, _ in scalars(logdir / "train", "epoch_loss")] == [0, 1, 2]


async def test_update_freq_writes_every_n_batches_the_running_means_then(tmp_path: Path) -> None:
    class RecordBatches(Callback):
        def __init__(self) -> None:
            super().__init__()
            self.losses: list[float] = []

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.losses.append(float((logs or {})["loss"]))

    logdir, recorder = tmp_path / "tb", RecordBatches()
    await fit(keras_model(), [recorder, TensorBoard(logdir, update_freq=3)], epochs=3, validate=False)
    # 15 batches in all (5 an epoch); batch n is written when n is a multiple of 3.
    assert scalars(logdir / "train", "batch_loss") == [(n, pytest.approx(recorder.losses[n - 1])) for n in (3, 6, 9, 12, 15)]


async def test_the_model_summary_is_text_at_step_0(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    model = keras_model()
    at_start = trainer.summary.format_summary(model)  # the optimizer is built by the first step, and counted then
    await fit(model, [TensorBoard(logdir)], validate=False)
    (event,) = accumulators(logdir)[str(logdir / "train")].Tensors("model_summary/text_summary")
    text = event.tensor_proto.string_val[0].decode()
    # Indented four spaces, so TensorBoard's Markdown keeps the table preformatted.
    assert text.splitlines() == ["    " + line for line in at_start.splitlines()]
    assert event.step == 0 and "Trainable params: 101" in text


async def test_without_write_graph_there_is_no_summary(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    await fit(keras_model(), [TensorBoard(logdir, write_graph=False)], validate=False)
    assert summaries(logdir, "tensors") == set()


async def test_a_standalone_evaluate_writes_its_metrics_at_the_optimizer_s_iterations(tmp_path: Path) -> None:
    logdir, model = tmp_path / "tb", keras_model()
    await fit(model, [], validate=False, epochs=3)
    x, y = keras_data()
    loss = await model.evaluate_async(x, y, batch_size=2, verbose=0, callbacks=[TensorBoard(logdir)], run_id="eval-1")
    assert os.listdir(logdir / "eval-1") == ["validation"]
    assert scalars(logdir / "eval-1" / "validation", "evaluation_loss_vs_iterations") == [(15, pytest.approx(loss))]


# -- runs, delivery, arguments


async def test_a_run_given_a_run_id_writes_under_it(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    await fit(keras_model(), [TensorBoard(logdir)], run_id="job-7")
    assert sorted(os.listdir(logdir)) == ["job-7"]
    assert sorted(os.listdir(logdir / "job-7")) == ["train", "validation"]


async def test_each_job_of_the_job_manager_is_its_own_run(tmp_path: Path) -> None:
    logdir = tmp_path / "tb"
    async with JobManager(workdir=tmp_path / "jobs") as jobs:
        submitted = [jobs.submit(spec_builder(epochs=2, callbacks=[TensorBoard(logdir)])) for _ in range(2)]
        assert [await job.wait() for job in submitted] == [JobStatus.COMPLETED] * 2
    assert sorted(os.listdir(logdir)) == sorted(job.id for job in submitted)
    for job in submitted:
        assert [step for step, _ in scalars(logdir / job.id / "train", "epoch_loss")] == [0, 1]


def test_it_runs_in_the_compute_thread_and_per_epoch_it_takes_no_batch_events() -> None:
    per_epoch, per_batch = TensorBoard("logs"), TensorBoard("logs", update_freq=50)
    assert per_epoch.delivery == per_batch.delivery == "thread"
    assert "on_train_batch_end" not in overridden_hooks(per_epoch)
    assert "on_train_batch_end" in overridden_hooks(per_batch)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"update_freq": 0}, "update_freq must be 'epoch', 'batch' or a positive integer"),
        ({"update_freq": "step"}, "update_freq must be 'epoch', 'batch' or a positive integer"),
        ({"histogram_freq": -1}, "histogram_freq must be a non-negative integer"),
        ({"profile_batch": 2}, "profile_batch is not supported"),
        ({"write_images": True}, "write_images is not supported"),
    ],
)
def test_bad_arguments_are_refused_naming_them(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TensorBoard("logs", **arguments)


def test_a_missing_optional_package_names_the_extra_to_install() -> None:
    with pytest.raises(ImportError, match=r"install the 'tensorboard' extra: pip install 'eventbus-trainer\[tensorboard\]'"):
        require("TensorBoard", "tensorboardX_not_installed_here", "tensorboard")


def test_the_loggers_take_the_real_numbers_of_the_logs_as_floats() -> None:
    logs = {"loss": np.float32(0.5), "step": 3, "rate": np.array(0.25), "flag": True, "name": "x", "outputs": np.ones(2)}
    assert scalar_logs(logs) == {"loss": 0.5, "step": 3.0, "rate": 0.25}
    assert all(type(value) is float for value in scalar_logs(logs).values())
