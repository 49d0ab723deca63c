"""A local Ray for the tests of the Ray executor: started once per session, on loopback only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import ModuleType

import pytest

from trainer.jobs.ray_executor import LOOPBACK_ENV

RAY_CPUS = 2


@pytest.fixture(scope="session")
def local_ray() -> Iterator[ModuleType]:
    """``ray.init(num_cpus=2)`` with every byte on loopback (the environment variable must be set
    before Ray is imported), shut down when the session ends."""
    os.environ[LOOPBACK_ENV] = "0"
    import ray

    # "local": a Ray of its own, never a cluster that `ray start` left running on this machine.
    ray.init(address="local", num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
