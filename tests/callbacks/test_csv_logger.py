"""CSVLogger: Keras 3's columns, NA where validation did not run, append, whole rows, queued, bad input."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from eventbus import DeliveryError
from tests.callbacks.scripted_fit import X, Y, small_model
from trainer.callbacks.csv_logger import CSVLogger
from trainer.callbacks.subscriber import delivery_of


def read_rows(path: Path, separator: str = ",") -> list[list[str]]:
    with open(path, newline="") as file:
        return list(csv.reader(file, delimiter=separator))


@pytest.mark.anyio
async def test_writes_na_where_validation_did_not_run(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    history = await small_model().fit_async(
        X, Y, epochs=4, verbose=0, validation_split=0.25, validation_freq=3, callbacks=[CSVLogger(path)]
    )
    rows = read_rows(path)
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2", "3"]
    assert [row[3:] for row in rows[1:]] == [["NA", "NA"], ["NA", "NA"], rows[3][3:], ["NA", "NA"]]
    assert float(rows[3][3]) == history.history["val_loss"][0]
    assert [float(row[1]) for row in rows[1:]] == history.history["loss"], "values written exactly (repr of the float)"


def test_columns_are_the_first_epochs_sorted_keys_and_rows_end_as_csv_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    small_model().fit(X, Y, epochs=2, verbose=0, validation_split=0.25, callbacks=[CSVLogger(path)])
    text = path.read_bytes()
    assert text.startswith(b"epoch,loss,mae,val_loss,val_mae\r\n") and text.endswith(b"\r\n")
    assert text.count(b"\r\n") == 3


def test_append_adds_rows_under_one_header_and_the_default_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    model = small_model()
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[CSVLogger(path, append=True)])
    rows = read_rows(path)
    assert [row[0] for row in rows] == ["epoch", "0", "1", "0", "1", "2"]
    assert all(len(row) == 5 for row in rows)
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(path)])
    assert [row[0] for row in read_rows(path)] == ["epoch", "0"]


def test_append_to_a_new_file_writes_the_header(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    small_model().fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(path, append=True)])
    assert read_rows(path)[0][0] == "epoch"


def test_separator(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    small_model().fit(X, Y, epochs=1, verbose=0, callbacks=[CSVLogger(str(path), separator=";")])
    assert read_rows(path, ";")[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]


def test_a_missing_key_is_na_and_an_extra_key_is_left_out(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path / "log.csv")
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    logger.on_epoch_end(1, {"loss": 0.5, "extra": 3.0})
    assert read_rows(tmp_path / "log.csv") == [["epoch", "loss", "val_loss"], ["0", "1.0", "2.0"], ["1", "0.5", "NA"]]


def test_it_is_queued_and_a_failed_write_fails_fit_naming_it(tmp_path: Path) -> None:
    logger = CSVLogger(tmp_path / "no such directory" / "log.csv")
    assert delivery_of(logger) == "queued"
    with pytest.raises(DeliveryError, match="'CSVLogger' failed in on_train_begin"):
        small_model().fit(X, Y, epochs=2, verbose=0, callbacks=[logger])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"separator": "::"}, ValueError, "separator must be a single character"),
        ({"separator": ""}, ValueError, "separator must be a single character"),
        ({"append": "yes"}, TypeError, "append must be True or False"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        CSVLogger(tmp_path / "log.csv", **kwargs)


def test_filename_must_be_a_path() -> None:
    with pytest.raises(TypeError):
        CSVLogger(42)  # type: ignore[arg-type]


KEEPS_TRAINING = """
import sys
from tests.callbacks.scripted_fit import X, Y, small_model
from trainer.callbacks.csv_logger import CSVLogger
small_model().fit(X, Y, batch_size=4, epochs=100_000, verbose=0, callbacks=[CSVLogger(sys.argv[1])])
"""


def test_a_process_killed_while_logging_leaves_whole_rows_only(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    process = subprocess.Popen([sys.executable, "-c", KEEPS_TRAINING, str(path)], cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 30
        while (not path.exists() or path.read_bytes().count(b"\r\n") < 50) and time.monotonic() < deadline:
            assert process.poll() is None, "the training process ended early"
            time.sleep(0.005)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    text = path.read_bytes()
    assert text.count(b"\r\n") >= 50 and text.endswith(b"\r\n")
    rows = read_rows(path)
    assert all(len(row) == 5 for row in rows)
    assert [int(row[0]) for row in rows[1:]] == list(range(len(rows) - 1))
