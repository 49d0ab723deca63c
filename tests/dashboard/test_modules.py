"""The page's merging of what it is told, run in the browser: records and events in any order, repeats, replays."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from ..service.server import Service


def run(page: Page, service: Service, script: str) -> Any:
    page.goto(service.url + "/static/dashboard.css")  # any page of the service's origin, to import from
    return page.evaluate(f"async () => {{ {script} }}")


def test_a_feed_passes_each_stored_event_once_and_every_batch_event(page: Page, service: Service) -> None:
    received = run(page, service, """
        const { Feed } = await import("/static/js/feed.js");
        const got = [];
        const feed = new Feed("/events", (record, id) => got.push([record.n, id]), { lastId: 5 });
        const message = (id, n) => feed.receive(new MessageEvent("EpochEnd", { data: JSON.stringify({ n }), lastEventId: id }));
        message("4", "replayed before the resume point");
        message("6", "a");
        message("7", "b");
        message("6", "a again, from a stream opened by hand from an older id");
        message("7", "batch after b: no id of its own, so lastEventId stays 7");
        message("8", "c");
        message("", "from a stream without ids");
        return got;
    """)  # fmt: skip
    assert received == [
        ["a", 6],
        ["b", 7],
        ["batch after b: no id of its own, so lastEventId stays 7", 7],
        ["c", 8],
        ["from a stream without ids", None],
    ]


def test_a_job_moves_only_forward_whatever_order_its_record_and_events_arrive_in(page: Page, service: Service) -> None:
    seen = run(page, service, """
        const { JobState } = await import("/static/js/jobstate.js");
        const job = new JobState("j");
        const snapshot = () => [job.status, job.attempts, job.epoch, job.logs.loss ?? null];
        const states = [];
        job.applyEvent({ event: "JobStatusChanged", status: "running", attempt: 1 });
        job.applyEvent({ event: "EpochEnd", epoch: 3, logs: { loss: 0.3 } });
        states.push(snapshot());
        // A record fetched before those events, answered after them: it changes nothing.
        job.applyRecord({ id: "j", status: "queued", attempts: 1, epoch: 1, logs: { loss: 0.5 } });
        states.push(snapshot());
        job.applyEvent({ event: "JobStatusChanged", status: "cancelled", attempt: 1 });
        job.applyEvent({ event: "JobStatusChanged", status: "running", attempt: 1 });  // late: ignored
        states.push(snapshot());
        job.applyEvent({ event: "JobStatusChanged", status: "queued", attempt: 2 });   // resumed
        job.applyEvent({ event: "EpochEnd", epoch: 3, logs: { loss: 0.25 } });         // epoch 3 run again
        states.push(snapshot());
        job.applyRecord({ id: "j", status: "completed", attempts: 2, epoch: 9, logs: { loss: 0.1 } });
        job.applyEvent({ event: "EpochEnd", epoch: 8, logs: { loss: 0.11 } });         // replayed
        states.push(snapshot());
        return states;
    """)  # fmt: skip
    assert seen == [
        ["running", 1, 3, 0.3],
        ["running", 1, 3, 0.3],
        ["cancelled", 1, 3, 0.3],
        ["queued", 2, 3, 0.25],
        ["completed", 2, 9, 0.1],
    ]
