"""``fit``, ``evaluate`` and ``predict``: an async core, and sync faces for scripts.

The async methods set up the run's callbacks on an event bus, then run the loop in a worker
thread, so the event loop stays free while the model computes. The sync methods run the async
ones in an event loop of their own, and refuse to be called from inside a running one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import numpy as np

from eventbus import EventBus

from .batching import Batches, split_for_validation
from .callbacks.callback import Callback
from .callbacks.history import History
from .callbacks.progbar_logger import ProgbarLogger
from .data_adapters import SourceBatches, check_source_arguments, is_batch_source, prediction_batch, run_with_sources, training_batch
from .loops import evaluate_loop, fit_loop, predict_loop
from .random import make_generator
from .run import Run, open_run
from .validation import Batch

__all__ = ["Trainer"]

T = TypeVar("T")


class Trainer:
    """The training, evaluation and prediction loops of a model (mixed into :class:`Sequential`)."""

    steps_per_execution: int = 1
    _initial_epoch: int | None = None  # set by a callback restoring a backup in on_train_begin
    history: History  # set by the History callback after each epoch of fit

    async def fit_async(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> History:
        """Train for ``epochs`` epochs, as Keras 3's ``fit``; returns the :class:`History`.

        ``x`` (and ``validation_data``) may be arrays or a source of batches: a generator, an
        iterable, a ``PyDataset``, an async iterable (see :mod:`trainer.data_adapters`).

        Callbacks hear the Keras lifecycle (see DESIGN.md); ``bus`` (an application's bus) receives
        every event of the run too, each carrying ``run_id`` (by default ``"fit-<n>"``). Returns only
        when every queued callback has handled every event; a queued callback's error fails the call,
        naming the callback and the hook. Cancelling the awaiting task stops training before the next step.
        """
        _check_epochs(epochs, initial_epoch)
        validation_freq = _positive_int("validation_freq", validation_freq)
        steps_per_epoch = _optional_positive_int("steps_per_epoch", steps_per_epoch)
        validation_steps = _optional_positive_int("validation_steps", validation_steps)
        verbosity = _verbosity(verbose)
        shuffle = _flag("shuffle", shuffle)
        run_callbacks = _with_defaults(callbacks, verbosity, fitting=True)
        history = next(callback for callback in run_callbacks if isinstance(callback, History))
        train_batches: Batches | SourceBatches
        validation_batches: Batches | SourceBatches | None = None
        validation_source = is_batch_source(validation_data)
        if is_batch_source(x):
            check_source_arguments("x", x, y=y, sample_weight=sample_weight, class_weight=class_weight,
                                   batch_size=batch_size, validation_split=validation_split)  # fmt: skip
            train_batches = SourceBatches(
                x, "fit", training_batch(self, "x"), steps_per_epoch=steps_per_epoch, shuffle=shuffle,
                seed=_shuffle_seed(), epochs=epochs, model=self,
            )  # fmt: skip
        else:
            batch_size = _positive_int("batch_size", 32 if batch_size is None else batch_size)
            train, validation = await anyio.to_thread.run_sync(
                partial(self._fit_data, x, y, sample_weight, class_weight, validation_split,
                        None if validation_source else validation_data)
            )  # fmt: skip
            train_batches = Batches(train, batch_size, shuffle=shuffle, steps_per_epoch=steps_per_epoch, seed=_shuffle_seed())
            if validation is not None:
                size = _positive_int("validation_batch_size", validation_batch_size or batch_size)
                validation_batches = Batches(validation, size, steps_per_epoch=validation_steps)
        if validation_source:
            check_source_arguments("validation_data", validation_data, validation_batch_size=validation_batch_size)
            convert = training_batch(self, "validation_data")
            validation_batches = SourceBatches(validation_data, "evaluate", convert, what="validation_data", steps_per_epoch=validation_steps)
        params = {"verbose": verbosity, "epochs": epochs, "steps": train_batches.steps}
        async with open_run("fit", self, run_callbacks, params, bus, run_id) as run:
            loop = partial(
                fit_loop, self, run, train_batches, validation_batches,
                epochs=epochs, initial_epoch=initial_epoch, validation_freq=validation_freq,
                steps_per_execution=self.steps_per_execution,
            )  # fmt: skip
            await run_with_sources((train_batches, validation_batches), partial(_compute, run, loop))
        return history

    async def evaluate_async(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        return_dict: bool = False,
        sample_weight: Any = None,
        steps: int | None = None,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on ``x``, ``y``, as Keras 3's ``evaluate``: a float when there are no
        metrics, else ``[loss, *metrics]`` in compile order, or the logs dict if ``return_dict``.
        ``x`` may be a source of batches (:mod:`trainer.data_adapters`); ``steps`` limits the batches."""
        steps = _optional_positive_int("steps", steps)
        verbosity = _verbosity(verbose)
        run_callbacks = _with_defaults(callbacks, verbosity)
        batches: Batches | SourceBatches
        if is_batch_source(x):
            check_source_arguments("x", x, y=y, sample_weight=sample_weight, batch_size=batch_size)
            batches = SourceBatches(x, "evaluate", training_batch(self, "x"), steps_per_epoch=steps)
        else:
            batch_size = _positive_int("batch_size", 32 if batch_size is None else batch_size)
            data = await anyio.to_thread.run_sync(partial(self._validate_data, x, y, sample_weight))  # type: ignore[attr-defined]
            batches = Batches(data, batch_size, steps_per_epoch=steps)
        params = {"verbose": verbosity, "epochs": 1, "steps": batches.steps}
        async with open_run("evaluate", self, run_callbacks, params, bus, run_id) as run:
            loop = partial(evaluate_loop, self, run, batches, steps_per_execution=self.steps_per_execution)
            await run_with_sources((batches,), partial(_compute, run, loop))
        return self._results(return_dict)  # type: ignore[attr-defined,no-any-return]

    async def predict_async(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> np.ndarray:
        """The model's outputs for ``x``, batch by batch, as Keras 3's ``predict``. ``x`` may be a
        source of batches (:mod:`trainer.data_adapters`); ``steps`` limits the batches."""
        steps = _optional_positive_int("steps", steps)
        verbosity = _verbosity(verbose)
        run_callbacks = _with_defaults(callbacks, verbosity)
        batches: Batches | SourceBatches
        if is_batch_source(x):
            check_source_arguments("x", x, batch_size=batch_size)
            batches = SourceBatches(x, "predict", prediction_batch(self), steps_per_epoch=steps)
        else:
            batch_size = _positive_int("batch_size", 32 if batch_size is None else batch_size)
            inputs = await anyio.to_thread.run_sync(self._validate_inputs, x)  # type: ignore[attr-defined]
            batches = Batches(Batch(inputs, None, None), batch_size, steps_per_epoch=steps)
        params = {"verbose": verbosity, "epochs": 1, "steps": batches.steps}
        async with open_run("predict", self, run_callbacks, params, bus, run_id) as run:
            loop = partial(predict_loop, self, run, batches, steps_per_execution=self.steps_per_execution)
            return await run_with_sources((batches,), partial(_compute, run, loop))

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: Any = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_steps: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> History:
        """:meth:`fit_async`, for code that is not running an event loop."""
        _refuse_inside_event_loop("fit")
        return anyio.run(
            partial(
                self.fit_async, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
                shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                validation_batch_size, validation_freq, bus=bus, run_id=run_id,
            )  # fmt: skip
        )

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        return_dict: bool = False,
        sample_weight: Any = None,
        steps: int | None = None,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> float | list[float] | dict[str, float]:
        """:meth:`evaluate_async`, for code that is not running an event loop."""
        _refuse_inside_event_loop("evaluate")
        return anyio.run(
            partial(
                self.evaluate_async, x, y, batch_size, verbose, callbacks, return_dict, sample_weight, steps,
                bus=bus, run_id=run_id,
            )  # fmt: skip
        )

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        steps: int | None = None,
        callbacks: Sequence[Callback] | None = None,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> np.ndarray:
        """:meth:`predict_async`, for code that is not running an event loop."""
        _refuse_inside_event_loop("predict")
        return anyio.run(partial(self.predict_async, x, batch_size, verbose, steps, callbacks, bus=bus, run_id=run_id))

    def _fit_data(
        self,
        x: Any,
        y: Any,
        sample_weight: Any,
        class_weight: dict[int, float] | None,
        validation_split: float,
        validation_data: tuple[Any, ...] | None,
    ) -> tuple[Batch, Batch | None]:
        """Validated training data, and validation data from ``validation_data`` or the split."""
        data = self._validate_data(x, y, sample_weight, class_weight)  # type: ignore[attr-defined]
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight); "
                    f"got {type(validation_data).__name__}"
                    + (f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else "")
                )
            return data, self._validate_data(*validation_data)  # type: ignore[attr-defined]
        if validation_split:
            return split_for_validation(data, validation_split)
        return data, None


