"""RemoteMonitor: post each epoch's logs to a server, without ever holding training up."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .callback import Callback

__all__ = ["RemoteMonitor"]


class RemoteMonitor(Callback):
    """Posts ``{"epoch": epoch, **logs}`` to ``root + path`` at the end of every epoch, as Keras 3 does:
    as the form field ``field`` holding that JSON, or, with ``send_as_json``, as a JSON body.

    Queued: each POST runs in a worker thread, one after another in epoch order, while training goes
    on. A failing server (connection refused, an error status, no answer within ``timeout`` seconds)
    is reported by a warning, once per kind of failure and run, and never stops training; ``fit``
    returns once the last POST is answered or has timed out. Uses only the standard library.
    """

    delivery = "queued"

    def __init__(
        self,
        root: str = "http://localhost:9000",
        path: str = "/publish/epoch/end/",
        field: str = "data",
        headers: Mapping[str, str] | None = None,
        send_as_json: bool = False,
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        # urllib would also open file:// and ftp:// addresses; a monitor only ever means HTTP.
        if urllib.parse.urlsplit(root).scheme not in ("http", "https"):
            raise ValueError(f"RemoteMonitor: root must be an http:// or https:// address; got {root!r}")
        if headers is not None and not isinstance(headers, Mapping):
            raise TypeError(f"RemoteMonitor: headers must be a mapping of names to values; got {type(headers).__name__}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
            raise ValueError(f"RemoteMonitor: timeout must be a positive number of seconds; got {timeout!r}")
        self.root = root
        self.path = path
        self.field = field
        self.headers = headers
        self.send_as_json = send_as_json
        self.timeout = float(timeout)
        self._warned: set[str] = set()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._warned = set()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        payload = {"epoch": epoch, **{key: _plain(value) for key, value in (logs or {}).items()}}
        try:
            with urllib.request.urlopen(self._request(payload), timeout=self.timeout) as response:
                response.read()
        except urllib.error.HTTPError as error:
            self._warn(f"HTTP {error.code}", f"answered {error.code} {error.reason}")
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            self._warn(type(reason).__name__, f"failed: {reason}")

    def _request(self, payload: dict[str, Any]) -> urllib.request.Request:
        if self.send_as_json:
            body, content_type = json.dumps(payload).encode(), "application/json"
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(payload)}).encode()
            content_type = "application/x-www-form-urlencoded"
        headers = {"Content-Type": content_type, **(self.headers or {})}
        return urllib.request.Request(self.root + self.path, data=body, headers=headers, method="POST")

    def _warn(self, kind: str, what: str) -> None:
        if kind in self._warned:
            return
        self._warned.add(kind)
        warnings.warn(
            f"RemoteMonitor: Could not reach RemoteMonitor root server at {self.root} ({self.root + self.path} {what}); "
            "training goes on",
            RuntimeWarning,
            stacklevel=2,
        )


def _plain(value: Any) -> Any:
    """A numpy scalar or array as the Python value JSON can hold, as Keras sends it."""
    return value.item() if isinstance(value, (np.ndarray, np.generic)) else value
