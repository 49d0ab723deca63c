"""Peak memory of loading hostile files, each in a child process; prints one JSON object per file.

    python tests/benchmarks/bench_file_memory.py [--workdir DIR]

The files: a zip bomb (a 2 MiB deflated entry declaring 2 GiB of weights for a small model), a
model file of a few KB whose header declares layers of 1 GiB, and a weights file whose ``.npy``
header declares a 4 TiB array. Each child loads one and reports its peak RSS and what the load
raised; a baseline child that only imports the engine gives the floor. Run it with
``PYTHONPATH=<another checkout>`` to measure that checkout's code.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

_CHILD = """
import json, resource, sys, time
import trainer
kind, path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
outcome = "loaded"
try:
    if kind == "weights":
        model = trainer.Sequential([trainer.Input(shape=(4,)), trainer.layers.Dense(8), trainer.layers.Dense(3)])
        model.load_weights(path)
    elif kind == "model":
        trainer.load_model(path)
except BaseException as error:
    outcome = f"{type(error).__name__}: {str(error)[:160]}"
print(json.dumps({"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "seconds": round(time.perf_counter() - start, 2), "outcome": outcome}))
"""


def _npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _header_entry(kind: str, **content: object) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(json.dumps({"kind": kind, "version": 1, **content})))
    return buffer.getvalue()


def _small_weights() -> list[np.ndarray]:
    return [np.zeros((4, 8), np.float32), np.zeros(8, np.float32), np.zeros((8, 3), np.float32), np.zeros(3, np.float32)]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def zip_bomb(path: Path, gib: int = 2) -> Path:
    """A weights file whose first weight is ``gib`` GiB of zeros, deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("trainer_header.npy", _header_entry("weights"))
        count = gib * (1 << 30) // 4
        with archive.open("weight_0.npy", "w", force_zip64=True) as entry:
            entry.write(_npy_header("<f4", (count,)))
            chunk = bytes(1 << 24)
            for _ in range(count * 4 // len(chunk)):
                entry.write(chunk)
        for index, weight in enumerate(_small_weights()[1:], start=1):
            archive.writestr(f"weight_{index}.npy", _npy(weight))
    return path


def huge_header(path: Path) -> Path:
    """A model file of a few KB: small weights, and an architecture declaring 1 GiB of them."""
    import trainer  # the checkout measured makes the configs, so they are the ones it reads

    small = trainer.Sequential([trainer.Input(shape=(4,)), trainer.layers.Dense(8), trainer.layers.Dense(3)])
    config = small.get_config()
    for name, units in (("wide", 1 << 16), ("huge", 1 << 12)):
        layer = json.loads(json.dumps(config["layers"][-1]))
        layer["config"].update(name=name, units=units)
        config["layers"].append(layer)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("trainer_header.npy", _header_entry("model", config=config))
        for index, weight in enumerate(_small_weights()):
            archive.writestr(f"weight_{index}.npy", _npy(weight))
    return path


def declared_4tib(path: Path) -> Path:
    """A weights file whose first weight's .npy header declares 2**40 float32 over 16 bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("trainer_header.npy", _header_entry("weights"))
        archive.writestr("weight_0.npy", _npy_header("<f4", (1 << 40,)) + bytes(16))
        for index, weight in enumerate(_small_weights()[1:], start=1):
            archive.writestr(f"weight_{index}.npy", _npy(weight))
    return path


def measure(kind: str, path: Path | str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(path)], capture_output=True, text=True, check=False, cwd=tempfile.gettempdir()
    )  # not the checkout's directory: PYTHONPATH, or the installed package, says which code loads
    if result.returncode != 0 or not result.stdout.strip():
        return {"outcome": f"child exited {result.returncode}: {result.stderr.strip()[-300:]}"}
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as directory:
        root = Path(directory)
        files = {
            "baseline (import only)": ("none", "-"),
            "zip bomb, 2 GiB declared": ("weights", zip_bomb(root / "bomb.weights.npz")),
            "model header declaring 1 GiB of layers": ("model", huge_header(root / "huge.model.npz")),
            "weight declaring 4 TiB": ("weights", declared_4tib(root / "tib.weights.npz")),
        }
        for name, (kind, path) in files.items():
            size = path.stat().st_size if isinstance(path, Path) else 0
            print(json.dumps({"benchmark": "file_memory", "variant": name, "file_bytes": size, **measure(kind, path)}))


if __name__ == "__main__":
    main()
