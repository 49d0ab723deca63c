"""A training service over HTTP: many jobs on one event loop, their events streamed live.

    python -m pip install -e ".[service,examples]" && python examples/service.py --port 8000

    POST   /jobs               {"dataset": "synthetic", "layers": [32], "epochs": 5}  -> 201, Location
    GET    /jobs               every job
    GET    /jobs/{id}          one job: status, attempts, last epoch and logs, error
    GET    /jobs/{id}/events   Server-Sent Events: its history, then live, until it finishes (?level=batch)
    DELETE /jobs/{id}          cancel: training stops before its next step; the backup is kept
    POST   /jobs/{id}/resume   train a cancelled or failed job on from its backup

Bad requests answer 422 with ``{"error": ..., "details": [{"field": ..., "reason": ...}]}``, unknown
jobs 404, a request the job's state does not allow 409. A request is checked whole before anything
changes, so a bad one leaves every job as it was.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import trainer
from eventbus import Event
from trainer.jobs import (
    JobLimitError,
    JobManager,
    JobStateError,
    TrainingSpec,
    UnknownJobError,
    event_record,
    job_record,
)
from trainer.layers import Dense
from trainer.lookup import unknown_name_message

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "leaky_relu", "softplus", "linear")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
DATASETS = ("digits", "synthetic")
MAX_BODY = 64 * 1024


@dataclasses.dataclass(frozen=True)
class JobRequest:
    """What ``POST /jobs`` may hold; every field has a default."""

    dataset: str = "synthetic"
    layers: tuple[int, ...] = (32,)
    activation: str = "relu"
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    epochs: int = 10
    batch_size: int = 32
    validation_split: float = 0.0
    samples: int = 1024  # synthetic data only
    seed: int = 0


Problem = dict[str, str | None]


def parse_job_request(body: bytes) -> tuple[JobRequest | None, list[Problem]]:
    """The request in ``body``, or the problems with it: one per bad field, each with the reason."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, [{"field": None, "reason": f"malformed JSON: {error}"}]
    if not isinstance(data, dict):
        return None, [{"field": None, "reason": f"the body must be a JSON object; got {type(data).__name__}"}]
    known = {field.name for field in dataclasses.fields(JobRequest)}
    problems: list[Problem] = [
        {"field": name, "reason": unknown_name_message("field", str(name), sorted(known))}
        for name in data
        if name not in known
    ]
    for name, check in _CHECKS.items():
        if name in data and (reason := check(data[name])) is not None:
            problems.append({"field": name, "reason": reason})
    if problems:
        return None, problems
    values: dict[str, Any] = {name: tuple(value) if name == "layers" else value for name, value in data.items()}
    return JobRequest(**values), []


def _integer(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be an integer from {low} to {high}; got {value!r}"
        return None

    return check


def _number(low: float, high: float, *, low_open: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        in_range = isinstance(value, (int, float)) and not isinstance(value, bool) and (
            low < value <= high if low_open else low <= value <= high
        )
        return None if in_range else f"must be a number in {'(' if low_open else '['}{low}, {high}]; got {value!r}"

    return check


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}; got {value!r}"


def _layers(value: Any) -> str | None:
    sizes_ok = isinstance(value, list) and all(_integer(1, 1024)(size) is None for size in value)
    if not sizes_ok or not 1 <= len(value) <= 8:
        return f"must be a list of 1 to 8 layer sizes, each an integer from 1 to 1024; got {value!r}"
    return None


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "dataset": _choice(DATASETS),
    "layers": _layers,
    "activation": _choice(ACTIVATIONS),
    "optimizer": _choice(OPTIMIZERS),
    "learning_rate": _number(0.0, 10.0, low_open=True),
    "epochs": _integer(1, 10_000),
    "batch_size": _integer(1, 4096),
    "validation_split": _number(0.0, 0.5),
    "samples": _integer(16, 200_000),
    "seed": _integer(0, 2**31 - 1),
}


# -- what a request trains ---------------------------------------------------------------------------


@functools.cache
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import (
        load_digits,  # the examples extra; only this data set needs it
    )

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y


def synthetic(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four classes of 16 features, told apart by the sign of two sums."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 16)).astype(np.float32)
    y = (x[:, :8].sum(axis=1) > 0).astype(np.int64) * 2 + (x[:, 8:].sum(axis=1) > 0)
    return x, y


def build_for(request: JobRequest) -> Callable[[], TrainingSpec]:
    def build() -> TrainingSpec:
        x, y = digits() if request.dataset == "digits" else synthetic(request.samples, request.seed)
        trainer.set_random_seed(request.seed)
        hidden = [Dense(size, activation=request.activation) for size in request.layers]
        model = trainer.Sequential([trainer.Input(shape=(x.shape[1],)), *hidden, Dense(int(y.max()) + 1, activation="softmax")])
        optimizer = trainer.optimizers.get(request.optimizer)
        optimizer.learning_rate = request.learning_rate
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        fit_kwargs = {"validation_split": request.validation_split}
        return TrainingSpec(model, x, y, epochs=request.epochs, batch_size=request.batch_size, fit_kwargs=fit_kwargs)

    return build


# -- the HTTP side -----------------------------------------------------------------------------------


def problem(status: int, error: str, details: list[Problem] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "details": details or []}, status_code=status)


