"""ASGI middleware the service wraps its app in: bodies checked as they stream, every error in JSON.

Starlette has the rest (TrustedHostMiddleware for the Host allow-list, AuthenticationMiddleware
for the token); it has nothing that limits a body while it is read, nor a JSON form of the
plain-text errors its own middleware answers.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem

__all__ = ["BodyLimit", "JSONErrors"]


class BodyLimit:
    """Reads a request's body before the app does: refuses one that is not ``application/json``
    (415) or that passes ``max_bytes`` (413: as soon as it does, the rest unread; at once when
    ``Content-Length`` says so). The app then reads the body from memory, at most ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        has_body = "transfer-encoding" in headers or (declared not in (None, "0"))
        if not has_body:
            await self.app(scope, receive, send)
            return
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            await problem(415, "the body must be JSON, sent with 'Content-Type: application/json'")(scope, receive, send)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # the client's disconnect, when it comes
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"the body is larger than {self.max_bytes} bytes", headers={"Connection": "close"})
        await response(scope, receive, send)


class JSONErrors:
    """Turns a plain-text error answer of the middleware inside (``Invalid host header``, say) into
    the service's JSON error; JSON answers and successes pass through unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        text: list[bytes] = []

        async def send_json_errors(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                if message["status"] >= 400 and content_type.startswith("text/plain"):
                    start = message
                    return
            elif start is not None and message["type"] == "http.response.body":
                text.append(message.get("body", b""))
                if not message.get("more_body", False):
                    error = b"".join(text).decode("utf-8", "replace").strip() or "error"
                    body = json.dumps({"error": error, "details": []}).encode()
                    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                    await send({"type": "http.response.start", "status": start["status"], "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_json_errors)
