"""The dashboard: one HTML page and its static files, served from the package's data.

The page and ``/static/...`` hold no data, so they are public; the page's scripts call the API with
the session cookie and show the login form on a 401. ``GET /`` and ``GET /jobs/{id}`` answer the page
when the request's ``Accept`` prefers ``text/html`` (a browser's navigation) and the API's JSON
otherwise (``fetch``, curl, httpx).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

__all__ = ["PAGE_PATHS", "page", "prefers_html", "shows_page", "static_files"]

STATIC_PREFIX = "/static/"

# Nothing but the service's own scripts, styles and API: no inline script, no other origin, no framing.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
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


PAGE_PATHS = ("/", "/jobs/")


def shows_page(conn: HTTPConnection) -> bool:
    """Whether this request is a browser asking for the page: ``GET /`` or ``GET /jobs/{id}``, HTML preferred."""
    if conn.scope.get("method") not in ("GET", "HEAD"):
        return False
    path = conn.url.path
    one_job = path.startswith("/jobs/") and "/" not in path.removeprefix("/jobs/") and path != "/jobs/"
    return (path == "/" or one_job) and prefers_html(conn.headers.get("accept", ""))


def is_static(conn: HTTPConnection) -> bool:
    return conn.url.path.startswith(STATIC_PREFIX)


@cache
def _page_text() -> str:
    return resources.files("trainer.service").joinpath("static", "dashboard.html").read_text(encoding="utf-8")


async def page(request: Request) -> Response:
    """The dashboard's page; its scripts read from the address whether it shows the list or one job."""
    return HTMLResponse(_page_text(), headers=_HEADERS)


def static_files() -> BaseRoute:
    """``/static/...``: the page's scripts, styles and the vendored chart library, from package data."""
    return Mount(STATIC_PREFIX.rstrip("/"), app=StaticFiles(packages=[("trainer.service", "static")]), name="static")