def _with_defaults(callbacks: Sequence[Callback] | None, verbosity: int, *, fitting: bool = False) -> list[Callback]:
    """The user's callbacks, then (for ``fit``) a History and (if verbose) a progress bar, as Keras
    orders them; like Keras, a History or ProgbarLogger the user passed is used instead of a new one."""
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback instances; got {type(callbacks).__name__}")
    for callback in callbacks or []:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks must be trainer.Callback instances; got {type(callback).__name__} {callback!r}"
                + (" (a class: did you forget to call it?)" if isinstance(callback, type) else "")
            )
    given = list(callbacks or [])
    if fitting and not any(isinstance(callback, History) for callback in given):
        given.append(History())
    if verbosity and not any(isinstance(callback, ProgbarLogger) for callback in given):
        given.append(ProgbarLogger())
    return given


async def _compute(run: Run, loop: Callable[[], T]) -> T:
    """Run a loop in a worker thread of its own: it must never wait for a thread slot that the
    callbacks it is waiting for hold (anyio's default limit is shared by the whole application)."""
    return await anyio.to_thread.run_sync(partial(run.compute, loop), limiter=anyio.CapacityLimiter(1))


def _shuffle_seed() -> int:
    """Drawn from the global generator, so ``set_random_seed`` makes the batch order reproducible."""
    return int(make_generator(None).integers(2**63))


def _refuse_inside_event_loop(method: str) -> None:
    try:
        anyio.lowlevel.current_token()
    except anyio.NoEventLoopError:
        return
    raise RuntimeError(
        f"model.{method}() was called from a running event loop, which it would block for the whole run; "
        f"use 'await model.{method}_async(...)' there instead"
    )


def _verbosity(verbose: object) -> int:
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2) and not isinstance(verbose, bool):
        return int(verbose)
    raise ValueError(f"verbose must be 'auto', 0, 1 or 2; got {verbose!r}")


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _optional_positive_int(name: str, value: object) -> int | None:
    return None if value is None else _positive_int(name, value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value


def _check_epochs(epochs: object, initial_epoch: object) -> None:
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
