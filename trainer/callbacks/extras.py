"""Optional packages a callback needs, imported only when that callback is made."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]


def require(owner: str, module: str, extra: str) -> ModuleType:
    """Import ``module`` for ``owner``; if it is not installed, an ImportError that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        missing = error.name or module
        raise ImportError(
            f"{owner} needs the package {missing!r}, which is not installed; install the {extra!r} extra: "
            f"pip install 'eventbus-trainer[{extra}]'"
        ) from error
