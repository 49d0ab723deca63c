"""A job on a two-node Ray cluster (``ray.cluster_utils.Cluster``, both nodes on this machine, on
loopback) whose node is lost mid-run, resumed on the other node; prints one JSON line.

    python -m tests.jobs.two_nodes WORKDIR

Run as its own process by the tests: a process joins one Ray cluster at a time, and the tests'
session already has one.
"""

from __future__ import annotations

import json
import os
import sys
from functools import partial

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray is imported: loopback only

from typing import Any  # noqa: E402

import anyio  # noqa: E402
import psutil  # noqa: E402
import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from trainer.events import EpochBegin, EpochEnd  # noqa: E402
from trainer.jobs import JobManager, RayExecutor  # noqa: E402

from .specs import NODE_LOSS_EPOCHS, remote_spec  # noqa: E402


async def lose_a_node_and_resume(cluster: Cluster, workdir: str) -> dict[str, object]:
    first = cluster.add_node(num_cpus=1)  # the head has no CPU for jobs: the first run trains here
    cluster.wait_for_nodes()
    first_node_raylet = _pid(first, "raylet")
    async with JobManager(workdir=workdir, executor=RayExecutor()) as jobs:
        weights = os.path.join(workdir, "resumed.weights.npz")
        job = jobs.submit(partial(remote_spec, epochs=NODE_LOSS_EPOCHS, pace=0.01, weights_to=weights))
        async with jobs.bus.stream(EpochEnd) as ends:
            async for end in ends:
                if end.epoch >= 2:  # epoch 1 backed up by now (a backup is written while the next epoch trains)
                    break
        first_raylet = _raylet_of(job.worker)
        cluster.remove_node(first)  # its raylet and its workers are killed: the node is lost
        with anyio.fail_after(30):
            failed = await job.wait()
        error = job.error
        cluster.add_node(num_cpus=1)  # another machine joins; the job resumes there
        first_run = len(job.history())
        jobs.resume(job.id)
        resumed = await job.wait()
        second_raylet = _raylet_of(job.worker)
    resumed_at = [e.epoch for e in job.history()[first_run:] if isinstance(e, EpochBegin)][0]
    return {"failed": failed.value, "error": error, "resumed": resumed.value, "first_raylet": first_raylet,
            "first_node_raylet": first_node_raylet, "second_raylet": second_raylet, "resumed_at": resumed_at,
            "weights": weights}  # fmt: skip


def _raylet_of(worker: dict[str, object] | None) -> int:
    """The pid of the raylet (one per node) that started the worker process: which node it is on."""
    assert worker is not None
    return psutil.Process(int(worker["pid"])).ppid()  # type: ignore[call-overload]


def _pid(node: Any, kind: str) -> int:
    return int(node.all_processes[kind][0].process.pid)


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        print(json.dumps(anyio.run(lose_a_node_and_resume, cluster, sys.argv[1])), flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
