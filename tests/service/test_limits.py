"""What one request can cost is bounded: model and work limits, a backup quota, retention of finished jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from trainer.jobs import JobStatus
from trainer.service import Retention
from trainer.service.records import ServiceJob

from .client import SMALL, events_of, submit
from .server import Service, running_service

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client_for(tmp_path: Path) -> AsyncIterator[Any]:
    """Start a service with the options given; it stops when the test ends."""

    async def opened(*options: str) -> tuple[Service, httpx.AsyncClient]:
        service = stack.enter_context(running_service(tmp_path / "service", *options))
        return service, httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=60)

    with ExitStack() as stack:
        yield opened


async def test_a_job_past_the_limits_is_refused_naming_the_limit(client_for: Any) -> None:
    service, client = await client_for("--max-params", "100000")
    async with client:
        big_model = await client.post("/jobs", json={"template": "mlp", "params": {"layers": [1024] * 8}})
        assert big_model.status_code == 422
        assert "max_params (100,000)" in big_model.json()["details"][0]["reason"]
        years = {"layers": [16], "samples": 200_000, "epochs": 10_000}
        long_job = await client.post("/jobs", json={"template": "mlp", "params": years})
        assert long_job.status_code == 422
        assert "200,000 samples x 10,000 epochs" in long_job.json()["details"][0]["reason"]
        assert "max_sample_epochs" in long_job.json()["details"][0]["reason"]
        assert (await client.get("/jobs")).json()["jobs"] == []


async def backed_up(workdir: Path, job_id: str) -> None:
    with anyio.fail_after(30):
        while not any((workdir / "jobs" / job_id).glob("*.backup.npz")):
            await anyio.sleep(0.01)


async def test_backups_over_the_quota_are_pruned_and_their_jobs_say_so(client_for: Any, tmp_path: Path) -> None:
    service, client = await client_for("--backup-quota-mb", "0")
    async with client:
        job_id = await submit(client, epochs=5000)
        await backed_up(tmp_path / "service", job_id)
        assert (await client.delete(f"/jobs/{job_id}")).json()["status"] == "cancelled"
        # The job is marked first, then its files go (a crash in between leaves no job pointing at
        # a half-deleted backup): both are waited for.
        with anyio.fail_after(30):
            while (await client.get(f"/jobs/{job_id}")).json()["backup"]:
                await anyio.sleep(0.05)
            while (tmp_path / "service" / "jobs" / job_id).exists():
                await anyio.sleep(0.05)
        refused = await client.post(f"/jobs/{job_id}/resume")
        assert refused.status_code == 409 and "pruned" in refused.json()["error"]


async def test_only_the_newest_finished_jobs_are_kept(client_for: Any, tmp_path: Path) -> None:
    service, client = await client_for("--keep-finished", "2")
    async with client:
        ids = []
        for _ in range(3):
            ids.append(await submit(client, epochs=1))
            await events_of(client, ids[-1])
        with anyio.fail_after(30):
            while (await client.get(f"/jobs/{ids[0]}")).status_code != 404:
                await anyio.sleep(0.05)
        assert [job["id"] for job in (await client.get("/jobs")).json()["jobs"]] == ids[1:]


async def test_a_teams_own_templates_are_served_with_their_schema(client_for: Any) -> None:
    service, client = await client_for("--app", "tests.service.templates:TEMPLATES")
    async with client:
        templates = {t["name"]: t for t in (await client.get("/templates")).json()["templates"]}
        assert set(templates) == {"mlp", "regression"}
        assert templates["regression"]["schema"]["required"] == ["tag"]
        assert "weights" in templates["regression"]["description"]
        document = (await client.get("/openapi.json")).json()
        assert document["components"]["schemas"]["RegressionParams"]["properties"]["epochs"]["maximum"] == 200
        bad = await client.post("/jobs", json={"template": "regression", "params": {"tag": "Not OK!"}})
        assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "params.tag"
        assert (await client.post("/jobs", json={"template": "mlp", "params": SMALL})).status_code == 201


def job(job_id: str, status: JobStatus, finished_at: float) -> ServiceJob:
    return ServiceJob(job_id, job_id, "mlp", {}, status=status, submitted_at=0.0, finished_at=finished_at)


def test_retention_forgets_by_count_and_by_age() -> None:
    day = 86_400.0
    jobs = [job("old", JobStatus.COMPLETED, 0.0), job("a", JobStatus.FAILED, 50 * day), job("b", JobStatus.COMPLETED, 55 * day),
            job("c", JobStatus.CANCELLED, 56 * day), job("running", JobStatus.RUNNING, 1.0)]  # fmt: skip
    assert Retention(keep_finished=10, max_age_days=30).expired(jobs, now=60 * day) == ["old"]
    assert Retention(keep_finished=2, max_age_days=365).expired(jobs, now=60 * day) == ["old", "a"]


def test_the_backup_quota_prunes_the_first_finished_resumable_jobs() -> None:
    jobs = [job("a", JobStatus.CANCELLED, 1.0), job("b", JobStatus.FAILED, 2.0), job("done", JobStatus.COMPLETED, 0.0),
            job("c", JobStatus.CANCELLED, 3.0)]  # fmt: skip
    sizes = {"a": 100, "b": 100, "c": 100, "done": 10_000}
    assert Retention(backup_quota_bytes=200).over_quota(jobs, sizes) == ["a"]
    assert Retention(backup_quota_bytes=0).over_quota(jobs, sizes) == ["a", "b", "c"]
    assert Retention(backup_quota_bytes=300).over_quota(jobs, sizes) == []


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="keep_finished"):
        Retention(keep_finished=0)
    with pytest.raises(ValueError, match="max_age_days"):
        Retention(max_age_days=-1)
