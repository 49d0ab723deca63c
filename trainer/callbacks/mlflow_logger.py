"""MLflowLogger: a fit's parameters, its metrics per epoch and its model to MLflow, never holding training up."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.to_thread

from eventbus import Overflow
from eventbus.mailbox import OVERFLOW_POLICIES
from trainer import saving

from . import arguments
from .callback import Callback
from .extras import require
from .run_names import given_run_id
from .scalar_logs import scalar_logs
from .subscriber import current_event

__all__ = ["MLflowLogger"]

MODEL_ARTIFACT = "model.model.npz"
"""The name of the model file ``log_model=True`` logs as the run's artifact."""

_MAX_PENDING_METRICS = 10_000  # what waits for a stalled server, at most; the oldest go first
_METRICS_PER_REQUEST = 1000  # MLflow's limits for one log_batch
_PARAMS_PER_REQUEST = 100
_WAIT_SLICE = 0.25  # seconds: how long a wait for a request, abandoned when its hook is cancelled, lingers


class MLflowLogger(Callback):
    """Logs each ``fit`` as an MLflow run of ``experiment`` (MLflow's ``Default`` if None), at
    ``tracking_uri`` (MLflow's own default if None: ``MLFLOW_TRACKING_URI``, else ``./mlflow.db``):

    * params: the fit's (``epochs``, ``steps``, ``verbose``) and the optimizer's config as
      ``optimizer`` (its class) and ``optimizer_<key>``, as they were when the fit started;
    * metrics: every number of each epoch's logs, ``val_`` ones included, with ``step=epoch`` (0-based)
      and the time the epoch ended;
    * with ``log_model``, the trained model as the artifact :data:`MODEL_ARTIFACT` (trainer's own
      ``.model.npz``, loadable with ``trainer.saving.load_model``); then the run is ended as FINISHED.

    The run is named ``run_name``; else, when the fit was given a ``run_id`` (the job manager gives
    each job's id), that id, so each service job is its own run; else MLflow names it. Its tag
    ``trainer.run`` holds the run id either way. An experiment the logger creates keeps its
    artifacts at ``artifact_location`` (MLflow's default if None: ``./mlruns`` for a local store).

    Queued, with a queue of ``queue_size`` events and the overflow policy ``queue_overflow``:
    ``"keep_latest"`` (the default) coalesces, so while the tracking server is slow the newest
    epoch's metrics wait in place of older ones and training never waits; ``"block"`` loses
    nothing in the queue and lets training wait while the logger waits; ``"drop_oldest"`` and
    ``"error"`` as the bus has them. Epochs the queue dropped are named in a warning at the end.
    Every request runs in a worker thread, one at a time (a daemon thread: one still waiting for a
    stalled server never keeps the process from exiting). The logger waits for the server
    ``timeout`` seconds at most, once per request: what it has not sent meanwhile waits (coalesced
    by epoch and metric, at most 10 000 values, the oldest dropped first) and goes with the next
    request. At the end of training it waits up to ``timeout`` seconds more for what is left, the
    final metrics first; if the server has not taken it by then, it says so in a warning, naming
    what was not logged, and ``fit`` returns: at most ``2 * timeout`` after the last epoch.
    Failed requests are retried with the next one and reported by a warning once per kind of error;
    they never fail the fit.
    """

    delivery = "queued"

    def __init__(
        self,
        experiment: str | None = None,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        log_model: bool = False,
        *,
        artifact_location: str | None = None,
        queue_size: int = 8,
        queue_overflow: Overflow = "keep_latest",
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        owner = "MLflowLogger"
        # Imported now, not in the first hook: importing mlflow takes a second, which training must not wait for.
        self._mlflow: Any = require(owner, "mlflow", "mlflow")
        require(owner, "mlflow.tracking", "mlflow")
        self._thread_cache: Any = require(owner, "trio.lowlevel", "mlflow")  # its daemon worker threads
        named = {"experiment": experiment, "run_name": run_name, "tracking_uri": tracking_uri, "artifact_location": artifact_location}
        for name, value in named.items():
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"{owner}: {name} must be a non-empty string or None; got {value!r}")
        self.experiment = experiment
        self.run_name = run_name
        self.tracking_uri = tracking_uri
        self.artifact_location = artifact_location
        uri = tracking_uri or str(self._mlflow.get_tracking_uri())
        databases = require(owner, "mlflow.store.db.db_types", "mlflow").DATABASE_ENGINES
        if urllib.parse.urlsplit(uri).scheme.split("+")[0] in databases:
            # A database store runs in this process; its module takes most of a second to import
            # (SQLAlchemy's models), CPU the first request would take from training under the GIL.
            require(owner, "mlflow.store.tracking.sqlalchemy_store", "mlflow")
        self.log_model = arguments.flag(owner, "log_model", log_model)
        overflow = arguments.choice(owner, "queue_overflow", queue_overflow, OVERFLOW_POLICIES)
        size = arguments.count(owner, "queue_size", queue_size)
        # keep_latest coalesces only events of one kind; with room for one of each kind, the publisher never waits.
        least = 3 if overflow == "keep_latest" else 1
        if size < least:
            raise ValueError(f"{owner}: queue_size must be at least {least} with queue_overflow={overflow!r}; got {size}")
        # The instance's own choice shadows the class's default, which is where the bus reads it.
        setattr(self, "queue_size", size)  # noqa: B010
        setattr(self, "queue_overflow", overflow)  # noqa: B010
        self.timeout = arguments.number(owner, "timeout", timeout, minimum=0.0)
        if self.timeout <= 0:
            raise ValueError(f"{owner}: timeout must be a positive number of seconds; got {timeout!r}")
        self._outbox: _Outbox | None = None
        self._warned: set[str] = set()

    def set_params(self, params: dict[str, Any]) -> None:
        # On the event loop, before the run's compute starts: the params and optimizer config of the start.
        super().set_params(params)
        logged = {key: _param(value) for key, value in params.items()}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            logged["optimizer"] = type(optimizer).__name__
            logged.update({f"optimizer_{key}": _param(value) for key, value in optimizer.get_config().items()})
        self._outbox = _Outbox(self, logged)
        self._warned = set()

    # -- the hooks (each on the event loop; requests go to worker threads) ----------------------

    async def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        await self._send(self._current_outbox())

    async def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        outbox = self._current_outbox()
        outbox.add_epoch(epoch, logs or {}, _wall_time_ms())
        await self._send(outbox)

    async def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        outbox = self._current_outbox()
        if self.log_model:
            outbox.model = saving.model_contents(self.model)  # training is over: the weights stay still
        outbox.finish = True
        # The fit's History (same run, same params) lists every epoch that ran; the queue may have coalesced some.
        history = getattr(self.model, "history", None)
        ran: list[int] = getattr(history, "epoch", []) if getattr(history, "params", None) is self.params else []
        coalesced = [epoch for epoch in ran if epoch not in outbox.epochs_seen]
        taken = await outbox.flush(anyio.current_time() + self.timeout, final=True)
        problems = []
        if not taken:
            errors = outbox.take_errors()
            why = f"failed ({errors[-1]})" if errors else f"did not answer within {self.timeout:g} s"
            problems.append(f"MLflow at {outbox.uri} {why} at the end of the run; not logged: {outbox.describe_unsent()}")
        if coalesced:
            problems.append(
                f"the metrics of epochs {_epochs(coalesced)} were dropped from its queue while MLflow was slow "
                f"(queue_overflow={self.queue_overflow!r})" + ("; the later epochs', the final ones among them, were logged" if taken else "")
            )
        if problems:
            warnings.warn(f"MLflowLogger: run {outbox.describe_run()}: " + "; ".join(problems), RuntimeWarning, stacklevel=2)
        self._outbox = None

    async def _send(self, outbox: _Outbox) -> None:
        taken = await outbox.flush(anyio.current_time() + self.timeout)
        errors = outbox.take_errors()
        for error in errors:
            self._warn(
                type(error).__name__,
                f"a request to MLflow at {outbox.uri} failed ({error}); it is retried with the next one",
            )
        if not taken and not errors:
            self._warn(
                "slow",
                f"MLflow at {outbox.uri} has not answered within {self.timeout:g} s; training "
                "goes on and the metrics wait for it",
            )

    def _current_outbox(self) -> _Outbox:
        if self._outbox is None:
            self._outbox = _Outbox(self, {})  # hooks called without a run (by hand): log what comes
        event = current_event()
        if event is not None and self._outbox.run is None:
            self._outbox.run = event.run
        return self._outbox

    def _warn(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(f"MLflowLogger: {message}", RuntimeWarning, stacklevel=3)


class _Outbox:
    """What one run has yet to send to MLflow, and the one request under way.

    Used on the event loop only; the request's thread reads the snapshot it was given and reports
    back through its :class:`_Request`.
    """

    def __init__(self, logger: MLflowLogger, params: dict[str, str]) -> None:
        self._logger = logger
        self._mlflow = logger._mlflow
        self.uri = logger.tracking_uri or str(self._mlflow.get_tracking_uri())
        self.params = params
        self.run: str | None = None  # the trainer run id (a job id under the job manager)
        self.metrics: dict[tuple[str, int], Any] = {}  # (key, step) -> mlflow Metric, oldest first
        self.model: saving.Contents | None = None
        self.finish = False
        self.run_id: str | None = None  # MLflow's id of the run, once created
        self.epochs_seen: set[int] = set()
        self.dropped = 0
        self._client: Any = None
        self._request: _Request | None = None
        self._errors: list[Exception] = []

    def add_epoch(self, epoch: int, logs: Mapping[str, Any], timestamp: int) -> None:
        self.epochs_seen.add(epoch)
        metric = self._mlflow.entities.Metric
        for key, number in scalar_logs(logs).items():
            self.metrics.pop((key, epoch), None)  # re-added last: the newest go last
            self.metrics[(key, epoch)] = metric(key, number, timestamp, epoch)
        while len(self.metrics) > _MAX_PENDING_METRICS:
            del self.metrics[next(iter(self.metrics))]
            self.dropped += 1

    def pending(self) -> bool:
        return bool(self.run_id is None or self.params or self.metrics or self.model is not None or self.finish)

    async def flush(self, deadline: float, *, final: bool = False) -> bool:
        """Send what is pending, waiting until ``deadline`` (``anyio.current_time()``) at most;
        whether all of it was taken. A request still under way at the deadline goes on in its thread.

        Unless ``final``, a request that an earlier flush gave up on is not waited for again: the
        server is known to be stalled, and waiting for it at every epoch would only delay the end.
        """
        while True:
            request = self._request
            if request is not None:
                if request.given_up and not final and not request.done.is_set():
                    return False
                if not await request.wait(deadline):
                    return False
                self._settle(request)
            if not self.pending() or anyio.current_time() >= deadline:
                return not self.pending()
            if request is not None and request.error is not None:
                return False  # it failed just now: the next hook retries
            self._request = _Request(self._logger._thread_cache, self._deliver, self._snapshot())

    def _snapshot(self) -> dict[str, Any]:
        # The final epoch's metrics first: if the server takes only part before the deadline, it takes them.
        metrics = sorted(self.metrics.values(), key=lambda metric: -metric.step)
        return {"params": dict(self.params), "metrics": metrics, "model": self.model, "finish": self.finish}

    def _settle(self, request: _Request) -> None:
        self._request = None
        if request.run_id is not None:
            self.run_id = request.run_id
        if request.params_sent:
            self.params = {}
        for sent in request.metrics_sent:
            key = (str(sent.key), int(sent.step))
            if self.metrics.get(key) is sent:
                del self.metrics[key]
        if request.model_sent:
            self.model = None
        if request.finished:
            self.finish = False
        if request.error is not None:
            self._errors.append(request.error)

    def take_errors(self) -> list[Exception]:
        errors, self._errors = self._errors, []
        return errors

    # -- in the request's worker thread ----------------------------------------------------------

    def _deliver(self, request: _Request, what: dict[str, Any]) -> None:
        if self._client is None:
            self._client = self._mlflow.tracking.MlflowClient(tracking_uri=self._logger.tracking_uri)
        client = self._client
        run_id = self.run_id or request.run_id
        if run_id is None:
            run_id = request.run_id = self._create_run(client)
        params = [self._mlflow.entities.Param(key, value) for key, value in what["params"].items()]
        for start in range(0, len(params), _PARAMS_PER_REQUEST):
            client.log_batch(run_id, params=params[start : start + _PARAMS_PER_REQUEST])
        request.params_sent = True
        metrics = what["metrics"]
        for start in range(0, len(metrics), _METRICS_PER_REQUEST):
            chunk = metrics[start : start + _METRICS_PER_REQUEST]
            client.log_batch(run_id, metrics=chunk)
            request.metrics_sent.extend(chunk)
        if what["model"] is not None:
            with tempfile.TemporaryDirectory(prefix="mlflow-logger-") as directory:
                path = os.path.join(directory, MODEL_ARTIFACT)
                saving.write_contents(path, what["model"])
                client.log_artifact(run_id, path)
            request.model_sent = True
        if what["finish"]:
            client.set_terminated(run_id, "FINISHED")
            request.finished = True

    def _create_run(self, client: Any) -> str:
        name = self._logger.experiment
        experiment_id = "0"  # MLflow's Default experiment
        if name is not None:
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                try:
                    experiment_id = client.create_experiment(name, artifact_location=self._logger.artifact_location)
                except self._mlflow.exceptions.MlflowException:
                    experiment = client.get_experiment_by_name(name)  # another process created it meanwhile
                    if experiment is None:
                        raise
                    experiment_id = experiment.experiment_id
            else:
                experiment_id = experiment.experiment_id
        run_name = self._logger.run_name or (None if self.run is None else given_run_id(self.run))
        tags = {} if self.run is None else {"trainer.run": self.run}
        return str(client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id)

    # -- what a warning says -------------------------------------------------------------------

    def describe_run(self) -> str:
        return repr(self._logger.run_name or self.run or "?")

    def describe_unsent(self) -> str:
        parts = []
        if self.metrics:
            last = max(step for _, step in self.metrics)
            keys = sorted(key for key, step in self.metrics if step == last)
            parts.append(f"{len(self.metrics)} metric values, the last epoch's ({last}: {', '.join(keys)}) among them")
        if self.run_id is None:
            parts.append("the run itself")
        elif self.params:
            parts.append("its params")
        if self.model is not None:
            parts.append(f"the model ({MODEL_ARTIFACT})")
        if self.finish:
            parts.append("its end (it stays RUNNING)")
        if self.dropped:
            parts.append(f"and {self.dropped} older metric values dropped while it waited")
        return "; ".join(parts)


class _Request:
    """One request to MLflow in a worker thread; what it managed to send, and how it ended.

    The thread is one of trio's cached worker threads (``trio.lowlevel.start_thread_soon``, which
    needs no trio event loop: it serves asyncio too), because they are daemon threads: a request
    given up on goes on until MLflow's own timeout and retries end it (minutes, by default), and it
    must not keep the process alive meanwhile, as one of anyio's worker threads would on asyncio.
    Nothing waits for it unbounded: every wait has a deadline, and a wait abandoned by a cancelled
    hook lingers a quarter of a second at most.
    """

    def __init__(self, thread_cache: Any, deliver: Any, what: dict[str, Any]) -> None:
        self._thread_cache = thread_cache
        self._deliver = deliver
        self._what = what
        self._started = False
        self.given_up = False  # a wait for it reached its deadline
        self.done = threading.Event()
        self.error: Exception | None = None
        self.run_id: str | None = None
        self.params_sent = False
        self.metrics_sent: list[Any] = []
        self.model_sent = False
        self.finished = False

    async def wait(self, deadline: float) -> bool:
        """Start it (the first time) and wait for it until ``deadline`` at most; whether it is done."""
        if not self._started:
            self._started = True
            self._thread_cache.start_thread_soon(self._run, self._ran, name="MLflowLogger request")
        while not self.done.is_set() and (remaining := deadline - anyio.current_time()) > 0:
            # Each wait returns by itself within a slice, so one let go when its hook is cancelled
            # (the thread goes on waiting) cannot keep an asyncio program from exiting.
            await anyio.to_thread.run_sync(self.done.wait, min(remaining, _WAIT_SLICE), abandon_on_cancel=True)
        self.given_up = self.given_up or not self.done.is_set()
        return self.done.is_set()

    def _run(self) -> None:
        self._deliver(self, self._what)

    def _ran(self, result: Any) -> None:
        # In the request's thread, once it ends; must not block.
        error = getattr(result, "error", None)  # an outcome.Error: the request raised
        if error is not None:
            # Reported by the logger and retried with the next request; never re-raised into the fit.
            self.error = error if isinstance(error, Exception) else RuntimeError(f"the request ended with {error!r}")
        self.done.set()


def _param(value: Any) -> str:
    # The optimizer keeps its rates in float32, as Keras does: 0.01, not 0.009999999776482582.
    return f"{value:.7g}" if isinstance(value, float) else str(value)


def _wall_time_ms() -> int:
    """When the event being handled happened, in milliseconds since the Unix epoch (MLflow's timestamps)."""
    event = current_event()
    lag = 0.0 if event is None else time.monotonic() - event.time
    return int((time.time() - lag) * 1000)


def _epochs(epochs: list[int]) -> str:
    return ", ".join(map(str, epochs[:10])) + (f" and {len(epochs) - 10} more" if len(epochs) > 10 else "")

