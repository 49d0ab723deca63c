"""An archive is read from the file that was opened, whatever is renamed over its path meanwhile."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from trainer.npz_archive import open_archive, read_arrays, survey


def test_what_was_surveyed_is_what_is_read_even_if_a_newer_file_replaces_it(tmp_path: Path) -> None:
    path, newer = tmp_path / "run.backup.npz", tmp_path / "newer.npz"
    np.savez(path, weights=np.zeros(1000, dtype=np.float32))
    np.savez(newer, weights=np.ones(10, dtype=np.float32), other=np.ones(3))
    with open_archive(str(path)) as archive:
        entries = survey(archive)
        os.replace(newer, path)  # as an atomic write of the next backup does
        arrays = read_arrays(archive, list(entries.values()))
    assert list(arrays) == ["weights"] and arrays["weights"].shape == (1000,) and not arrays["weights"].any()


def test_a_path_that_cannot_be_opened_is_a_value_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        with open_archive(str(tmp_path / "missing.npz")):
            pass
    with pytest.raises(ValueError, match="cannot be read"):
        with open_archive(str(tmp_path)):  # a directory
            pass
