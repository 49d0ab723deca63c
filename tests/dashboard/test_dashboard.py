"""The dashboard in a real headless Chromium, against the service started as a user starts it."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from ..service.server import Service
from .conftest import ARTIFACTS, log_in

EPOCHS = 300  # long enough to cancel mid-run; each epoch is a fraction of a second
FORM = {"layers": "16", "samples": "2048", "batch_size": "16", "validation_split": "0.25", "epochs": str(EPOCHS)}
LONG = 60_000  # ms: the machine is shared, and a whole run is asked for


def fill(page: Page, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        page.fill(f"#param-{name}", value)


def counter(page: Page) -> int:
    return int(page.get_attribute("#job [data-field=epoch]", "data-done") or 0)


def points(page: Page, metric: str) -> int:
    return int(page.get_attribute(f'#epoch-charts figure[data-metric="{metric}"]', "data-points") or 0)


def drawn(page: Page, metric: str) -> list[list[float | None]]:
    """What the metric's panel holds: epochs (from 1), then training and validation values."""
    data: list[list[float | None]] = page.evaluate(
        f"""document.querySelector('#epoch-charts figure[data-metric="{metric}"]').plot.data"""
    )
    return data


def wait_for_epochs(page: Page, more_than: int) -> None:
    """Until the page's epoch counter passes ``more_than`` (the page may still be laying itself out)."""
    page.wait_for_function(
        f"() => Number(document.querySelector('#job [data-field=epoch]')?.dataset.done) > {more_than}", timeout=LONG
    )


def wait_for_status(page: Page, status: str, timeout: float = LONG) -> None:
    expect(page.locator("#job")).to_have_attribute("data-status", status, timeout=timeout)


def stored_epochs(service: Service, job_id: str) -> dict[int, dict[str, Any]]:
    """The logs of each epoch in the service's stored history (the last run of an epoch wins)."""
    epochs: dict[int, dict[str, Any]] = {}
    with httpx.stream("GET", f"{service.url}/jobs/{job_id}/events", headers=service.headers, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                record = json.loads(line.removeprefix("data: "))
                if record["event"] == "EpochEnd":
                    epochs[record["epoch"]] = record["logs"]
    return epochs


def test_log_in_submit_watch_it_train_cancel_resume_and_see_it_complete(page: Page, service: Service) -> None:
    page.goto(service.url + "/")
    page.fill("#token", "not-the-token-of-this-service")
    page.click("#login button[type=submit]")
    expect(page.locator("#login .message")).to_have_text("That is not the service's token.")
    log_in(page, service)
    (cookie,) = page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("trainer_session", True, "Strict")
    assert service.token not in cookie["value"]

    fill(page, FORM)
    page.fill("#job-name", "watched")
    page.click("#submit button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[^/]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#job h2")).to_have_text("watched")
    wait_for_status(page, "running")

    # The counter and the curve grow while it trains, epoch by epoch.
    wait_for_epochs(page, 1)
    first = (counter(page), points(page, "loss"))
    page.wait_for_function(
        f"""() => Number(document.querySelector('#job [data-field=epoch]').dataset.done) > {first[0]}
              && Number(document.querySelector('#epoch-charts figure[data-metric="loss"]')?.dataset.points) > {first[1]}""",
        timeout=LONG,
    )
    assert points(page, "accuracy") >= 2
    page.wait_for_function("() => Number(document.querySelector('#batch-chart figure')?.dataset.drawn) > 0", timeout=LONG)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-job.png"), full_page=True)

    page.click("#cancel")
    wait_for_status(page, "cancelled")
    expect(page.locator("#resume")).to_be_enabled()
    expect(page.locator("#cancel")).to_be_disabled()
    stopped = counter(page)
    assert 2 <= stopped < EPOCHS

    page.click("#resume")
    wait_for_status(page, "completed", timeout=300_000)
    assert counter(page) == EPOCHS
    expect(page.locator("#job [data-field=attempts]")).to_have_text("2")

    # Every epoch once, training and validation, with the service's own numbers: nothing lost across
    # the cancel and the resume, nothing twice.
    stored = stored_epochs(service, job_id)
    assert sorted(stored) == list(range(EPOCHS))
    for metric in ("loss", "accuracy"):
        epochs, training, validation = drawn(page, metric)
        assert epochs == list(range(1, EPOCHS + 1))
        assert training == [stored[epoch][metric] for epoch in range(EPOCHS)]
        assert validation == [stored[epoch][f"val_{metric}"] for epoch in range(EPOCHS)]

    row = page.locator(f'#jobs tr[data-job-id="{job_id}"]')
    expect(row.locator("[data-field=status]")).to_have_text("completed")
    expect(row.locator("[data-field=epoch]")).to_have_text(f"{EPOCHS} / {EPOCHS}")
    expect(row.locator("[data-field=attempts]")).to_have_text("2")

    # Offline: the page asked the service for everything, and nothing else.
    assert page.requested and all(url.startswith(service.url + "/") for url in page.requested)  # type: ignore[attr-defined]


def test_a_bad_field_shows_the_services_own_message_beside_it(page: Page, service: Service) -> None:
    log_in(page, service)
    fill(page, {"epochs": "0", "layers": "16, 0", "learning_rate": "fast"})
    page.click("#submit button[type=submit]")
    expect(page.locator("[data-error-for=epochs]")).not_to_be_empty()

    answer = httpx.post(
        f"{service.url}/jobs",
        json={"template": "mlp", "params": {"epochs": 0, "layers": [16, 0], "learning_rate": "fast"}},
        headers=service.headers,
    )
    assert answer.status_code == 422
    reasons = {detail["field"]: detail["reason"] for detail in answer.json()["details"]}
    expect(page.locator("[data-error-for=epochs]")).to_have_text(reasons["params.epochs"])
    expect(page.locator("[data-error-for=layers]")).to_have_text(f"1: {reasons['params.layers.1']}")
    expect(page.locator("[data-error-for=learning_rate]")).to_have_text(reasons["params.learning_rate"])
    expect(page.locator(".field[data-field=epochs]")).to_have_class(re.compile(r"\binvalid\b"))
    assert page.url == service.url + "/"  # nothing submitted
