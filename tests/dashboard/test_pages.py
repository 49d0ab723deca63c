"""What the service answers for the dashboard: the page and its files to anyone, the data only with the token."""

from __future__ import annotations

from importlib import resources

import httpx
import pytest

from trainer.service.dashboard import prefers_html

from ..service.server import Service

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER, True),
        ("*/*", False),  # fetch, curl, httpx: no preference, so the API's JSON
        ("", False),
        ("application/json", False),
        ("text/event-stream", False),
        ("text/html;q=0.5, application/json", False),
        ("application/json;q=0.5, text/*", True),
        ("text/html;q=0", False),
        ("text/html;q=bogus, */*", False),
        ("TEXT/HTML", True),
    ],
)
def test_the_page_is_for_requests_that_prefer_html(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


def test_the_page_and_its_files_need_no_token_and_hold_no_data(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for path in ("/", "/jobs/some-id"):
            page = client.get(path, headers={"Accept": BROWSER})
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert '<script type="module" src="/static/js/main.js"></script>' in page.text
            policy = page.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        package = resources.files("trainer.service") / "static"
        for path in ("js/main.js", "js/feed.js", "dashboard.css", "vendor/uplot/uPlot.iife.min.js", "vendor/uplot/LICENSE"):
            served = client.get(f"/static/{path}")
            assert served.status_code == 200, path
            assert served.content == (package / path).read_bytes()
        assert client.get("/static/js/main.js").headers["content-type"].startswith("text/javascript")
        assert "MIT License" in client.get("/static/vendor/uplot/LICENSE").text
        for path in ("/static/nothing.js", "/static/%2e%2e/token", "/static/%2e%2e/%2e%2e/service/app.py"):
            missing = client.get(path)
            assert missing.status_code == 404 and missing.json()["error"], path


def test_everything_else_needs_the_token_or_the_cookie_html_or_not(service: Service) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for path, accept in [("/jobs", BROWSER), ("/templates", BROWSER), ("/jobs/x/events", BROWSER),
                             ("/", "application/json"), ("/jobs/x", "*/*")]:  # fmt: skip
            refused = client.get(path, headers={"Accept": accept})
            assert refused.status_code == 401, (path, accept)
            assert refused.json()["details"] == []
        assert client.post("/jobs", json={"template": "mlp"}, headers={"Accept": BROWSER}).status_code == 401

        assert client.post("/login", json={"token": "wrong-wrong-wrong-wrong"}).status_code == 401
        assert "trainer_session" not in client.cookies
        logged_in = client.post("/login", json={"token": service.token})
        assert logged_in.status_code == 200
        cookie = logged_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert service.token not in logged_in.headers["set-cookie"]
        assert client.get("/templates").json()["templates"][0]["name"] == "mlp"
        assert client.get("/jobs", headers={"Accept": "application/json"}).status_code == 200
