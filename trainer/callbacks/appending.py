"""Appending text to a log file so that it only ever holds whole records."""

from __future__ import annotations

import os

__all__ = ["append_whole"]


def append_whole(path: str, text: str) -> None:
    """Append ``text`` to ``path`` (created if missing) in one ``write()`` to an unbuffered file.

    The file is opened, written and closed on each call: nothing waits in a buffer, no handle is left
    open if the run fails, and a process killed at any moment leaves no partial record. Appends
    (``O_APPEND``) from several writers do not interleave within a record.
    """
    data = memoryview(text.encode("utf-8"))
    with open(os.fspath(path), "ab", buffering=0) as file:
        while data:  # a regular file takes everything in one write unless the disk is full
            data = data[file.write(data) :]
