"""History.plot: the curves people know from R's plot(history), as an image."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from trainer import Input, Sequential
from trainer.callbacks import History
from trainer.layers import Dense


def trained_history() -> History:
    x = np.linspace(-1, 1, 60, dtype=np.float32).reshape(30, 2)
    y = (x.sum(axis=1) > 0).astype(np.float32)
    model = Sequential([Input(shape=(2,)), Dense(4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, epochs=3, validation_split=0.2, verbose=0)


def test_plot_writes_an_image_with_a_panel_per_metric(tmp_path) -> None:
    path = tmp_path / "history.png"
    trained_history().plot(path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert os.stat(path).st_mode & 0o044, "readable like any file the user saves, not private to its writer"
    assert [p.name for p in tmp_path.iterdir()] == ["history.png"], "no temporary file left behind"


def test_plot_follows_the_suffix(tmp_path) -> None:
    trained_history().plot(tmp_path / "history.svg")
    assert b"<svg" in (tmp_path / "history.svg").read_bytes()[:500]


def test_plot_names_the_extra_when_matplotlib_is_missing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    history = trained_history()
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'eventbus-trainer\[plot\]'):
        history.plot(tmp_path / "history.png")


def test_plot_of_an_empty_history_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="nothing to plot"):
        History().plot(tmp_path / "history.png")
