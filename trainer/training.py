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
        validation_data: tuple[Any, ...] | None = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
        validation_batch_size: int | None = None,
        validation_freq: int = 1,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> History:
        """Train for ``epochs`` epochs, as Keras 3's ``fit``; returns the :class:`History`.

        Callbacks hear the Keras lifecycle (see DESIGN.md); ``bus`` (an application's bus) receives
        every event of the run too, each carrying ``run_id`` (by default ``"fit-<n>"``). Returns only
        when every queued callback has handled every event; a queued callback's error fails the call,
        naming the callback and the hook. Cancelling the awaiting task stops training before the next step.
        """
        batch_size = _positive_int("batch_size", 32 if batch_size is None else batch_size)
        _check_epochs(epochs, initial_epoch)
        validation_freq = _positive_int("validation_freq", validation_freq)
        if steps_per_epoch is not None:
            steps_per_epoch = _positive_int("steps_per_epoch", steps_per_epoch)
        verbosity = _verbosity(verbose)
        shuffle = _flag("shuffle", shuffle)
        validation_batch_size = _positive_int("validation_batch_size", validation_batch_size or batch_size)
        run_callbacks = _with_defaults(callbacks, verbosity, fitting=True)
        history = next(callback for callback in run_callbacks if isinstance(callback, History))
        train, validation = await anyio.to_thread.run_sync(
            partial(self._fit_data, x, y, sample_weight, class_weight, validation_split, validation_data)
        )
        train_batches = Batches(train, batch_size, shuffle=shuffle, steps_per_epoch=steps_per_epoch, seed=_shuffle_seed())
        validation_batches = None if validation is None else Batches(validation, validation_batch_size)
        params = {"verbose": verbosity, "epochs": epochs, "steps": train_batches.steps}
        async with open_run("fit", self, run_callbacks, params, bus, run_id) as run:
            loop = partial(
                fit_loop, self, run, train_batches, validation_batches,
                epochs=epochs, initial_epoch=initial_epoch, validation_freq=validation_freq,
                steps_per_execution=self.steps_per_execution,
            )  # fmt: skip
            await _compute(run, loop)
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
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on ``x``, ``y``, as Keras 3's ``evaluate``: a float when there are no
        metrics, else ``[loss, *metrics]`` in compile order, or the logs dict if ``return_dict``."""
        batch_size = _positive_int("batch_size", 32 if batch_size is None else batch_size)
        verbosity = _verbosity(verbose)
        run_callbacks = _with_defaults(callbacks, verbosity)
        data = await anyio.to_thread.run_sync(partial(self._validate_data, x, y, sample_weight))  # type: ignore[attr-defined]
        batches = Batches(data, batch_size)
        params = {"verbose": verbosity, "epochs": 1, "steps": batches.steps}
        async with open_run("evaluate", self, run_callbacks, params, bus, run_id) as run:
            loop = partial(evaluate_loop, self, run, batches, steps_per_execution=self.steps_per_execution)
            await _compute(run, loop)
        return self._results(return_dict)  # type: ignore[attr-defined,no-any-return]

    async def predict_async(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> np.ndarray:
        """The model's outputs for ``x``, batch by batch, as Keras 3's ``predict``."""
        batch_size = _positive_int("batch_size", 32 if batch_size is None else batch_size)
        verbosity = _verbosity(verbose)
        run_callbacks = _with_defaults(callbacks, verbosity)
        inputs = await anyio.to_thread.run_sync(self._validate_inputs, x)  # type: ignore[attr-defined]
        batches = Batches(Batch(inputs, None, None), batch_size)
        params = {"verbose": verbosity, "epochs": 1, "steps": batches.steps}
        async with open_run("predict", self, run_callbacks, params, bus, run_id) as run:
            loop = partial(predict_loop, self, run, batches, steps_per_execution=self.steps_per_execution)
            return await _compute(run, loop)

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple[Any, ...] | None = None,
        shuffle: bool = True,
        class_weight: dict[int, float] | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        steps_per_epoch: int | None = None,
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
                shuffle, class_weight, sample_weight, initial_epoch, steps_per_epoch, validation_batch_size,
                validation_freq, bus=bus, run_id=run_id,
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
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> float | list[float] | dict[str, float]:
        """:meth:`evaluate_async`, for code that is not running an event loop."""
        _refuse_inside_event_loop("evaluate")
        return anyio.run(
            partial(
                self.evaluate_async, x, y, batch_size, verbose, callbacks, return_dict, sample_weight, bus=bus, run_id=run_id
            )
        )

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        *,
        bus: EventBus | None = None,
        run_id: str | None = None,
    ) -> np.ndarray:
        """:meth:`predict_async`, for code that is not running an event loop."""
        _refuse_inside_event_loop("predict")
        return anyio.run(partial(self.predict_async, x, batch_size, verbose, callbacks, bus=bus, run_id=run_id))

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


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return value


def _check_epochs(epochs: object, initial_epoch: object) -> None:
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer; got {value!r}")
