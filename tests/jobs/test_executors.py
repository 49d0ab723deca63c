"""The executor seam: what a JobManager accepts, the in-process default, and the Ray executor's bad input."""

from __future__ import annotations

import os
import sys

import pytest

from trainer.jobs import Executor, InProcessExecutor, JobManager, JobStatus, RayExecutor, job_record

from .specs import spec_builder


@pytest.mark.anyio
async def test_in_process_is_the_default_and_the_job_runs_in_this_process() -> None:
    async with JobManager() as jobs:
        assert isinstance(jobs.executor, InProcessExecutor)
        job = jobs.submit(spec_builder(epochs=1))
        assert job.worker is None and job_record(job)["worker"] is None
        assert await job.wait() is JobStatus.COMPLETED
    assert job_record(job)["worker"] == {"host": job.worker["host"], "pid": os.getpid()}  # type: ignore[index]


def test_both_executors_are_executors() -> None:
    assert isinstance(InProcessExecutor(), Executor) and isinstance(RayExecutor(), Executor)


def test_a_manager_refuses_what_is_not_an_executor() -> None:
    with pytest.raises(TypeError, match="executor must be an Executor"):
        JobManager(executor="ray")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"address": ""}, "address must be"),
        ({"num_cpus_per_job": -1}, "num_cpus_per_job must be a number >= 0"),
        ({"backlog": 0}, "backlog must be a positive integer"),
        ({"maxsize": 2.5}, "maxsize must be a positive integer"),
        ({"flush_seconds": -0.1}, "flush_seconds must be"),
        ({"stop_timeout": True}, "stop_timeout must be"),
        ({"warm_workers": -1}, "warm_workers must be an integer >= 0"),
        ({"warm_workers": 1.5}, "warm_workers must be an integer >= 0"),
        ({"warm_workers": 2, "namespace": "team"}, "warm_workers needs namespace=None"),
    ],
)
def test_the_ray_executor_refuses_bad_settings_at_once(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RayExecutor(**arguments)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_without_ray_installed_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without Ray imports
    with pytest.raises(ImportError, match=r"the 'ray' extra.*eventbus-trainer\[ray\]"):
        async with JobManager(executor=RayExecutor("127.0.0.1:6379")):
            pass
