"""The example service, run as its own process on 127.0.0.1 (as a user starts it), for the service tests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SERVICE = Path(__file__).parents[2] / "examples" / "service.py"


@contextmanager
def running_service(*options: str) -> Iterator[str]:
    """Start ``examples/service.py`` with ``options`` on a port of its choosing (``--port 0``); yield
    the base URL it prints once it answers there; stop it on leaving."""
    command = [sys.executable, str(SERVICE), "--port", "0", *options]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as service:
        try:
            url = served_at(service)
            wait_until_answering(url, service)
            yield url
        finally:
            stop(service)


def served_at(service: subprocess.Popen[str]) -> str:
    """The URL in the service's first line, ``serving on http://HOST:PORT (Ctrl-C stops)``."""
    assert service.stdout is not None
    first_line = service.stdout.readline()  # at the end of output if it exited first
    if not first_line.startswith("serving on "):
        service.wait(timeout=30)
        raise RuntimeError(f"the service exited with {service.returncode} before saying where it serves")
    return first_line.split()[2]


def stop(service: subprocess.Popen[str]) -> None:
    """Ask the service to stop; kill it if it has not within 30 s (never wait for it forever)."""
    service.terminate()
    try:
        service.wait(timeout=30)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait()


def wait_until_answering(url: str, service: subprocess.Popen[str]) -> None:
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
