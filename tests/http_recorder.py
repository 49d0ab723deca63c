"""A minimal HTTP/1.1 server for tests, served by an anyio task group on the caller's event loop.

It records every request and answers each with a status of the test's choosing, after whatever wait
the test likes, so that a client's behaviour against slow or failing servers can be checked without
any thread. What it supports, and nothing more:

* one request per connection: it reads the request, answers, and closes (``Connection: close``);
* a request line ``METHOD TARGET VERSION``, header lines up to the blank line (at most
  :data:`MAX_HEAD_BYTES` in all), and a body of exactly ``Content-Length`` bytes (none if absent);
  no chunked bodies, no ``Expect: 100-continue``, no TLS;
* answers carry no body: ``HTTP/1.1 <status> <reason>``, ``Content-Length: 0``, ``Connection: close``.

A request it cannot parse is answered 400 and not recorded; a client that hangs up before the
answer is sent is not an error (a client timing out does exactly that).

Run as a program, it serves until terminated, answering every request after ``--delay`` seconds,
and prints its root address on the first line of stdout once it accepts connections::

    python -m tests.http_recorder [--delay 0.05] [--status 200]
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus

import anyio
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["MAX_HEAD_BYTES", "Answer", "Request", "recording_server"]

MAX_HEAD_BYTES = 64 * 1024
"""The most bytes a request line and its headers may take, blank line included."""

Answer = Callable[[], int | Awaitable[int]]
"""Called once per request, after it is recorded: returns (or, if async, returns when it likes) the status."""


@dataclass(frozen=True)
class Request:
    """One request as received: header names keep the case the client sent them in."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class BadRequest(Exception):
    """The bytes received are not a request this server understands."""


@asynccontextmanager
async def recording_server(answer: Answer) -> AsyncIterator[tuple[str, list[Request]]]:
    """Serve on a free port of 127.0.0.1 from a task group on the current event loop.

    Yields the root address (``http://127.0.0.1:<port>``) and the list that each request is appended
    to, in the order their bodies finished arriving, before ``answer`` is called for it. The port
    accepts connections as soon as this yields. On leaving, the task group is cancelled: requests
    still waiting for ``answer`` are dropped unanswered and the port is closed. An exception raised by
    ``answer`` is not caught: it ends the server. As from any task group, an exception from ``answer``
    or from the body comes out of the ``async with`` inside an ExceptionGroup.
    """
    requests: list[Request] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    root = f"http://127.0.0.1:{listener.extra(SocketAttribute.local_port)}"
    async with listener, anyio.create_task_group() as serving:
        serving.start_soon(listener.serve, partial(_serve_connection, answer, requests))
        try:
            yield root, requests
        finally:
            serving.cancel_scope.cancel()


async def _serve_connection(answer: Answer, requests: list[Request], stream: SocketStream) -> None:
    """Read one request from ``stream``, record it, answer it with ``answer``'s status, and close."""
    async with stream:
        try:
            request = await _read_request(BufferedByteReceiveStream(stream))
        except BadRequest:
            await _send_status(stream, HTTPStatus.BAD_REQUEST)
            return
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
            return  # the client hung up mid-request: there is nobody to answer
        requests.append(request)
        status = answer()
        if inspect.isawaitable(status):
            status = await status
        await _send_status(stream, status)


async def _read_request(received: BufferedByteReceiveStream) -> Request:
    """The next request on ``received``: head up to the blank line, then ``Content-Length`` bytes.

    Raises :class:`BadRequest` for a malformed head, and anyio's IncompleteRead if the client closes
    before the request is complete.
    """
    try:
        head = await received.receive_until(b"\r\n\r\n", MAX_HEAD_BYTES)
    except anyio.DelimiterNotFound as error:
        raise BadRequest(f"no blank line within {MAX_HEAD_BYTES} bytes") from error
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequest(f"not a request line: {request_line!r}")
    headers = _parse_headers(header_lines)
    length = _content_length(headers)
    body = await received.receive_exactly(length) if length else b""
    return Request(method=parts[0], path=parts[1], headers=headers, body=body)


def _parse_headers(lines: list[str]) -> dict[str, str]:
    """``Name: value`` lines as a dict, names as sent, values stripped; a repeated name keeps its last value."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise BadRequest(f"not a header line: {line!r}")
        headers[name] = value.strip()
    return headers


def _content_length(headers: dict[str, str]) -> int:
    """The body's length from ``Content-Length`` (looked up whatever its case); 0 if absent."""
    values = [value for name, value in headers.items() if name.lower() == "content-length"]
    if not values:
        return 0
    if not values[0].isdigit():
        raise BadRequest(f"not a Content-Length: {values[0]!r}")
    return int(values[0])


async def _send_status(stream: SocketStream, status: int) -> None:
    """Send a body-less answer; a client that has already hung up (timed out, say) is let be."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    answer = f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    try:
        await stream.send(answer.encode("latin-1"))
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass


async def _serve_until_cancelled(delay: float, status: int) -> None:
    """The program: a server whose every answer takes ``delay`` seconds; its root on stdout's first line."""

    async def slow_answer() -> int:
        await anyio.sleep(delay)
        return status

    async with recording_server(slow_answer) as (root, requests):
        print(root, flush=True)
        while True:
            # Nobody reads the record in this mode: keep it from growing for as long as it runs.
            requests.clear()
            await anyio.sleep(60)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--status", type=int, default=200, help="the status of every answer")
    args = parser.parse_args(argv)
    try:
        anyio.run(_serve_until_cancelled, args.delay, args.status)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
