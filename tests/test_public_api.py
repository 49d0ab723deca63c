"""The public API is what each package's ``__init__`` exports: every name in ``__all__`` exists,
every public module's ``__all__`` is true, and both packages say they are typed."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import eventbus
import trainer

PACKAGES = (eventbus, trainer)


def modules() -> list[str]:
    found = []
    for package in PACKAGES:
        found.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            found.append(info.name)
    return found


@pytest.mark.parametrize("name", modules())
def test_every_name_in_all_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", [])
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [item for item in exported if not hasattr(module, item)]
    assert missing == [], f"{name}.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda package: package.__name__)
def test_packages_are_marked_typed(package: object) -> None:
    assert (Path(package.__file__).parent / "py.typed").is_file()  # type: ignore[attr-defined]


def test_eventbus_never_imports_trainer() -> None:
    for name in modules():
        if name.startswith("eventbus"):
            tree = ast.parse(Path(importlib.import_module(name).__file__ or "").read_text())
            imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
            imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
            assert not [module for module in imported if module.split(".")[0] == "trainer"], name


def test_the_job_manager_never_imports_the_service() -> None:
    for name in modules():
        if name.startswith("trainer.jobs"):
            tree = ast.parse(Path(importlib.import_module(name).__file__ or "").read_text())
            imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
            imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
            assert not [module for module in imported if module.startswith("trainer.service")], name
