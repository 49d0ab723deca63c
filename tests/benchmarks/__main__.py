"""Run every benchmark and print one table: ``python -m tests.benchmarks [--quick]``.

Each ``bench_*.py`` module runs in its own process (so its threads and memory don't disturb the
next) and prints JSON lines; this gathers them and prints them as a table, then the raw lines to
``benchmarks.jsonl`` if ``--output`` is given.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
QUICK = {"bench_bus": ["--events", "20000", "--repeats", "3"], "bench_step": ["--repeats", "3", "--batch-sizes", "128"],
         "bench_conv": ["--samples", "512", "--repeats", "2"]}
QUICK["bench_listening"] = ["--repeats", "3", "--samples", "20000"]
IDENTITY = ("benchmark", "variant", "backend", "batch_size")


def run(module: str, quick: bool) -> list[dict]:
    arguments = QUICK.get(module, []) if quick else []
    completed = subprocess.run(
        [sys.executable, "-m", f"tests.benchmarks.{module}", *arguments],
        capture_output=True, text=True, check=True, cwd=HERE.parents[1],
    )  # fmt: skip
    return [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]


def row(result: dict) -> tuple[str, str]:
    name = " ".join(str(result[key]) for key in IDENTITY if key in result)
    figures = ", ".join(f"{key}={value}" for key, value in result.items() if key not in IDENTITY)
    return name, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; for a first look")
    parser.add_argument("--output", type=Path, help="also write every result as JSON lines here")
    args = parser.parse_args()
    results = []
    for path in sorted(HERE.glob("bench_*.py")):
        print(f"running {path.stem} ...", file=sys.stderr, flush=True)
        results.extend(run(path.stem, args.quick))
    rows = [row(result) for result in results]
    width = max(len(name) for name, _ in rows)
    for name, figures in rows:
        print(f"{name:<{width}}  {figures}")
    if args.output:
        args.output.write_text("".join(json.dumps(result) + "\n" for result in results))


if __name__ == "__main__":
    main()
