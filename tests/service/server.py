"""A real uvicorn server on 127.0.0.1, in a background thread, for the service tests."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).parents[2] / "examples"))
from service import create_app


@contextmanager
def running_service(workdir: Path, *, max_concurrent: int = 3) -> Iterator[str]:
    """Serve the example service on a free port; yield its base URL; stop it on leaving."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    app = create_app(workdir=str(workdir), max_concurrent=max_concurrent)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    # uvicorn runs its own event loop; a thread is how a test process hosts it beside the client's.
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
