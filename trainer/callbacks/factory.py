"""``Callback("Name", on_epoch_end=..., public=..., private=..., inherit=...)``: a callback class from functions.

The Python twin of the R keras3 ``Callback()`` factory.
"""

from __future__ import annotations

import inspect
import keyword
import sys
from collections.abc import Callable, Mapping
from typing import Any

from .callback import HOOKS, Callback
from .hook_names import HOOK_NAMES, check_member_name

__all__ = ["make_callback_class"]

_INDEXED = {hook for hook in HOOK_NAMES if hook.startswith("on_epoch") or "_batch_" in hook}


def make_callback_class(
    classname: str,
    *,
    on_epoch_begin: Callable[..., Any] | None = None,
    on_epoch_end: Callable[..., Any] | None = None,
    on_train_begin: Callable[..., Any] | None = None,
    on_train_end: Callable[..., Any] | None = None,
    on_train_batch_begin: Callable[..., Any] | None = None,
    on_train_batch_end: Callable[..., Any] | None = None,
    on_test_begin: Callable[..., Any] | None = None,
    on_test_end: Callable[..., Any] | None = None,
    on_test_batch_begin: Callable[..., Any] | None = None,
    on_test_batch_end: Callable[..., Any] | None = None,
    on_predict_begin: Callable[..., Any] | None = None,
    on_predict_end: Callable[..., Any] | None = None,
    on_predict_batch_begin: Callable[..., Any] | None = None,
    on_predict_batch_end: Callable[..., Any] | None = None,
    public: Mapping[str, Any] | None = None,
    private: Mapping[str, Any] | None = None,
    inherit: type[Callback] | None = None,
    **members: Any,
) -> type[Callback]:
    """Make a :class:`Callback` subclass named ``classname``.

    Hooks (``on_epoch_end=fn``, ...) are functions taking ``self`` first, ``def`` or ``async def``;
    ``on_batch_begin``/``on_batch_end``, Keras's older names, hear the training batches.
    ``public`` and further keyword arguments add methods and attributes; an ``__init__`` among them
    defines the constructor's parameters. ``private`` members are copied afresh into each instance
    as ``self.private`` (functions there are bound to the instance); the engine never sees them.
    ``inherit`` is the Callback class to extend (default :class:`Callback`); a method calls the one it
    overrides the Python way, e.g. ``super(MyClass, self).on_epoch_end(epoch, logs)`` or
    ``Base.on_epoch_end(self, epoch, logs)``.

    Raises :class:`ValueError` or :class:`TypeError`, before making anything, for a class name that is
    not an identifier, a misspelt hook (``on_epoch_ends``, ``onEpochEnd``, ``epoch_end``: naming the nearest), a hook that cannot take Keras's
    arguments, a base that is not a Callback class, or members given twice.
    """
    hooks = {name: fn for name, fn in locals().items() if name in HOOKS and fn is not None}
    _check_classname(classname)
    base = _check_base(inherit)
    added = _merge_members(public, members, hooks)
    for name, value in added.items():
        _check_member(name, value)
    namespace = {
        **added,
        "__module__": _caller_module(),
        "__qualname__": classname,
        "_private_template": {**base._private_template, **_mapping("private", private)},
    }
    return type(classname, (base,), namespace)


def _check_classname(classname: object) -> None:
    if not isinstance(classname, str) or not classname.isidentifier() or keyword.iskeyword(classname):
        raise ValueError(f"classname must be a Python identifier, such as 'MarkFinished'; got {classname!r}")


def _check_base(inherit: object) -> type[Callback]:
    if inherit is None:
        return Callback
    if not (isinstance(inherit, type) and issubclass(inherit, Callback)):
        raise TypeError(
            f"inherit must be a Callback class (built-in or made by Callback()); got {inherit!r}"
        )
    return inherit


def _mapping(what: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise TypeError(f"{what} must be a mapping of names to members, such as a dict; got {value!r}")
    return value


def _merge_members(public: object, members: Mapping[str, Any], hooks: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for source in (_mapping("public", public), members, hooks):
        for name, value in source.items():
            if name in merged:
                raise ValueError(f"{name!r} is given twice; give each member once")
            if name == "private":
                raise ValueError("'private' is reserved for the private= members; choose another name")
            merged[name] = value
    return merged


def _check_member(name: str, value: Any) -> None:
    check_member_name("Callback()", name)
    if name in HOOK_NAMES:
        _check_hook(name, value)


def _check_hook(name: str, fn: object) -> None:
    if inspect.iscoroutine(fn):
        fn.close()
        raise TypeError(f"{name} must be a function, not a coroutine object; pass the function itself")
    if not callable(fn):
        raise TypeError(f"{name} must be a function taking self first; got {fn!r}")
    arguments = ("self", "epoch" if "epoch" in name else "batch", "logs") if name in _INDEXED else ("self", "logs")
    try:
        inspect.signature(fn).bind(*arguments)
    except TypeError:
        raise TypeError(
            f"{name} must accept ({', '.join(arguments)}); {getattr(fn, '__name__', fn)}"
            f"{inspect.signature(fn)} does not"
        ) from None
    except ValueError:  # some builtins have no signature to check
        pass


def _caller_module() -> str:
    """The module that called ``Callback(...)``, so the class's repr says where it was made."""
    frame = sys._getframe(1)
    while frame.f_globals.get("__name__") in (__name__, Callback.__module__):
        frame = frame.f_back  # type: ignore[assignment]
    return str(frame.f_globals.get("__name__", "__main__"))
