"""The service as an ASGI app: ``create_app(settings)``, for uvicorn or any ASGI server."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trainer.jobs import Executor

from .api import routes
from .auth import TokenBackend, load_token, unauthorized
from .dashboard import Dashboard
from .guards import BodyLimit, JSONErrors
from .limits import JobLimits
from .mlp_template import mlp
from .openapi import openapi_document
from .problems import Answer, problem
from .retention import Retention
from .service import TrainingService
from .sse import EncodedEvents
from .templates import Template, templates_from

__all__ = ["ServiceSettings", "create_app", "default_templates"]

PUBLIC = frozenset({"/health", "/login"})
"""Paths answered without the token."""


def default_templates() -> dict[str, Template]:
    """The templates a service has without ``--app``: the built-in ``mlp``."""
    return templates_from({"mlp": mlp})


@dataclasses.dataclass(frozen=True)
class ServiceSettings:
    """Everything a service is started with. ``templates`` defaults to :func:`default_templates`;
    ``token`` to the one :func:`~trainer.service.auth.load_token` finds or makes in ``workdir``."""

    workdir: str
    host: str = "127.0.0.1"
    port: int = 8000
    templates: Mapping[str, Template] = dataclasses.field(default_factory=default_templates)
    token: str | None = None
    token_file: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    max_concurrent: int = 2
    max_queued: int = 100
    compute_slots: int | None = 1
    max_body_bytes: int = 64 * 1024
    limits: JobLimits = dataclasses.field(default_factory=JobLimits)
    retention: Retention = dataclasses.field(default_factory=Retention)
    executor: Executor | None = None  # where jobs train: None, in the service's process

    def __post_init__(self) -> None:
        if not self.templates:
            raise ValueError("a service needs at least one job template")
        if isinstance(self.max_body_bytes, bool) or not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be an integer of at least 1024; got {self.max_body_bytes!r}")

    def hosts(self) -> list[str]:
        """The Host names requests may carry: the bind address, localhost, and the allowed ones."""
        names = {"localhost", "127.0.0.1", "::1", *self.allowed_hosts}
        if not _unspecified(self.host):
            names.add(self.host)
        return sorted(name.lower() for name in names)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def create_app(settings: ServiceSettings) -> Starlette:
    """The service: its jobs live as long as the app's lifespan (a restart resumes the ones running)."""
    os.makedirs(settings.workdir, exist_ok=True)
    token = settings.token or load_token(settings.workdir, settings.token_file)[0]
    document = openapi_document(settings.templates)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service = TrainingService(
            settings.workdir, settings.templates, limits=settings.limits, retention=settings.retention,
            max_concurrent=settings.max_concurrent, max_queued=settings.max_queued, compute_slots=settings.compute_slots,
            executor=settings.executor,
        )  # fmt: skip
        async with service:
            app.state.service, app.state.encoded = service, EncodedEvents(service.journal)
            yield

    async def openapi(request: Request) -> Response:
        return Answer(document)

    middleware = [
        Middleware(JSONErrors),
        Middleware(TrustedHostMiddleware, allowed_hosts=settings.hosts(), www_redirect=False),
        Middleware(Dashboard),  # the page and /static/: public, they hold no data
        Middleware(AuthenticationMiddleware, backend=TokenBackend(token, PUBLIC), on_error=unauthorized),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
    ]
    app = Starlette(
        routes=[*routes(), Route("/openapi.json", openapi, methods=["GET"])],
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.token = token
    return app


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    return problem(error.status_code, str(error.detail), headers=headers or None)


async def _server_error(request: Request, error: Exception) -> Response:
    # A bug of ours, never a refusal: answered in JSON like the rest, and logged by the server.
    return problem(500, f"internal error: {type(error).__name__}")
