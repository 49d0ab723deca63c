"""MLflowLogger: what it logs, read back with MlflowClient from a SQLite store; stalled and slow stores."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from anyio.abc import SocketAttribute, SocketStream
from mlflow.tracking import MlflowClient

from trainer import saving
from trainer.callbacks import Callback, MLflowLogger
from trainer.callbacks.mlflow_logger import MODEL_ARTIFACT
from trainer.jobs import JobManager, JobStatus

from ..jobs.specs import spec_builder
from .training_run import build_model, dataset

pytestmark = pytest.mark.anyio

REPOSITORY = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite tracking store, made once: MLflow takes seconds to create its tables."""
    path = tmp_path_factory.mktemp("mlflow") / "empty.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(empty_store: Path, tmp_path: Path) -> tuple[str, MlflowClient]:
    """A SQLite tracking store in ``tmp_path`` with an experiment ``exp`` whose artifacts go there too."""
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_experiment("exp", artifact_location=str(tmp_path / "artifacts"))
    return uri, client


def runs(client: MlflowClient, experiment: str = "exp") -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    return list(client.search_runs([found.experiment_id], order_by=["attributes.start_time ASC"]))


def history_of(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(metric.step, metric.value) for metric in client.get_metric_history(run_id, key)]


async def fit(callbacks: list[Callback], epochs: int = 3, **kwargs: Any) -> Any:
    x, y = dataset()
    model = build_model(dropout=0)
    history = await model.fit_async(
        x, y, batch_size=16, epochs=epochs, verbose=0, callbacks=callbacks, validation_split=0.25, **kwargs
    )
    return model, history


class TrainingEnded(Callback):
    """Inline: notes the end of training (on the event loop, so it may set an anyio.Event)."""

    def __init__(self, also: Any = None) -> None:
        super().__init__()
        self.ended = anyio.Event()
        self.also = also

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.also is not None:
            self.also()
        self.ended.set()


async def test_params_and_every_epoch_s_metrics_in_order_at_step_epoch(store: tuple[str, MlflowClient]) -> None:
    uri, client = store
    _, history = await fit([MLflowLogger("exp", run_name="first", tracking_uri=uri)], epochs=4)
    (run,) = runs(client)
    assert run.info.run_name == "first" and run.info.status == "FINISHED"
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert history_of(client, run.info.run_id, key) == [
            (epoch, pytest.approx(value, rel=1e-6)) for epoch, value in enumerate(history.history[key])
        ]
    stamps = [metric.timestamp for metric in client.get_metric_history(run.info.run_id, "loss")]
    assert stamps == sorted(stamps)
    params = run.data.params
    assert {key: params[key] for key in ("epochs", "steps", "verbose")} == {"epochs": "4", "steps": "5", "verbose": "0"}
    assert params["optimizer"] == "Adam" and params["optimizer_learning_rate"] == "0.01"
    assert run.data.tags["trainer.run"].startswith("fit-")


async def test_the_final_model_as_an_artifact_loadable_by_trainer(store: tuple[str, MlflowClient], tmp_path: Path) -> None:
    uri, client = store
    model, _ = await fit([MLflowLogger("exp", tracking_uri=uri, log_model=True)])
    (run,) = runs(client)
    assert [artifact.path for artifact in client.list_artifacts(run.info.run_id)] == [MODEL_ARTIFACT]
    path = client.download_artifacts(run.info.run_id, MODEL_ARTIFACT, str(tmp_path / "downloaded"))
    loaded = saving.load_model(path)
    for mine, theirs in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


async def test_a_new_experiment_is_created_and_each_fit_is_a_run(store: tuple[str, MlflowClient], tmp_path: Path) -> None:
    uri, client = store
    logger = MLflowLogger("fresh", tracking_uri=uri, artifact_location=str(tmp_path / "fresh"))
    await fit([logger], epochs=1)
    await fit([logger], epochs=2)
    assert [len(history_of(client, run.info.run_id, "loss")) for run in runs(client, "fresh")] == [1, 2]
    assert client.get_experiment_by_name("fresh").artifact_location.endswith(str(tmp_path / "fresh"))  # type: ignore[union-attr]


async def test_a_run_given_a_run_id_is_named_by_it(store: tuple[str, MlflowClient]) -> None:
    uri, client = store
    await fit([MLflowLogger("exp", tracking_uri=uri)], run_id="job-42")
    (run,) = runs(client)
    assert run.info.run_name == "job-42" and run.data.tags["trainer.run"] == "job-42"


async def test_each_job_of_the_job_manager_is_its_own_run(store: tuple[str, MlflowClient], tmp_path: Path) -> None:
    uri, client = store
    async with JobManager(workdir=tmp_path / "jobs") as jobs:
        submitted = [jobs.submit(spec_builder(epochs=2, callbacks=[MLflowLogger("exp", tracking_uri=uri)])) for _ in range(2)]
        assert [await job.wait() for job in submitted] == [JobStatus.COMPLETED] * 2
    named = {run.info.run_name: run for run in runs(client)}
    assert sorted(named) == sorted(job.id for job in submitted)
    for job in submitted:
        assert [step for step, _ in history_of(client, named[job.id].info.run_id, "loss")] == [0, 1]


