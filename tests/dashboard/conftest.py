"""A real headless Chromium (Debian's ``chromium``, driven by Playwright), and the service as a user starts it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ..service.server import served_at, stop, wait_until_answering

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


class Service:
    """A service process: where it answers, its workdir, and the token it wrote there."""

    def __init__(self, url: str, workdir: Path, process: subprocess.Popen[str]) -> None:
        self.url = url
        self.workdir = workdir
        self.process = process
        self.token = (workdir / "token").read_text().strip()


@contextmanager
def serving(workdir: Path, *options: str) -> Iterator[Service]:
    """``python -m trainer.service --workdir WORKDIR --port 0 OPTIONS...``, as a user starts it; stopped on leaving."""
    command = [sys.executable, "-m", "trainer.service", "--workdir", str(workdir), "--port", "0", *options]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            url = served_at(process)
            wait_until_answering(url, process)
            yield Service(url, workdir, process)
        finally:
            stop(process)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with serving(tmp_path_factory.mktemp("dashboard"), "--max-concurrent", "2") as running:
        yield running


@pytest.fixture
def page(browser: Browser, service: Service) -> Iterator[Page]:
    """A fresh browser context (no cookie yet) whose every request is recorded in ``page.requested``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.requested = requested  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


def log_in(page: Page, service: Service) -> None:
    page.goto(service.url + "/")
    page.fill("#token", service.token)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#submit")
