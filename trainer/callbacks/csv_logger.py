"""CSVLogger: one CSV row per epoch, written whole, off the training path."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from typing import Any

from . import arguments
from .appending import append_whole
from .callback import Callback

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Streams each epoch's logs to the CSV file ``filename``, with Keras 3's columns and values.

    The columns are ``epoch``, then the first epoch's log keys, sorted; if that epoch had no ``val_``
    keys, a ``val_`` column follows for each key, so epochs that validate later (``validation_freq``)
    still fit. A key an epoch lacks is written ``NA``; a key the first epoch lacked is left out. The
    file is emptied when training begins, unless ``append=True`` (then the header is only written to
    an empty file). Rows end with ``\\r\\n``, as Python's ``csv`` (and so Keras) writes them.

    Queued: every part of it is file I/O, and none of it needs the model at that moment (it reads a
    snapshot of the logs), so it runs in a worker thread, in order, while training goes on. Each row
    (the first with the header) goes to the file in one unbuffered write, so the file only ever holds
    whole rows, even if the process is killed.
    """

    delivery = "queued"

    def __init__(self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be a single character, such as ',' or ';'; got {separator!r}")
        self.sep = separator
        self.append = arguments.flag("CSVLogger", "append", append)
        self.keys: list[str] | None = None
        self.append_header = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.append:
            self.append_header = not (os.path.exists(self.filename) and os.path.getsize(self.filename) > 0)
        else:
            open(self.filename, "w").close()
            self.append_header = True
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = logs or {}
        rows: list[list[Any]] = []
        if self.keys is None:
            self.keys = _columns(logs)
            if self.append_header:
                rows.append(["epoch", *self.keys])
        rows.append([epoch, *(logs.get(key, "NA") for key in self.keys)])
        text = io.StringIO()
        csv.writer(text, delimiter=self.sep).writerows(rows)
        append_whole(self.filename, text.getvalue())


def _columns(logs: Mapping[str, Any]) -> list[str]:
    keys = sorted(logs)
    if keys and not any(key.startswith("val_") for key in keys):
        keys += [f"val_{key}" for key in keys]
    return keys
