"""Telling a hook name from a misspelt one, for the factory and LambdaCallback."""

from __future__ import annotations

import difflib

from .callback import ALIASES, HOOKS

__all__ = ["HOOK_NAMES", "check_member_name"]

HOOK_NAMES: tuple[str, ...] = (*HOOKS, *ALIASES)
"""Every name a callback hook may have: the 14 hooks and Keras's two older aliases."""


def _squashed(name: str) -> str:
    return name.lower().replace("_", "").removeprefix("on")


_BY_SQUASHED = {_squashed(hook): hook for hook in HOOK_NAMES}


def check_member_name(owner: str, name: str) -> None:
    """Raise :class:`ValueError` if ``name`` is not a hook but looks like one, naming the nearest hook.

    Looks like one: it starts with ``on_`` (``on_epoch_ends``), or it is a hook's name in another
    case or without its underscores or ``on`` (``onEpochEnd``, ``epoch_end``), which would otherwise
    be taken as a plain attribute and never be called.
    """
    if name in HOOK_NAMES:
        return
    same = _BY_SQUASHED.get(_squashed(name))
    if same is None and not name.startswith("on_"):
        return
    close = [same] if same else difflib.get_close_matches(name, HOOK_NAMES, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; the hooks are {', '.join(HOOK_NAMES)}"
    raise ValueError(f"{owner}: {name!r} is not a callback hook{hint}")