@asynccontextmanager
async def stalled_server(release: anyio.Event) -> AsyncIterator[tuple[str, list[SocketStream]]]:
    """A tracking server on 127.0.0.1 that accepts connections and never answers; once ``release``
    is set it hangs up on them (and on every later one) instead. Yields its root and the connections."""
    connections: list[SocketStream] = []

    async def hold(stream: SocketStream) -> None:
        async with stream:
            connections.append(stream)
            await release.wait()


    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as serving:
        serving.start_soon(listener.serve, hold)
        try:
            yield f"http://127.0.0.1:{listener.extra(SocketAttribute.local_port)}", connections
        finally:
            serving.cancel_scope.cancel()


async def test_a_stalled_tracking_server_never_holds_training_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # A request the server hangs up on fails at once, with no retry: the test need not wait for MLflow's backoff.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    release = anyio.Event()
    seen_at_train_end: list[Any] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with stalled_server(release) as (root, connections):

            class ConnectedBeforeEpoch1(Callback):
                """Holds training at epoch 1's start until the logger's first request has reached the server."""

                delivery = "inline"

                async def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                    with anyio.fail_after(30):
                        while epoch == 1 and not connections:
                            await anyio.sleep(0.01)

            def note() -> None:
                # Epochs 1 to 5 trained while that request was unanswered, and the logger, which waits
                # up to 30 s for it, has not given up: training did not wait for it.
                seen_at_train_end.append((len(connections), [str(w.message) for w in caught]))
                release.set()

            logger = MLflowLogger("exp", tracking_uri=root, timeout=30)
            _, history = await fit([logger, ConnectedBeforeEpoch1(), TrainingEnded(note)], epochs=6)
    assert history.epoch == [0, 1, 2, 3, 4, 5]
    assert seen_at_train_end == [(1, [])]
    # Nothing reached the server, and the logger says so, naming the final metrics, without failing the fit.
    (final,) = [str(w.message) for w in caught if "at the end of the run" in str(w.message)]
    assert f"at {root} failed" in final and "not logged:" in final
    assert "the last epoch's (5: accuracy, loss, val_accuracy, val_loss)" in final and "the run itself" in final


async def test_a_tracking_server_that_never_answers_is_given_up_on_after_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    # The request it gives up on goes on in its thread until MLflow's own timeout: keep that short.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    release = anyio.Event()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with stalled_server(release) as (root, connections):
            _, history = await fit([MLflowLogger("exp", tracking_uri=root, timeout=0.2)])
            assert len(connections) == 1  # one request at a time: none started while the first is under way
            # The request given up on goes on in a daemon thread: it cannot keep the process alive.
            assert [t.daemon for t in threading.enumerate() if t.name == "MLflowLogger request"] == [True]
            release.set()
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert history.epoch == [0, 1, 2]
    assert any("has not answered within 0.2 s; training goes on" in message for message in messages)
    (final,) = [message for message in messages if "at the end of the run" in message]
    assert "did not answer within 0.2 s" in final and "the last epoch's (2: " in final


# Trains for 2 epochs with an MLflowLogger whose server never answers, on the backend given, and says
# when fit has returned; the request under way then still waits for its answer.
TRAINS_AGAINST_A_STALLED_SERVER = """
import sys, threading, anyio
from trainer.callbacks import MLflowLogger
from tests.callbacks.training_run import build_model, dataset

async def main():
    x, y = dataset()
    logger = MLflowLogger("exp", tracking_uri=sys.argv[1], timeout=0.5)
    history = await build_model().fit_async(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[logger])
    waiting = [thread.name for thread in threading.enumerate() if thread.name == "MLflowLogger request"]
    print("fit returned", history.epoch, waiting, flush=True)

anyio.run(main, backend=sys.argv[2])
"""


