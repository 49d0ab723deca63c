"""The base class of callbacks, which is also the ``Callback(...)`` class factory."""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from eventbus import DEFAULT_MAXSIZE, Overflow, noop_hook
from eventbus.handlers import is_async_handler, is_noop_hook

if TYPE_CHECKING:
    from trainer.model import Sequential

__all__ = ["ALIASES", "HOOKS", "Callback", "Delivery"]

Delivery = Literal["auto", "inline", "queued", "thread"]

HOOKS: tuple[str, ...] = (
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_begin",
    "on_train_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)
"""The 14 hook methods, in the order of Keras's documentation."""

ALIASES: Mapping[str, str] = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}
"""Keras's backwards-compatible names: ``on_batch_begin``/``on_batch_end`` are called by the default
``on_train_batch_begin``/``on_train_batch_end``, so overriding either hears the training batches."""


class Callback:
    """Hooks into ``fit``, ``evaluate`` and ``predict``: override the ``on_*`` methods you need.

    Hook methods may be ``def`` or ``async def``. Each callback subscribes to the run's event bus:

    * ``delivery = "auto"`` (the default): *inline* if every overridden hook is ``def`` (called in
      order, before training goes on, with the live ``logs``: Keras's semantics), *queued* if any is
      ``async def`` (runs concurrently with training, in order, on a read-only copy of ``logs``).
    * ``delivery = "inline"`` or ``"queued"`` chooses explicitly; a queued callback's queue holds
      ``queue_size`` events and ``queue_overflow`` says what happens when it is full.
    * ``delivery = "thread"``: inline, its ``def`` hooks called in the compute thread itself, where
      the event happens, as Keras calls callbacks: nearly free. For hooks that touch nothing of the
      event loop's (no anyio or asyncio objects, no ``publish_nowait``); see the README.
    * ``batch_interval`` (seconds, default 0): a ``"thread"`` callback that only samples batches (a
      progress display) may set it. When every callback that takes a batch event sets one, the run
      makes that event only for a batch at least the shortest of them after the last it made (the
      first batch included): the batches between cost nothing, not even their logs.

    An inline hook may return a mapping, which is merged into ``logs`` for the callbacks after it.
    Hooks you do not override cost nothing: they are never subscribed.

    Called with a class name, ``Callback("MarkFinished", on_train_end=fn, ...)`` makes a new
    callback class instead (the R keras3 ``Callback()`` factory); see :func:`make_callback_class`.
    """

    delivery: ClassVar[Delivery] = "auto"
    queue_size: ClassVar[int] = DEFAULT_MAXSIZE
    queue_overflow: ClassVar[Overflow] = "block"
    batch_interval: float = 0.0
    _private_template: ClassVar[Mapping[str, Any]] = {}
    private: types.SimpleNamespace
    """A factory class's ``private=`` members, this instance's own copy; set only when it has some."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Callback and args and isinstance(args[0], str):
            from .factory import make_callback_class

            return make_callback_class(*args, **kwargs)
        instance = super().__new__(cls)
        if cls._private_template:
            # Here rather than in __init__, so a factory class's own __init__ need not call super().
            instance.private = _fresh_private(cls._private_template, instance)
        return instance

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for alias, hook in ALIASES.items():
            # Only where the alias is overridden and its hook is not: the batches of a callback that
            # overrides neither never reach the event loop.
            if not is_noop_hook(getattr(cls, alias)) and is_noop_hook(getattr(cls, hook)):
                setattr(cls, hook, alias_forwarder(alias, getattr(cls, alias)))

    def __init__(self) -> None:
        self._model: Sequential | None = None
        self.params: dict[str, Any] = {}

    @property
    def model(self) -> Sequential:
        """The model being trained, evaluated or used to predict."""
        return self.__dict__.get("_model")  # type: ignore[return-value]

    def set_model(self, model: Sequential) -> None:
        self._model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def set_callbacks(self, callbacks: Sequence[Callback]) -> None:
        """Told every callback of the run, in order, before it starts (``BackupAndRestore`` saves the
        state of those that have ``get_state``/``set_state``). Most callbacks ignore it."""

    @noop_hook
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> Any:
        """An epoch starts (training only)."""

    @noop_hook
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> Any:
        """An epoch ends: ``logs`` has its metrics, and ``val_`` ones if it validated."""

    @noop_hook
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> Any:
        """Training starts."""

    @noop_hook
    def on_train_end(self, logs: dict[str, Any] | None = None) -> Any:
        """Training ends: ``logs`` are the last epoch's."""

    @noop_hook
    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        """A training batch starts. By default, calls :meth:`on_batch_begin`, as Keras."""
        return self.on_batch_begin(batch, logs)

    @noop_hook
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        """A training batch ends: ``logs`` are running means since the epoch began. By default,
        calls :meth:`on_batch_end`, as Keras."""
        return self.on_batch_end(batch, logs)

    @noop_hook
    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        """Keras's older name for :meth:`on_train_batch_begin`, which calls it unless overridden."""

    @noop_hook
    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        """Keras's older name for :meth:`on_train_batch_end`, which calls it unless overridden."""

    @noop_hook
    def on_test_begin(self, logs: dict[str, Any] | None = None) -> Any:
        """Evaluation (or validation within ``fit``) starts."""

    @noop_hook
    def on_test_end(self, logs: dict[str, Any] | None = None) -> Any:
        """Evaluation ends: ``logs`` are its metrics."""

    @noop_hook
    def on_test_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        """An evaluation batch starts."""

    @noop_hook
    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        """An evaluation batch ends: ``logs`` are running means."""

    @noop_hook
    def on_predict_begin(self, logs: dict[str, Any] | None = None) -> Any:
        """Prediction starts."""

    @noop_hook
    def on_predict_end(self, logs: dict[str, Any] | None = None) -> Any:
        """Prediction ends."""

    @noop_hook
    def on_predict_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        """A prediction batch starts."""

    @noop_hook
    def on_predict_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> Any:
        """A prediction batch ends: ``logs["outputs"]`` holds its outputs."""


def alias_forwarder(alias: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """A hook that calls the ``alias`` method (``on_batch_end`` for ``on_train_batch_end``), looked up
    on the instance at each call; ``async def`` if that is, so the callback's delivery is unchanged."""
    if is_async_handler(method):

        async def forward_async(self: Any, batch: int, logs: dict[str, Any] | None = None) -> Any:
            return await getattr(self, alias)(batch, logs)

        return forward_async

    def forward(self: Any, batch: int, logs: dict[str, Any] | None = None) -> Any:
        return getattr(self, alias)(batch, logs)

    return forward


def _fresh_private(template: Mapping[str, Any], instance: Callback) -> types.SimpleNamespace:
    """Each instance's own deep copy of the class's ``private`` members; functions bound to it."""
    members = {
        name: types.MethodType(value, instance) if isinstance(value, types.FunctionType) else copy.deepcopy(value)
        for name, value in template.items()
    }
    return types.SimpleNamespace(**members)
