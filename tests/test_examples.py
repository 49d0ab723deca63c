"""Every example runs, in a fast mode, so the examples never rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.service.server import running_service_command

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


def test_digits_main_job_reaches_the_target_accuracy(tmp_path: Path) -> None:
    out = run_example("digits.py", "--out", str(tmp_path), "--plot")
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.96
    assert {p.name for p in tmp_path.iterdir()} == {"best.model.npz", "training.csv", "progress.jsonl", "history.png"}
    rows = (tmp_path / "training.csv").read_text().splitlines()
    assert rows[0].split(",")[:2] == ["epoch", "accuracy"]
    assert len(rows) - 1 == len((tmp_path / "progress.jsonl").read_text().splitlines())


def test_the_service_example_serves_its_own_template(tmp_path: Path) -> None:
    with running_service_command([sys.executable, str(EXAMPLES / "service.py")], tmp_path) as service:
        with httpx.Client(base_url=service.url, headers=service.headers, timeout=60) as client:
            names = [template["name"] for template in client.get("/templates").json()["templates"]]
            assert names == ["mlp", "digits"]
            job = client.post("/jobs", json={"template": "digits", "params": {"epochs": 2, "hidden": [16]}})
            assert job.status_code == 201, job.text
            with client.stream("GET", f"/jobs/{job.json()['id']}/events") as events:
                lines = [line for line in events.iter_lines() if line.startswith("data: ")]
            assert '"status": "completed"' in lines[-1]
            assert client.get(f"/jobs/{job.json()['id']}").json()["epoch"] == 1


def test_digits_convnet_reaches_the_mlp_accuracy() -> None:
    out = run_example("digits_cnn.py")
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.9889  # the MLP's (digits.py)
    assert "conv2d" in out and "(None, 8, 8, 32)" in out and "Non-trainable params: 64" in out
