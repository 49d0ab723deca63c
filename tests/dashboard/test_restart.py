"""The page follows a job across a crash of the service and its restart, by itself, losing no epoch."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from playwright.sync_api import Browser, Request, expect

from ..service.server import running_service
from .conftest import log_in
from .test_dashboard import counter, drawn, stored_epochs, wait_for_epochs, wait_for_status

# Long enough that the resumed job still trains when the page's streams retry (EventSource waits
# about 3 s): a batch event nobody listens to is not made, so an epoch takes only milliseconds.
EPOCHS = 360
PARAMS = {"layers": [16], "samples": 2048, "batch_size": 16, "validation_split": 0.25, "epochs": EPOCHS}


def test_the_page_follows_a_job_across_a_crash_and_restart_of_the_service(browser: Browser, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    resumed_from: dict[str, str] = {}  # the Last-Event-ID each stream of the page reconnected with

    def reconnecting(request: Request) -> None:
        if "/events" not in request.url:
            return
        # EventSource reconnects with a Last-Event-ID header; if the restarting service answered it with
        # an error status, the page opens the stream again itself, from ?last_event_id=.
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        last = request.all_headers().get("last-event-id") or next(iter(query.pop("last_event_id", [])), None)
        if last is not None:
            resumed_from[url.path + "?" + urlencode(query, doseq=True)] = last

    page.on("request", reconnecting)
    try:
        with running_service(tmp_path) as first:
            log_in(page, first)
            answer = httpx.post(f"{first.url}/jobs", json={"template": "mlp", "params": PARAMS}, headers=first.headers)
            assert answer.status_code == 201, answer.text
            job_id = answer.json()["id"]
            page.goto(f"{first.url}/jobs/{job_id}")
            wait_for_epochs(page, 2)
            first.kill()  # SIGKILL: no goodbye to the page's streams
            seen = counter(page)
            assert seen < EPOCHS
        # The same address (and token, so the page's session cookie holds): the page's EventSource
        # reconnects on its own with Last-Event-ID, and the service resumes the job from its backup.
        with running_service(tmp_path, "--port", str(urlsplit(first.url).port)) as second:
            assert second.url == first.url
            wait_for_status(page, "completed", timeout=300_000)
            assert counter(page) == EPOCHS
            expect(page.locator("#job [data-field=attempts]")).to_have_text("2")
            # Each of the page's three streams came back by itself, from where it had stopped.
            assert set(resumed_from) == {"/events?", f"/jobs/{job_id}/events?", f"/jobs/{job_id}/events?level=batch"}
            assert all(int(last) > 0 for last in resumed_from.values())
            epochs, training, validation = drawn(page, "loss")
            assert epochs == list(range(1, EPOCHS + 1))
            assert None not in training and None not in validation
            # The service's stored history may lack the last epochs before the kill (its journal
            # commits every 50 ms; the page had them live): every epoch it has, the page drew alike.
            stored = stored_epochs(second, job_id)
            assert len(stored) >= EPOCHS - 5
            for epoch, logs in stored.items():
                assert (training[epoch], validation[epoch]) == (logs["loss"], logs["val_loss"])
            row = page.locator(f'#jobs tr[data-job-id="{job_id}"]')
            expect(row.locator("[data-field=status]")).to_have_text("completed")
    finally:
        context.close()
