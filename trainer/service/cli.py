"""``python -m trainer.service`` (or ``trainer-service``): serve the training service from a workdir."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import os
import socket
import sys
from collections.abc import Sequence

from trainer.jobs import RayExecutor

from .app import ServiceSettings, create_app, default_templates, is_loopback
from .auth import TOKEN_VARIABLE, load_token
from .limits import JobLimits
from .retention import Retention
from .templates import load_templates

__all__ = ["main"]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer.service", description="Serve training jobs over HTTP.")
    parser.add_argument("--workdir", default="trainer-service", help="where the jobs' database, backups and token live (default: ./trainer-service)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port (the first line printed names it)")
    parser.add_argument("--app", action="append", default=[], metavar="MODULE:ATTR", help="job templates: a mapping of names to functions (repeatable)")
    parser.add_argument("--max-concurrent", type=int, default=2, help="jobs training at once")
    parser.add_argument("--max-queued", type=int, default=100, help="jobs waiting for a slot at most")
    parser.add_argument("--compute-slots", type=int, default=1, help="jobs computing at one moment; 0: all that run")
    parser.add_argument("--token-file", help=f"file holding the bearer token (else ${TOKEN_VARIABLE}, else WORKDIR/token, generated)")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME", help="another Host name requests may carry (repeatable)")
    parser.add_argument("--max-params", type=int, default=JobLimits.max_params, help="weights of one job's model at most")
    parser.add_argument("--max-sample-epochs", type=int, default=JobLimits.max_sample_epochs, help="samples x epochs of one job at most")
    parser.add_argument("--keep-finished", type=int, default=Retention.keep_finished, help="finished jobs kept at most")
    parser.add_argument("--max-age-days", type=float, default=Retention.max_age_days, help="finished jobs are forgotten after this")
    parser.add_argument("--executor", choices=("process", "ray"), default="process", help="where jobs train: in the service's process (default), or each in a Ray actor")
    parser.add_argument("--ray-address", metavar="ADDRESS", help="with --executor ray: the Ray cluster to join (HOST:PORT, or 'auto'); default: start a local Ray on loopback")
    parser.add_argument("--ray-cpus-per-job", type=float, default=1.0, metavar="N", help="with --executor ray: CPUs each job reserves on the cluster (default 1)")
    parser.add_argument("--ray-warm-workers", type=int, default=0, metavar="N", help="with --executor ray and a local Ray: worker processes kept ready, so a job starts at once (default 0: one started per job)")
    parser.add_argument("--ray-orphan-timeout", type=float, default=600.0, metavar="SECONDS", help="with --ray-address: a job's worker nobody reads from for this long (the service gone) stops, its backup kept (default 600)")
    parser.add_argument("--backup-quota-mb", type=float, default=Retention.backup_quota_bytes / 2**20, help="disk for the backups of cancelled and failed jobs")
    return parser


def settings_from(arguments: argparse.Namespace) -> ServiceSettings:
    """The settings the command line asks for; ValueError for what cannot be served."""
    if not is_loopback(arguments.host) and not (os.environ.get(TOKEN_VARIABLE) or arguments.token_file):
        raise ValueError(
            f"refusing to bind {arguments.host}, which is not loopback, with a generated token: set "
            f"${TOKEN_VARIABLE} or pass --token-file, and give the clients' Host names with --allowed-host"
        )
    executor = _executor(arguments)
    templates = default_templates()
    for reference in arguments.app:
        templates.update(load_templates(reference))
    return ServiceSettings(
        workdir=os.path.abspath(arguments.workdir),
        host=arguments.host,
        port=arguments.port,
        templates=templates,
        token_file=arguments.token_file,
        allowed_hosts=tuple(arguments.allowed_host),
        max_concurrent=arguments.max_concurrent,
        max_queued=arguments.max_queued,
        compute_slots=arguments.compute_slots or None,
        limits=JobLimits(max_params=arguments.max_params, max_sample_epochs=arguments.max_sample_epochs),
        retention=Retention(
            keep_finished=arguments.keep_finished,
            max_age_days=arguments.max_age_days,
            backup_quota_bytes=int(arguments.backup_quota_mb * 2**20),
        ),
        executor=executor,
    )


def _executor(arguments: argparse.Namespace) -> RayExecutor | None:
    if arguments.executor != "ray":
        for option, value in (("--ray-address", arguments.ray_address), ("--ray-warm-workers", arguments.ray_warm_workers)):
            if value:
                raise ValueError(f"{option} needs --executor ray")
        return None
    if importlib.util.find_spec("ray") is None:
        raise ValueError("--executor ray needs Ray: install the 'ray' extra, pip install 'eventbus-trainer[ray]'")
    if arguments.ray_address is None:  # a local Ray dies with the service: nothing to re-attach to
        return RayExecutor(None, arguments.ray_cpus_per_job, warm_workers=arguments.ray_warm_workers)
    if arguments.ray_warm_workers:
        raise ValueError("--ray-warm-workers needs a local Ray (no --ray-address): on a cluster each job's worker "
                         "is named after its job, so that a restarted service re-attaches to it")
    # On a cluster, the jobs' actors are detached and named in a namespace of this workdir's, so
    # the service restarted on the same workdir re-attaches to those still running.
    workdir = os.path.abspath(arguments.workdir)
    namespace = "trainer-service-" + hashlib.sha256(workdir.encode()).hexdigest()[:16]
    return RayExecutor(arguments.ray_address, arguments.ray_cpus_per_job, namespace=namespace,
                       orphan_timeout=arguments.ray_orphan_timeout)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn  # the service extra

    arguments = parser().parse_args(argv)
    try:
        settings = settings_from(arguments)
        os.makedirs(settings.workdir, exist_ok=True)
        token, token_file = load_token(settings.workdir, settings.token_file)
        app = create_app(dataclasses.replace(settings, token=token))
    except (ValueError, TypeError, ImportError) as error:
        sys.exit(f"trainer.service: {error}")
    listening = socket.create_server((settings.host, settings.port))  # --port 0: any free port, named below
    host, port = listening.getsockname()[:2]
    print(f"serving on http://{host}:{port} (Ctrl-C stops)", flush=True)
    where = f"the token is in {token_file}" if token_file else f"the token is ${TOKEN_VARIABLE}"
    print(f"{where}; send it as 'Authorization: Bearer <token>'", flush=True)
    # Open event streams would otherwise hold a shutdown until their jobs end.
    server = uvicorn.Server(uvicorn.Config(app, timeout_graceful_shutdown=2, log_level="warning", lifespan="on"))
    server.run(sockets=[listening])

