"""A real headless Chromium (Debian's ``chromium``, driven by Playwright), and the service as a user starts it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ..service.server import Service, running_service

CHROMIUM = os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium")
# Headless, and nothing of its own on the network: the page must work offline, from the service alone.
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The service as a user starts it: ``python -m trainer.service --workdir DIR --port 0``."""
    with running_service(tmp_path_factory.mktemp("dashboard"), "--max-concurrent", "2") as running:
        yield running


@pytest.fixture
def page(browser: Browser, service: Service) -> Iterator[Page]:
    """A fresh browser context (no cookie yet). Every request it makes is recorded in ``page.requested``;
    leaving, the test fails if a script threw or the page broke its own Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None)
    page.requested = requested  # type: ignore[attr-defined]
    try:
        yield page
        assert problems == []
    finally:
        context.close()


def log_in(page: Page, service: Service) -> None:
    page.goto(service.url + "/")
    page.fill("#token", service.token)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#submit")
