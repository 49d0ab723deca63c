"""Instructions a piece of work executes, counted by valgrind: a steady measure on a noisy machine.

Wall-clock and even CPU time swing from run to run by more than a few per cent on a shared 2-core
machine; the count of instructions a process executes moves far less (by up to about 1.3% of a
small model's step between runs, from how valgrind interleaves the threads). It is a proxy for time,
not time: an instruction of numpy's SIMD loops does more than one of the interpreter's. Benchmarks
report it beside their timings, never instead of them.

A benchmark runs its work in a fresh interpreter under ``valgrind --tool=cachegrind --cache-sim=no``
(every thread counted) at two or three sizes: differences between the counts are the work's own cost,
start-up, imports and warm-up cancelling out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).parents[2]
_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")


def available() -> bool:
    return shutil.which("valgrind") is not None


def count(argv: Sequence[str]) -> int:
    """Instructions ``python argv...`` executes, in all its threads, with one BLAS thread (a spinning
    BLAS pool would add instructions that depend on timing)."""
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
               sys.executable, *argv]  # fmt: skip
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed under valgrind:\n{done.stderr[-2000:]}")
    found = _TOTAL.findall(done.stderr)
    if not found:
        raise RuntimeError(f"valgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return int(found[-1].replace(",", ""))
