"""Every example runs, in a fast mode, so the examples never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"


def run_example(name: str, *arguments: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *arguments], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_quickstart() -> None:
    out = run_example("quickstart.py", "--epochs", "2")
    assert "MarkFinished saw training end: True" in out
    assert "Epoch 2/2" in out and "best validation accuracy" in out


def test_async_app_on_both_backends() -> None:
    for backend in ("asyncio", "trio"):
        out = run_example("async_app.py", "--epochs", "2", "--backend", backend)
        assert "[progress] epoch 2" in out
        assert "the stream saw epochs [1, 2]" in out


def test_custom_callback() -> None:
    out = run_example("custom_callback.py", "--epochs", "2")
    assert "watcher: 2 epochs, losses [" in out
    assert "plain: 2 epochs" in out
