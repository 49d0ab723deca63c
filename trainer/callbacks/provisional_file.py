"""A file written in the background that stays on disk only until something newer supersedes it."""

from __future__ import annotations

import os
import threading

from trainer import saving

__all__ = ["ProvisionalFile"]


class ProvisionalFile:
    """BackupAndRestore's epoch-end backup: the latest state only until the next backup is taken.

    :meth:`begin` (when the copy is taken) and :meth:`write` (later, in a worker thread) put the
    contents under ``path``, atomically, unless :meth:`supersede` came in between. Once
    :meth:`supersede` returns, the file is not on disk and no write begun before it will put it back,
    so a process killed at any point afterwards never finds it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._generation = 0
        self._maybe_on_disk = False

    def begin(self) -> int:
        """A new write is coming: returns its generation, for :meth:`write`."""
        with self._lock:
            self._generation += 1
            self._maybe_on_disk = True
            return self._generation

    def write(self, generation: int, contents: saving.Contents) -> None:
        """Write ``contents`` (a backup's), unless superseded meanwhile. Blocking: call it in a worker thread."""
        directory, name = os.path.split(self.path)
        os.makedirs(directory, exist_ok=True)
        temporary = os.path.join(directory, f".{generation}.{name}")
        saving.write_contents(temporary, contents)
        with self._lock:
            # Checked and renamed under the lock: supersede() cannot fall between the two.
            if generation == self._generation:
                os.replace(temporary, self.path)
                return
        os.unlink(temporary)

    @property
    def needs_superseding(self) -> bool:
        """Whether :meth:`supersede` has anything to do on disk (else it need not leave the event loop)."""
        return self._maybe_on_disk

    def supersede(self) -> None:
        """Remove the file, and void the writes begun so far. Blocking: call it in a worker thread."""
        with self._lock:
            self._generation += 1
            self._maybe_on_disk = False
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
