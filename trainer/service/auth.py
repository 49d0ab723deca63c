"""Who may use the service: one bearer token, and a session cookie for the dashboard page.

The token is ``TRAINER_SERVICE_TOKEN``, else the content of ``--token-file``, else one generated at
first start into ``<workdir>/token`` (mode 0600) and reused after. ``POST /login`` with
``{"token": ...}`` sets ``trainer_session``: an HttpOnly, SameSite=Strict cookie holding a keyed hash
of the token (never the token itself), so a page from another site can neither read it nor send it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Collection

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
)
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from .problems import Answer, problem

__all__ = ["COOKIE", "TOKEN_VARIABLE", "TokenBackend", "load_token", "login", "logout", "unauthorized"]

TOKEN_VARIABLE = "TRAINER_SERVICE_TOKEN"
COOKIE = "trainer_session"


def load_token(workdir: str, token_file: str | None) -> tuple[str, str | None]:
    """The service's token, and the file it is in (None when it came from the environment)."""
    if os.environ.get(TOKEN_VARIABLE):
        return _checked(os.environ[TOKEN_VARIABLE], TOKEN_VARIABLE), None
    path = token_file or os.path.join(workdir, "token")
    if token_file is None and not os.path.exists(path):
        _write_private(path, secrets.token_urlsafe(32))
    try:
        with open(path, encoding="utf-8") as file:
            return _checked(file.read().strip(), path), path
    except OSError as error:
        raise ValueError(f"cannot read the token file {path!r}: {error.strerror}") from None


def _checked(token: str, source: str) -> str:
    if len(token) < 16:
        raise ValueError(f"the token in {source} must be at least 16 characters long; it has {len(token)}")
    return token


def _write_private(path: str, token: str) -> None:
    # O_EXCL: never write through a file (or link) that appeared meanwhile; 0600 from the first byte.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(token + "\n")


class TokenBackend(AuthenticationBackend):
    """Starlette authentication: every request but the ``public`` ones needs the token or the cookie."""

    def __init__(self, token: str, public: Collection[str]) -> None:
        self._token = token.encode()
        self._session = session_value(token)
        self._public = public

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        scheme, _, credentials = conn.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), self._token):
            return AuthCredentials(["authenticated"]), SimpleUser("token")
        if hmac.compare_digest(conn.cookies.get(COOKIE, "").encode(), self._session.encode()):
            return AuthCredentials(["authenticated"]), SimpleUser("session")
        if _is_public(conn, self._public):
            return None
        if scheme:
            raise AuthenticationError("the token is wrong: send 'Authorization: Bearer <token>' with the service's token")
        raise AuthenticationError("authentication required: send 'Authorization: Bearer <token>' (see the service's token file)")


def _is_public(conn: HTTPConnection, public: Collection[str]) -> bool:
    path = conn.url.path
    return path in public or any(path.startswith(prefix) for prefix in public if prefix.endswith("/"))


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"trainer-session", hashlib.sha256).hexdigest()


def unauthorized(conn: HTTPConnection, error: Exception) -> Response:
    response = problem(401, str(error))
    response.headers["WWW-Authenticate"] = 'Bearer realm="trainer"'
    return response


async def login(request: Request, token: str, body: object) -> Response:
    """``POST /login``: the cookie for a right token, 401 for a wrong one."""
    given = body.get("token") if isinstance(body, dict) else None
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), token.encode()):
        return problem(401, "the token is wrong", [{"field": "token", "reason": "is not the service's token"}])
    response = Answer({"ok": True})
    response.set_cookie(COOKIE, session_value(token), httponly=True, samesite="strict", path="/")
    return response


async def logout(request: Request) -> Response:
    response = Answer({"ok": True})
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", path="/")
    return response
