"""Every ```python block of the README runs as written, so the README never rots.

The convention (BRIEF.md): each block runs in a fresh namespace, unless its first line is
``# continues the block above``: then it runs in the namespace of the python block before it. A
block and the ones continuing it run together, in order, in a process of their own, in an empty
working directory, with warnings turned into errors (an example that warns is a broken example).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
CONTINUES = "# continues the block above"

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)

# Runs each block of a chain in one namespace, naming the README line a failure comes from.
_DRIVER = """
import json, sys, warnings
warnings.simplefilter("error")
namespace = {"__name__": "__main__"}
for line, code in json.loads(sys.stdin.read()):
    exec(compile(code, f"README.md, block at line {line}", "exec"), namespace)
"""


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Each python block's first line number (of its fence) and code."""
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in _FENCE.finditer(text)]


def chains(blocks: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    """Blocks grouped as they run: a block starts a chain unless it continues the one above."""
    grouped: list[list[tuple[int, str]]] = []
    for line, code in blocks:
        if code.lstrip().startswith(CONTINUES):
            if not grouped:
                raise ValueError(f"README.md:{line} continues a block above, but there is none")
            grouped[-1].append((line, code))
        else:
            grouped.append([(line, code)])
    return grouped


CHAINS = chains(python_blocks(README.read_text(encoding="utf-8")))


def test_the_readme_has_python_blocks_and_the_parser_finds_them() -> None:
    text = "a\n```python\nx = 1\n```\nb\n```sh\nls\n```\n```python\n# continues the block above\nprint(x)\n```\n"
    assert chains(python_blocks(text)) == [[(2, "x = 1\n"), (9, "# continues the block above\nprint(x)\n")]]
    assert sum(len(chain) for chain in CHAINS) == README.read_text(encoding="utf-8").count("```python") > 0


@pytest.mark.parametrize("chain", CHAINS, ids=[f"README.md:{chain[0][0]}" for chain in CHAINS])
def test_a_readme_block_runs_as_written(chain: list[tuple[int, str]], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _DRIVER],
        input=json.dumps(chain),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = ", ".join(str(line) for line, _ in chain)
    assert result.returncode == 0, f"README.md blocks at lines {lines} failed:\n{result.stderr[-4000:]}"