async def run_against_a_stalled_server(script: str, backend: str) -> tuple[subprocess.CompletedProcess[bytes], int]:
    """Runs ``script`` (given the server's root and ``backend``) as a process, with a server that never
    answers and MLflow waiting 10 minutes for each answer: the process must exit long before that.
    Returns how it ended and how many connections the server had."""
    environment = {**os.environ, "MLFLOW_HTTP_REQUEST_TIMEOUT": "600", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    release = anyio.Event()
    async with stalled_server(release) as (root, connections):
        command = [sys.executable, "-c", script, root, backend]
        with anyio.fail_after(90):  # the process exits, or the test fails here (and kills it)
            done = await anyio.run_process(command, cwd=REPOSITORY, env=environment, check=False)
        release.set()
        return done, len(connections)


async def test_a_process_whose_server_never_answers_still_exits_and_names_what_was_not_logged(anyio_backend: str) -> None:
    done, _ = await run_against_a_stalled_server(TRAINS_AGAINST_A_STALLED_SERVER, anyio_backend)
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, err
    # The request was still under way when fit returned, in a daemon thread that did not hold the exit.
    assert out.splitlines() == ["fit returned [0, 1] ['MLflowLogger request']"]
    assert "did not answer within 0.5 s at the end of the run; not logged:" in err
    assert "the last epoch's (1: accuracy, loss) among them" in err and "the run itself" in err


# Cancels a long fit once the logger's first request has reached the server, which never answers.
CANCELLED_WHILE_THE_LOGGER_WAITS = """
import sys, urllib.parse, anyio, psutil
from trainer.callbacks import Callback, MLflowLogger
from tests.callbacks.training_run import build_model, dataset

PORT = urllib.parse.urlsplit(sys.argv[1]).port

class CancelOnceTheRequestWaits(Callback):
    delivery = "inline"

    def __init__(self, scope):
        super().__init__()
        self.scope = scope

    async def on_epoch_begin(self, epoch, logs=None):
        with anyio.fail_after(60):
            while not any(connection.raddr and connection.raddr.port == PORT and connection.status == "ESTABLISHED"
                          for connection in psutil.Process().net_connections(kind="tcp")):
                await anyio.sleep(0.01)
        self.scope.cancel()

async def main():
    x, y = dataset()
    logger = MLflowLogger("exp", tracking_uri=sys.argv[1], timeout=600)
    with anyio.CancelScope() as scope:
        await build_model().fit_async(x, y, batch_size=16, epochs=1000, verbose=0, callbacks=[logger, CancelOnceTheRequestWaits(scope)])
    print("cancelled", scope.cancelled_caught, flush=True)

anyio.run(main, backend=sys.argv[2])
"""


async def test_a_fit_cancelled_while_the_logger_waits_lets_the_process_exit(anyio_backend: str) -> None:
    # The logger would wait 600 s for its first request: its wait, let go by the cancellation, must not
    # keep the process alive (on asyncio, anyio's worker threads are not daemon threads).
    done, connections = await run_against_a_stalled_server(CANCELLED_WHILE_THE_LOGGER_WAITS, anyio_backend)
    assert connections == 1
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == ["cancelled True"]


async def test_a_slow_store_coalesces_epochs_and_still_logs_the_final_metrics(store: tuple[str, MlflowClient], tmp_path: Path) -> None:
    uri, client = store
    # Another connection holds the database's write lock until training ends: every request of the
    # logger waits for it (up to SQLite's busy timeout, after which it fails and is retried).
    lock = sqlite3.connect(tmp_path / "mlflow.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")

    def unlock() -> None:
        lock.execute("ROLLBACK")
        lock.close()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, history = await fit([MLflowLogger("exp", tracking_uri=uri, queue_size=3), TrainingEnded(unlock)], epochs=8)
    (run,) = runs(client)
    assert run.info.status == "FINISHED"
    logged = history_of(client, run.info.run_id, "loss")
    steps = [step for step, _ in logged]
    # The newest epochs replaced older ones in the queue; the final epoch is logged, with its value.
    assert steps == list(range(8 - len(steps), 8)) and len(steps) < 8
    assert logged[-1] == (7, pytest.approx(history.history["loss"][-1], rel=1e-6))
    coalesced = ", ".join(map(str, range(8 - len(steps))))
    assert any(f"the metrics of epochs {coalesced} were dropped from its queue while MLflow was slow (queue_overflow='keep_latest'); the later" in str(w.message) for w in caught)


@pytest.mark.parametrize(("uri", "imported"), [("sqlite:///mlflow.db", True), ("http://127.0.0.1:5000", False)])
def test_a_database_store_s_module_is_imported_with_the_logger_not_by_the_first_request(uri: str, imported: bool) -> None:
    # In a fresh process, since this one imported it long ago.
    script = (
        "import sys; from trainer.callbacks import MLflowLogger; MLflowLogger(tracking_uri=sys.argv[1]); "
        "print('mlflow.store.tracking.sqlalchemy_store' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script, uri], cwd=REPOSITORY, capture_output=True, text=True, timeout=100, check=True)
    assert done.stdout.split() == [str(imported)]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"queue_size": 2}, ValueError, "queue_size must be at least 3 with queue_overflow='keep_latest'"),
        ({"queue_size": 0, "queue_overflow": "block"}, ValueError, "queue_size must be at least 1"),
        ({"queue_overflow": "drop_newest"}, ValueError, "queue_overflow"),
        ({"timeout": 0}, ValueError, "timeout must be a positive number of seconds"),
        ({"experiment": ""}, TypeError, "experiment must be a non-empty string or None"),
        ({"log_model": "yes"}, TypeError, "log_model must be True or False"),
    ],
)
def test_bad_arguments_are_refused_naming_them(arguments: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        MLflowLogger(**arguments)


def test_the_chosen_queue_is_the_one_the_bus_gets() -> None:
    logger = MLflowLogger(queue_size=5, queue_overflow="block")
    assert (logger.delivery, logger.queue_size, logger.queue_overflow) == ("queued", 5, "block")
    assert (MLflowLogger.queue_size, MLflowLogger.queue_overflow) == (Callback.queue_size, "block")
