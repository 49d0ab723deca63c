"""Name lookup that explains a miss: unknown names suggest the nearest known ones."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar

__all__ = ["lookup", "unknown_name_message"]

T = TypeVar("T")


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """Say that `name` is not a known `kind`, suggest the closest names and list every choice."""
    close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=3, cutoff=0.6)
    by_lower = {k.lower(): k for k in known}
    hint = ""
    if close:
        hint = " Did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?"
    plural = f"{kind}es" if kind.endswith("s") else f"{kind}s"  # "losses", not "losss"
    return f"Unknown {kind}: {name!r}.{hint} Known {plural}: {', '.join(sorted(known))}."


def lookup(kind: str, name: str, table: Mapping[str, T]) -> T:
    """Return `table[name]`; on a miss raise ValueError naming the nearest known names."""
    try:
        return table[name]
    except KeyError:
        raise ValueError(unknown_name_message(kind, name, list(table))) from None
