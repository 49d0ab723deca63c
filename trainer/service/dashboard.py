"""The dashboard: one HTML page and its static files, served from the package's data.

The page and ``/static/...`` hold no data, so they are public; the page's scripts call the API with
the session cookie and show the login form on a 401. ``GET /`` and ``GET /jobs/{id}`` answer the page
when the request's ``Accept`` prefers ``text/html`` (a browser's navigation) and the API's JSON
otherwise (``fetch``, curl, httpx).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .problems import problem

__all__ = ["Dashboard", "prefers_html", "shows_page"]

_PACKAGE = "trainer.service"
STATIC_PREFIX = "/static/"

# Nothing but the service's own scripts, styles and API: no inline script, no other origin, no framing.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def prefers_html(accept: str) -> bool:
    """Whether an ``Accept`` header ranks ``text/html`` above ``application/json``.

    Each type takes the quality of the most specific range that matches it (RFC 9110, 12.5.1). A
    browser's navigation sends ``text/html,...,*/*;q=0.8``; ``fetch`` and most clients send ``*/*``,
    which ranks both alike: not a preference, so they get JSON.
    """
    html = _quality(accept, "text", "html")
    return html > 0 and html > _quality(accept, "application", "json")


def _quality(accept: str, kind: str, subtype: str) -> float:
    best_specificity, quality = -1, 0.0
    for media_range in accept.split(","):
        media, *parameters = (part.strip() for part in media_range.split(";"))
        range_kind, _, range_subtype = media.lower().partition("/")
        if range_kind == kind and range_subtype == subtype:
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == "*" and range_subtype in ("*", ""):
            specificity = 0
        else:
            continue
        if specificity <= best_specificity:
            continue
        best_specificity, quality = specificity, 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
    return quality


def shows_page(conn: HTTPConnection) -> bool:
    """Whether this is a browser asking for the page: ``GET /`` or ``GET /jobs/{id}``, HTML preferred."""
    if conn.scope.get("method") not in ("GET", "HEAD"):
        return False
    path = conn.url.path
    job_id = path.removeprefix("/jobs/")
    one_job = path.startswith("/jobs/") and job_id != "" and "/" not in job_id
    return (path == "/" or one_job) and prefers_html(conn.headers.get("accept", ""))


@cache
def _page_text() -> str:
    return resources.files(_PACKAGE).joinpath("static", "dashboard.html").read_text(encoding="utf-8")


class Dashboard:
    """ASGI middleware that answers the dashboard's page and ``/static/...`` files itself, from the
    package's data, and passes every other request on. Placed before authentication: neither holds
    any data (the page's scripts call the API with the session cookie, and show the login form on a
    401); placed after the Host check, like everything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.static = StaticFiles(packages=[(_PACKAGE, "static")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            conn = HTTPConnection(scope)
            if conn.url.path.startswith(STATIC_PREFIX):
                # As a Mount at /static would: the files' paths are relative to it.
                root_path = scope.get("root_path", "") + STATIC_PREFIX.rstrip("/")
                try:
                    await self.static({**scope, "root_path": root_path}, receive, send)
                except HTTPException as error:  # outside the app, so answered here: in JSON, as everywhere
                    headers = dict(error.headers) if error.headers else None
                    await problem(error.status_code, str(error.detail), headers=headers)(scope, receive, send)
                return
            if shows_page(conn):
                await HTMLResponse(_page_text(), headers=_HEADERS)(scope, receive, send)
                return
        await self.app(scope, receive, send)
