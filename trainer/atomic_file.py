"""Writing a file so that a crash never leaves half of it under its name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["write_atomically"]

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: there is no way to read the umask without setting it


def write_atomically(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, make it durable, then rename it over ``path``.

    Guarantees: ``path`` holds either its previous content or all of the new one, never a part;
    on any error (or a crash) the temporary file is removed or left under a hidden ``.tmp`` name.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
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
