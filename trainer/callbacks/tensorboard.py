"""TensorBoard: event files for TensorBoard's scalars, histograms and text, written by tensorboardX's writer thread."""

from __future__ import annotations

import itertools
import os
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.summary import format_summary

from . import arguments
from .callback import Callback
from .extras import require
from .run_names import given_run_id
from .scalar_logs import scalar_logs
from .subscriber import current_event

if TYPE_CHECKING:
    from trainer.layers.layer import Layer

__all__ = ["FLUSH_SECONDS", "HISTOGRAM_BUCKETS", "MAX_QUEUE", "TensorBoard"]

HISTOGRAM_BUCKETS = 30
"""Buckets per weight histogram: ``tf.summary.histogram``'s default, which Keras's TensorBoard uses."""

MAX_QUEUE = 1000
"""Summaries queued for the writer's thread, at most, per run directory."""

FLUSH_SECONDS = 1
"""The writer's thread flushes what it has written at most this long after writing it, so
TensorBoard shows each epoch about as it ends."""

# Several writers may open a directory within one second (two fits, say): their files must not share a name.
_writer_numbers = itertools.count(1)


class TensorBoard(Callback):
    """Writes event files for TensorBoard under ``log_dir``, as Keras 3's ``TensorBoard`` lays them out:

    * ``train/``: ``epoch_<metric>`` at each epoch's end (step: the epoch, 0-based), with
      ``epoch_learning_rate`` (the ``learning_rate`` of the epoch's logs when a callback put it
      there, else the optimizer's) and, with ``write_steps_per_second``, ``epoch_steps_per_second``;
      ``batch_<metric>`` (the running means of the logs) every ``update_freq`` training batches
      (step: the batch's number since training began, 1-based), with ``batch_steps_per_second``;
      ``<layer>/<weight>/histogram`` for every weight at epochs ``0, histogram_freq, 2 *
      histogram_freq, ...``; and, with ``write_graph``, the model's summary as text (``model_summary``)
      as it was when the fit started, at step 0 (this engine has no graph for TensorBoard's Graphs tab).
    * ``validation/``: ``epoch_<metric>`` for the ``val_`` metrics (prefix dropped) of each epoch
      that validated, and ``evaluation_<metric>_vs_iterations`` at each validation's end (step: the
      optimizer's iterations). It is created only if something validates.

    A run given a ``run_id`` (``fit_async(run_id=...)``: the job manager gives each job's id) writes
    under ``log_dir/<run_id>/``, so each service job is its own run in TensorBoard. ``update_freq`` is
    ``"epoch"`` (no batch scalars, and no batch hook: batches cost nothing), ``"batch"`` (every
    batch) or a positive integer; batch scalars are written when the batch count reaches a multiple
    of it (Keras 3 writes every batch whatever the integer).

    Its hooks run where the event happens, in the compute thread (``delivery = "thread"``), as Keras
    calls its callbacks, so a batch costs a count, and an epoch's scalars and histograms describe
    the model exactly as the epoch left it. A hook only builds the summaries and queues them (at
    most :data:`MAX_QUEUE` wait; past that, a hook waits for the disk): the file writes, and the
    flushes (at most :data:`FLUSH_SECONDS` after each write), run in the thread of tensorboardX's
    writer, never on the training path. The files are opened when training (or a standalone
    evaluation) begins and closed, everything written, before its end is passed on to the callbacks
    after this one. Event files are written by ``tensorboardX`` (the ``tensorboard`` extra).
    """

    delivery = "thread"

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: object = None,
    ) -> None:
        super().__init__()
        owner = "TensorBoard"
        self._writer_class: Any = require(owner, "tensorboardX", "tensorboard").SummaryWriter
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = arguments.count(owner, "histogram_freq", histogram_freq)
        self.write_graph = arguments.flag(owner, "write_graph", write_graph)
        self.write_steps_per_second = arguments.flag(owner, "write_steps_per_second", write_steps_per_second)
        unsupported = {"write_images": write_images, "profile_batch": profile_batch, "embeddings_freq": embeddings_freq}
        for name, value in [*unsupported.items(), ("embeddings_metadata", embeddings_metadata)]:
            if value:
                raise ValueError(f"TensorBoard: {name} is not supported by this engine; leave it at its default (got {value!r})")
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer; got {update_freq!r}")
        self.update_freq = update_freq
        if update_freq == "epoch":
            # Shadowing the hook with the base class's no-op keeps it off the bus: batches never wait for it.
            self.on_train_batch_end = types.MethodType(Callback.on_train_batch_end, self)  # type: ignore[method-assign]
        self._writers: dict[str, Any] = {}
        self._run_dir = self.log_dir
        self._fitting = False
        self._start_iterations = 0
        self._steps = 0
        self._epochs_begun = 0
        self._global_batch = 0
        self._epoch_first_batch = 0
        self._epoch_began = 0.0
        self._last_written: tuple[int, float] = (0, 0.0)
        self._summary = ""

    def set_params(self, params: dict[str, Any]) -> None:
        # On the event loop, before the run's compute starts: the optimizer's count is that of the run's start.
        super().set_params(params)
        optimizer = getattr(self.model, "optimizer", None)
        self._start_iterations = int(getattr(optimizer, "iterations", 0))
        self._steps = int(params.get("steps") or 0)
        self._epochs_begun = 0
        # Taken here, before the first step builds the optimizer: the model as the run starts.
        self._summary = format_summary(self.model) if self.write_graph else ""

    # -- the hooks (in the compute thread; the writer's own thread writes the files) -------------

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._fitting = True
        self._open_run()
        self._global_batch = 0
        if self.write_graph:
            # Indented: TensorBoard renders text as Markdown, and the table must stay preformatted.
            text = "\n".join("    " + line for line in self._summary.splitlines())
            self._writer("train").add_text("model_summary", text, 0)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epochs_begun += 1
        self._epoch_first_batch = self._global_batch
        self._epoch_began = self._event_time()
        self._last_written = (self._global_batch, self._epoch_began)

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        assert isinstance(self.update_freq, int)
        before, self._global_batch = self._global_batch, self._epoch_first_batch + batch + 1
        if self._global_batch // self.update_freq == before // self.update_freq:
            return
        step, scalars = self._global_batch, scalar_logs(logs or {})
        if self.write_steps_per_second:
            written_batch, written_at = self._last_written
            now = self._event_time()
            self._last_written = (step, now)
            if now > written_at:
                scalars["steps_per_second"] = (step - written_batch) / (now - written_at)
        self._write_scalars("train", "batch_", scalars, step)

    def _write_scalars(self, run: str, prefix: str, scalars: Mapping[str, float], step: int) -> None:
        writer = self._writer(run)
        for name, value in scalars.items():
            writer.add_scalar(prefix + name, value, step)

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        if not self._fitting:
            self._open_run()  # a standalone evaluate is a run of its own

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        iterations = self._start_iterations + self._epochs_begun * self._steps
        scalars = {f"{name}_vs_iterations": value for name, value in scalar_logs(logs or {}).items()}
        self._write_scalars("validation", "evaluation_", scalars, iterations)
        if not self._fitting:
            self._close_writers()  # a standalone evaluate: nothing else comes

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        scalars = scalar_logs(logs or {})
        train = {name: value for name, value in scalars.items() if not name.startswith("val_")}
        validation = {name[4:]: value for name, value in scalars.items() if name.startswith("val_")}
        if "learning_rate" not in train and getattr(self.model, "optimizer", None) is not None:
            train["learning_rate"] = float(self.model.optimizer.learning_rate)  # type: ignore[union-attr]
        if self.write_steps_per_second:
            # Batches are counted only when the batch hook is subscribed; else an epoch has `steps` of them.
            steps = self._global_batch - self._epoch_first_batch if self.update_freq != "epoch" else self._steps
            elapsed = self._event_time() - self._epoch_began
            if elapsed > 0:
                train["steps_per_second"] = steps / elapsed
        for run, values in (("train", train), ("validation", validation)):
            if values:
                self._write_scalars(run, "epoch_", values, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for tag, weight in _named_weights(self.model.layers):
                writer.add_histogram(tag + "/histogram", weight, epoch, bins=HISTOGRAM_BUCKETS)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._fitting = False
        self._close_writers()

    # -- writers -------------------------------------------------------------------------------

    def _open_run(self) -> None:
        event = current_event()
        run = None if event is None else given_run_id(event.run)
        self._run_dir = self.log_dir if run is None else os.path.join(self.log_dir, run)
        self._close_writers()

    def _writer(self, run: str) -> Any:
        """The writer of ``train`` or ``validation``, opened at first use, so a run that never
        validates has no ``validation`` directory."""
        writer = self._writers.get(run)
        if writer is None:
            suffix = f".{os.getpid()}.{next(_writer_numbers)}"
            path = os.path.join(self._run_dir, run)
            writer = self._writers[run] = self._writer_class(
                path, max_queue=MAX_QUEUE, flush_secs=FLUSH_SECONDS, filename_suffix=suffix
            )
        return writer

    def _close_writers(self) -> None:
        writers, self._writers = self._writers, {}
        for writer in writers.values():
            writer.close()

    def _event_time(self) -> float:
        """When the event being handled happened (monotonic seconds)."""
        event = current_event()
        assert event is not None, "called from a hook"
        return event.time


def _named_weights(layers: list[Layer]) -> list[tuple[str, np.ndarray]]:
    """``(<layer>/<weight>, the weight)`` for every weight, named by the layer attribute that holds it
    (``kernel``, ``bias``, ``gamma``...), else by its index."""
    named = []
    for layer in layers:
        attributes = {id(value): name for name, value in vars(layer).items() if isinstance(value, np.ndarray)}
        for index, weight in enumerate(layer.weights):
            name = attributes.get(id(weight), f"weight_{index}").lstrip("_")
            named.append((f"{layer.name}/{name}", weight))
    return named
