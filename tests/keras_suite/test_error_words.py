"""Keras's error words, which its tests (and users' code and searches) match on, inside our messages."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from trainer.callbacks import ModelCheckpoint, RemoteMonitor


def test_model_checkpoint_unrecognized_save_freq(tmp_path: Path) -> None:
    """model_checkpoint_test.test_model_checkpoint_options: save_freq="invalid_save_freq"."""
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        ModelCheckpoint(tmp_path / "checkpoint.model.npz", save_freq="invalid_save_freq")


def test_model_checkpoint_unknown_mode_is_refused(tmp_path: Path) -> None:
    """A deliberate difference: Keras warns and falls back to "auto"; here a mistyped mode is an error."""
    with pytest.raises(ValueError, match="Unknown mode: 'unknown'"):
        ModelCheckpoint(tmp_path / "checkpoint.model.npz", mode="unknown")


def test_remote_monitor_unreachable() -> None:
    """remote_monitor_test.test_RemoteMonitor: an unreachable root warns with Keras's words."""
    with socket.socket() as unused:  # bound, never listening: refuses
        unused.bind(("127.0.0.1", 0))
        monitor = RemoteMonitor(root=f"http://127.0.0.1:{unused.getsockname()[1]}")
        with pytest.warns(RuntimeWarning, match="Could not reach RemoteMonitor root server"):
            monitor.on_epoch_end(0, logs={"loss": 0.0})
