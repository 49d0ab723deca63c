"""The example service, run as its own process on 127.0.0.1 (as a user starts it), for the service tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SERVICE = Path(__file__).parents[2] / "examples" / "service.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_service(*options: str) -> Iterator[str]:
    """Start ``examples/service.py`` with ``options`` on a free port; yield its base URL once it
    answers; stop it on leaving."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen([sys.executable, str(SERVICE), "--port", str(port), *options]) as service:
        try:
            wait_until_answering(url, service)
            yield url
        finally:
            stop(service)


def stop(service: subprocess.Popen[bytes]) -> None:
    """Ask the service to stop; kill it if it has not within 30 s (never wait for it forever)."""
    service.terminate()
    try:
        service.wait(timeout=30)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait()


def wait_until_answering(url: str, service: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise RuntimeError(f"the service exited with {service.returncode} before answering")
        try:
            httpx.get(f"{url}/jobs", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"the service did not answer at {url} within 30 s")
