"""The service run as a user runs it, ``python -m trainer.service`` in its own process on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[2]


@dataclass
class Service:
    url: str
    token: str
    process: subprocess.Popen[str]
    second_line: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to write or clean anything up."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def running_service(workdir: str | os.PathLike[str], *options: str, env: dict[str, str] | None = None) -> ContextManager[Service]:
    """Start the service on ``workdir`` with ``options`` on a port of its choosing (``--port 0``);
    yield it once it answers; stop it on leaving (if it still runs)."""
    return running_service_command([sys.executable, "-m", "trainer.service"], workdir, *options, env=env)


@contextmanager
def running_service_command(
    start: list[str], workdir: str | os.PathLike[str], *options: str, env: dict[str, str] | None = None
) -> Iterator[Service]:
    """:func:`running_service`, started by the command ``start`` (a script that serves it, say)."""
    command = [*start, "--workdir", str(workdir), "--port", "0", *options]
    environment = {**os.environ, **(env or {})}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=environment) as process:
        try:
            url = served_at(process)
            assert process.stdout is not None
            second_line = process.stdout.readline()
            wait_until_answering(url, process)
            token = environment.get("TRAINER_SERVICE_TOKEN") or token_in(second_line)
            yield Service(url, token, process, second_line)
        finally:
            stop(process)


def token_in(second_line: str) -> str:
    """The token, read from the file the service's second line names: ``the token is in PATH; ...``."""
    path = second_line.removeprefix("the token is in ").split(";")[0]
    return Path(path).read_text().strip()


def served_at(process: subprocess.Popen[str]) -> str:
    """The URL in the service's first line, ``serving on http://HOST:PORT (Ctrl-C stops)``."""
    assert process.stdout is not None
    first_line = process.stdout.readline()  # at the end of output if it exited first
    if not first_line.startswith("serving on "):
        process.wait(timeout=30)
        raise RuntimeError(f"the service exited with {process.returncode} before saying where it serves")
    return first_line.split()[2]


def stop(process: subprocess.Popen[str]) -> None:
    """Ask the service to stop; kill it if it has not within 30 s (never wait for it forever)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_answering(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode} before answering")
        try:
            httpx.get(f"{url}/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"the service did not answer at {url} within 30 s")
