"""The service's HTTP endpoints: JSON in, JSON out (and Server-Sent Events for the event streams)."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import pydantic
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from trainer.jobs import JobLimitError, JobStateError, UnknownJobError

from .auth import login, logout
from .problems import Answer, problem, validation_details
from .service import InvalidRequest, TrainingService
from .sse import EncodedEvents, batch_level, epoch_level

__all__ = ["JobRequest", "routes"]

Endpoint = Callable[[Request], Awaitable[Response]]

_WHOLE_NUMBER = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes '²', which int() refuses


class JobRequest(pydantic.BaseModel):
    """The body of ``POST /jobs``: a template's name, its parameters, and a label for the job."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True)

    template: str = pydantic.Field(min_length=1, max_length=64)
    params: dict[str, Any] = pydantic.Field(default_factory=dict)
    name: str | None = pydantic.Field(default=None, min_length=1, max_length=200)


class LoginRequest(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)

    token: str = pydantic.Field(max_length=1024)


def service_of(request: Request) -> TrainingService:
    return request.app.state.service  # type: ignore[no-any-return]


def answers_errors(handler: Endpoint) -> Endpoint:
    """The service's refusals as answers: 422 (invalid), 404 (unknown job), 409 (the job's state
    does not allow it), 429 (the queue is full)."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except InvalidRequest as error:
            return problem(422, str(error), error.details)
        except UnknownJobError as error:
            return problem(404, str(error))
        except JobStateError as error:
            return problem(409, str(error))
        except JobLimitError as error:
            return problem(429, str(error), headers={"Retry-After": "10"})

    return answer


def parsed(model: type[pydantic.BaseModel], body: bytes, error: str = "invalid job request") -> pydantic.BaseModel:
    """``body`` as ``model``; :class:`InvalidRequest` naming every bad field (malformed JSON,
    too deep, numbers too long, lone surrogates included: pydantic's JSON parser refuses them)."""
    try:
        return model.model_validate_json(body)
    except pydantic.ValidationError as invalid:
        raise InvalidRequest(validation_details(invalid, known=list(model.model_fields)), error) from None


async def health(request: Request) -> Response:
    return Answer({"status": "ok"})


@answers_errors
async def log_in(request: Request) -> Response:
    body = parsed(LoginRequest, await request.body(), "invalid login request")
    return await login(request, request.app.state.token, body.model_dump())


@answers_errors
async def submit_job(request: Request) -> Response:
    job_request = parsed(JobRequest, await request.body())
    assert isinstance(job_request, JobRequest)
    record = await service_of(request).submit(job_request.template, job_request.params, job_request.name)
    return Answer(record, status_code=201, headers={"Location": f"/jobs/{record['id']}"})


@answers_errors
async def list_jobs(request: Request) -> Response:
    offset = _query_integer(request, "offset", 0, 0, 10**9)
    limit = _query_integer(request, "limit", 1000, 1, 1000)
    jobs, total = service_of(request).page(offset=offset, limit=limit)
    return Answer({"jobs": jobs, "total": total, "offset": offset})


@answers_errors
async def show_job(request: Request) -> Response:
    return Answer(service_of(request).describe(request.path_params["job_id"]))


@answers_errors
async def cancel_job(request: Request) -> Response:
    return Answer(await service_of(request).cancel(request.path_params["job_id"]))


@answers_errors
async def resume_job(request: Request) -> Response:
    return Answer(await service_of(request).resume(request.path_params["job_id"]), status_code=202)


@answers_errors
async def list_templates(request: Request) -> Response:
    templates = service_of(request).templates.values()
    described = [{"name": t.name, "description": t.description, "schema": t.schema()} for t in templates]
    return Answer({"templates": described})


@answers_errors
async def job_events(request: Request) -> Response:
    service = service_of(request)
    job_id = request.path_params["job_id"]
    service.describe(job_id)  # 404 for an unknown job
    level = request.query_params.get("level", "epoch")
    if level not in ("epoch", "batch"):
        raise InvalidRequest([{"field": "level", "reason": f"must be 'epoch' or 'batch'; got {level!r}"}], "invalid query")
    after = _last_event_id(request)

    def finished() -> bool:
        job = service.journal.jobs.get(job_id)
        return job is None or job.status.finished

    if level == "epoch":
        stream = epoch_level(service.journal, job=job_id, after=after, finished=finished)
    else:
        encoded: EncodedEvents = request.app.state.encoded
        stream = batch_level(service.journal, service.manager.bus, encoded, job=job_id, after=after, finished=finished)
    return _event_stream(stream)


@answers_errors
async def all_events(request: Request) -> Response:
    service = service_of(request)
    after = _last_event_id(request, default=service.journal.last_id)
    return _event_stream(epoch_level(service.journal, job=None, after=after, finished=lambda: False))


RECONNECT_MS = 1000
"""How soon a browser's EventSource reconnects to a stream that dropped (a restart, a network blip),
sent as the stream's first line (``retry:``): its own default is about 3 s."""


def _event_stream(stream: AsyncGenerator[str, None]) -> Response:
    async def with_reconnect_delay() -> AsyncGenerator[str, None]:
        yield f"retry: {RECONNECT_MS}\n\n"
        async with contextlib.aclosing(stream):  # closed as soon as the response ends, not when collected
            async for chunk in stream:
                yield chunk

    # Starlette cancels the stream when the client goes away.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(with_reconnect_delay(), media_type="text/event-stream", headers=headers)


def _last_event_id(request: Request, default: int = 0) -> int:
    """Where a reconnecting client stopped: the ``Last-Event-ID`` header, or ``?last_event_id=``."""
    given = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if given is None:
        return default
    if not _WHOLE_NUMBER.fullmatch(given) or len(given) > 18:
        raise InvalidRequest([{"field": "Last-Event-ID", "reason": f"must be an event id (a whole number); got {given[:40]!r}"}], "invalid query")
    return int(given)


def _query_integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    given = request.query_params.get(name)
    if given is None:
        return default
    if not _WHOLE_NUMBER.fullmatch(given) or len(given) > 12 or not low <= int(given) <= high:
        raise InvalidRequest([{"field": name, "reason": f"must be a whole number from {low} to {high}; got {given[:40]!r}"}], "invalid query")
    return int(given)


def routes() -> list[Route]:
    return [
        Route("/health", health, methods=["GET"]),
        Route("/login", log_in, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/templates", list_templates, methods=["GET"]),
        Route("/jobs", submit_job, methods=["POST"]),
        Route("/jobs", list_jobs, methods=["GET"]),
        Route("/jobs/{job_id}", show_job, methods=["GET"]),
        Route("/jobs/{job_id}", cancel_job, methods=["DELETE"]),
        Route("/jobs/{job_id}/resume", resume_job, methods=["POST"]),
        Route("/jobs/{job_id}/events", job_events, methods=["GET"]),
        Route("/events", all_events, methods=["GET"]),
    ]