def answers_errors(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Turn the manager's refusals into 404 (unknown job), 409 (wrong state) and 503 (queue full)."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except UnknownJobError as error:
            return problem(404, str(error))
        except JobStateError as error:
            return problem(409, str(error))
        except JobLimitError as error:
            return problem(503, str(error))

    return answer


def jobs_of(request: Request) -> JobManager:
    return request.app.state.jobs  # type: ignore[no-any-return]


@answers_errors
async def submit_job(request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_BODY:
        return problem(413, f"the body is larger than {MAX_BODY} bytes")
    job_request, problems = parse_job_request(body)
    if job_request is None:
        return problem(422, "invalid job request", problems)
    name, config = f"{job_request.dataset} {list(job_request.layers)}", dataclasses.asdict(job_request)
    job = jobs_of(request).submit(build_for(job_request), name=name, info=config)
    return JSONResponse(described(request, job.id), status_code=201, headers={"Location": f"/jobs/{job.id}"})


async def list_jobs(request: Request) -> Response:
    return JSONResponse({"jobs": [described(request, job.id) for job in jobs_of(request).list()]})


@answers_errors
async def show_job(request: Request) -> Response:
    return JSONResponse(described(request, request.path_params["job_id"]))


@answers_errors
async def cancel_job(request: Request) -> Response:
    job = await jobs_of(request).cancel(request.path_params["job_id"])
    return JSONResponse(described(request, job.id))


@answers_errors
async def resume_job(request: Request) -> Response:
    job = jobs_of(request).resume(request.path_params["job_id"])
    return JSONResponse(described(request, job.id), status_code=202)


@answers_errors
async def job_events(request: Request) -> Response:
    level = request.query_params.get("level", "epoch")
    if level not in ("epoch", "batch"):
        return problem(422, "invalid query", [{"field": "level", "reason": f"must be epoch or batch; got {level!r}"}])
    events = jobs_of(request).follow(request.path_params["job_id"], level=level)  # type: ignore[arg-type]

    encoded = request.app.state.encoded

    async def sse() -> AsyncIterator[str]:
        # Starlette cancels this when the client goes away; leaving the stream unsubscribes it.
        # One write per read, of every event waiting: a client that falls behind costs fewer writes.
        async with events:
            while True:
                try:
                    batch = await events.receive_batch()
                except anyio.EndOfStream:
                    return
                yield "".join(map(encoded, batch))

    return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


class EncodedEvents:
    """Each event as a Server-Sent Event, encoded once however many clients receive it.

    The bus hands one event object to every stream, so it is remembered by identity: the last
    ``size`` events, each held (so its id is not reused) until it leaves the memo.
    """

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._memo: OrderedDict[int, tuple[Event, str]] = OrderedDict()

    def __call__(self, event: Event) -> str:
        held = self._memo.get(id(event))
        if held is not None and held[0] is event:
            return held[1]
        text = f"event: {type(event).__name__}\ndata: {json.dumps(event_record(event))}\n\n"
        self._memo[id(event)] = (event, text)
        if len(self._memo) > self._size:
            self._memo.popitem(last=False)
        return text


def described(request: Request, job_id: str) -> dict[str, Any]:
    job = jobs_of(request).get(job_id)
    return {**job_record(job), "config": dict(job.info)}


def create_app(
    *, workdir: str | None = None, max_concurrent: int = 2, compute_slots: int | None = 1, history: int = 256
) -> Starlette:
    """The service; its job manager lives as long as the app (jobs still running at shutdown are cancelled)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        manager = JobManager(workdir=workdir, max_concurrent=max_concurrent, compute_slots=compute_slots, history=history)
        async with manager as jobs:
            app.state.jobs, app.state.encoded = jobs, EncodedEvents()
            yield

    routes = [
        Route("/jobs", submit_job, methods=["POST"]),
        Route("/jobs", list_jobs, methods=["GET"]),
        Route("/jobs/{job_id}", show_job, methods=["GET"]),
        Route("/jobs/{job_id}", cancel_job, methods=["DELETE"]),
        Route("/jobs/{job_id}/events", job_events, methods=["GET"]),
        Route("/jobs/{job_id}/resume", resume_job, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port (the first line printed names it)")
    parser.add_argument("--max-concurrent", type=int, default=2, help="jobs training at once")
    parser.add_argument("--compute-slots", type=int, default=1, help="jobs computing at one moment; 0: all that run")
    parser.add_argument("--workdir", default=None, help="where backups go (default: a temporary directory)")
    args = parser.parse_args()
    app = create_app(workdir=args.workdir, max_concurrent=args.max_concurrent, compute_slots=args.compute_slots or None)
    listening = socket.create_server((args.host, args.port))  # --port 0: any free port, named below
    host, port = listening.getsockname()[:2]
    print(f"serving on http://{host}:{port} (Ctrl-C stops)", flush=True)
    # Open event streams would otherwise hold a shutdown until their jobs end.
    server = uvicorn.Server(uvicorn.Config(app, timeout_graceful_shutdown=2, log_level="warning"))
    server.run(sockets=[listening])


if __name__ == "__main__":
    main()
