"""Every ```python block of the README runs as written, so the README never rots.

The convention (BRIEF.md): each block runs in a fresh namespace, unless its first line is
``# continues the block above``: then it runs in the namespace of the python block before it. A
block and the ones continuing it run together, in order, in a process of their own, in an empty
working directory, with the warnings that the README's code or this project causes turned into
errors (an example that warns is a broken example).
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

# Runs each block of a chain in one namespace, naming the README line a failure comes from. A
# warning that the README's code (``__main__``) or this project causes is an error; one that another
# library raises about its own insides is not the README's to fix.
_DRIVER = """
import json, sys, warnings
warnings.filterwarnings("error", module=r"(__main__|trainer|eventbus)(\\.|$)")
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
    result = run_chain(chain, tmp_path)
    lines = ", ".join(str(line) for line, _ in chain)
    assert result.returncode == 0, f"README.md blocks at lines {lines} failed:\n{result.stderr[-4000:]}"


def run_chain(chain: list[tuple[int, str]], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _DRIVER], input=json.dumps(chain), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_an_example_that_warns_fails(tmp_path: Path) -> None:
    # The README's old BackupAndRestore example: EarlyStopping watching val_loss without validation.
    warns = (
        "import numpy as np, trainer\nfrom trainer import layers\nfrom trainer.callbacks import EarlyStopping\n"
        "model = trainer.Sequential([trainer.Input(shape=(1,)), layers.Dense(1)])\nmodel.compile(optimizer='sgd', loss='mse')\n"
        "model.fit(np.zeros((4, 1), 'float32'), np.zeros((4, 1), 'float32'), epochs=2, verbose=0, callbacks=[EarlyStopping()])\n"
    )
    result = run_chain([(1, warns)], tmp_path)
    assert result.returncode != 0
    assert "UserWarning: EarlyStopping is conditioned on metric 'val_loss'" in result.stderr
