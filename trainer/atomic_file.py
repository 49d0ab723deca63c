"""Writing a file so that a crash never leaves half of it under its name."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["write_atomically"]

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: there is no way to read the umask without setting it

_STALE_MARGIN_SECONDS = 1.0


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, make it durable, then rename it over ``path``.

    Guarantees: ``path`` holds either its previous content or all of the new one, never a part;
    on any error the temporary file is removed; a crash may leave it under a hidden
    ``.NAME.XXXXXXXX.tmp`` name, and once a later write of ``path`` succeeds, the empty ones of that
    pattern older than that write are removed (a kill while writing leaves one each time).
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    started = time.time()
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory)
    try:
        # mkstemp makes the file private; give it the mode a plain open() would, or the old file's.
        os.chmod(temporary, os.stat(target).st_mode & 0o777 if os.path.exists(target) else 0o666 & ~_UMASK)
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise
    _fsync_directory(directory)
    _remove_stale_temporaries(directory, os.path.basename(target), started)


def _remove_stale_temporaries(directory: str, name: str, before: float) -> None:
    """Remove the empty temporaries that earlier writes of ``name`` left (killed before writing a
    byte); a temporary another writer is filling now is not empty, or younger than ``before`` (less
    a margin for file systems whose clocks are coarse)."""
    pattern = re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp")
    try:
        candidates = [entry for entry in os.scandir(directory) if pattern.fullmatch(entry.name)]
    except OSError:
        return
    for entry in candidates:
        try:
            status = entry.stat(follow_symlinks=False)
            if entry.is_file(follow_symlinks=False) and status.st_size == 0 and status.st_mtime < before - _STALE_MARGIN_SECONDS:
                os.unlink(entry.path)
        except OSError:
            pass  # gone already, or not ours to remove: harmless either way


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable; not every platform can open a directory.
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
