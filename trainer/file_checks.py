"""What a weights, model or backup file must be before anything of it reaches a model.

Each check raises :class:`ValueError` naming the file and the problem. They look at what
:func:`trainer.npz_archive.survey` found (declared shapes, dtypes, sizes) before any array is read,
so a file can never make a load use more memory than the model it fits needs; then at the values
read.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer.npz_archive import Entry

__all__ = [
    "HEADER_LIMIT",
    "check_extra_entries",
    "check_float_values",
    "check_header",
    "check_optimizer_entries",
    "check_weight_entries",
    "expected_optimizer_state",
    "header_entry",
    "parse_header",
]

HEADER_LIMIT = 16 << 20
"""The largest header (architecture, compile settings, training state) read, in bytes."""

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def header_entry(path: str, entries: dict[str, Entry], key: str, kind: str) -> Entry:
    """The entry holding the JSON header: one string, of a sane size."""
    entry = entries.get(key)
    if entry is None:
        raise ValueError(f"{path!r} is not a trainer {kind} file: it has no {key!r} entry.")
    if entry.dtype.kind not in "US" or entry.shape != ():
        raise ValueError(f"{path!r}: its header {key!r} is {entry.dtype} of shape {entry.shape}, not one string.")
    if entry.nbytes > HEADER_LIMIT:
        raise ValueError(f"{path!r}: its header declares {entry.nbytes} bytes, more than the {HEADER_LIMIT} read.")
    return entry


def parse_header(path: str, array: np.ndarray) -> Any:
    """The JSON value of the header string ``array``."""
    text = array[()]
    try:
        return json.loads(text.decode("utf-8") if isinstance(text, bytes) else str(text))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path!r}: its header is not valid JSON: {error}") from None
    except RecursionError:
        raise ValueError(f"{path!r}: its header is nested too deeply to be ours.") from None


def check_header(path: str, header: Any, kind: str, version: int) -> dict[str, Any]:
    """``header`` if it is a header of a ``kind`` file of ``version`` with the fields that kind needs,
    each of the right JSON type."""
    if not isinstance(header, dict) or header.get("kind") != kind:
        raise ValueError(f"{path!r} is not a trainer {kind} file.")
    if header.get("version") != version:
        raise ValueError(f"{path!r} has format version {header.get('version')!r}; this engine reads {version}.")
    if kind == "model":
        config = header.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"{path!r}: its header has no architecture (a 'config' with a list of 'layers').")
        if not all(isinstance(layer, dict) for layer in config["layers"]):
            raise ValueError(f"{path!r}: every layer of its architecture must be a mapping.")
        compile_config = header.get("compile_config")
        if compile_config is not None and (
            not isinstance(compile_config, dict) or not isinstance(compile_config.get("optimizer"), dict)
        ):
            raise ValueError(f"{path!r}: its compile settings must be a mapping naming an 'optimizer'.")
    if kind == "backup" and not isinstance(header.get("state", {}), dict):
        raise ValueError(f"{path!r}: its training state must be a mapping.")
    return header


def check_weight_entries(
    path: str, entries: dict[str, Entry], expected: Sequence[tuple[int, ...]] | None, owner: str = "the model"
) -> list[Entry]:
    """The ``weight_{i}`` entries, in order: float arrays, and with ``expected`` shapes (those of
    ``owner``'s weights) if given."""
    found = {name: entry for name, entry in entries.items() if name.startswith("weight_")}
    weights = [found.get(f"weight_{index}") for index in range(len(found))]
    if any(entry is None for entry in weights):
        raise ValueError(f"{path!r} has missing weight entries (it holds {sorted(found)}).")
    checked = [entry for entry in weights if entry is not None]
    _check_floats(path, checked)
    if expected is not None:
        shapes = [entry.shape for entry in checked]
        if shapes != [tuple(shape) for shape in expected]:
            raise ValueError(
                f"{path!r} does not fit {owner}: it holds {len(shapes)} weights of shapes {shapes}, "
                f"the model has {len(expected)} of shapes {[tuple(shape) for shape in expected]}."
            )
    return checked


def expected_optimizer_state(optimizer: Any, variables: Sequence[np.ndarray]) -> dict[str, tuple[int, ...]]:
    """The names and shapes of the state ``optimizer`` holds once built for ``variables``, taken from
    a throwaway copy built for them (its memory is the model's own measure), so ``optimizer`` is untouched."""
    probe = copy.deepcopy(optimizer)
    probe.build(variables)
    return {name: tuple(np.shape(value)) for name, value in probe.get_state().items()}


def check_optimizer_entries(path: str, entries: dict[str, Entry], expected: dict[str, tuple[int, ...]]) -> list[Entry]:
    """The ``optimizer/...`` entries, exactly the names and shapes of ``expected``; numbers of the
    right kind (an integer iteration count, floats for the rest)."""
    found = {name.removeprefix("optimizer/"): entry for name, entry in entries.items() if name.startswith("optimizer/")}
    problems = [
        f"{name}: expected shape {shape}, got {found[name].shape if name in found else None}"
        for name, shape in expected.items()
        if name not in found or found[name].shape != shape
    ]
    problems += [f"{name}: not a state of this optimizer" for name in found if name not in expected]
    if problems:
        raise ValueError(f"{path!r}: its optimizer state does not fit the optimizer: " + "; ".join(problems))
    iterations = found.get("iterations")
    if iterations is not None and iterations.dtype.kind not in "iu":
        raise ValueError(f"{path!r}: array 'optimizer/iterations' has dtype {iterations.dtype}; expected an integer.")
    _check_floats(path, [entry for name, entry in found.items() if name != "iterations"])
    return list(found.values())


def check_extra_entries(path: str, entries: dict[str, Entry], limit: int) -> list[Entry]:
    """The ``extra/...`` entries of a backup (callbacks' own state), together at most ``limit`` bytes."""
    extra = [entry for name, entry in entries.items() if name.startswith("extra/")]
    total = sum(entry.nbytes for entry in extra)
    if total > limit:
        raise ValueError(f"{path!r}: its callbacks' state declares {total} bytes, more than the {limit} its model allows.")
    return extra


def check_float_values(path: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` (floats) as float32, refusing finite values float32 cannot hold; warn, naming
    them, of arrays holding NaN or infinities (they load: the caller may mean it, but a run resumed
    from them is lost)."""
    converted = {}
    not_finite = []
    for name, array in arrays.items():
        finite = np.isfinite(array)
        if not finite.all():
            not_finite.append(name)
        if array.dtype.itemsize > 4 and np.any(np.abs(array[finite]) > _FLOAT32_MAX):
            raise ValueError(f"{path!r}: array {name!r} holds values beyond float32's range (±{_FLOAT32_MAX:.3g}).")
        converted[name] = array.astype(np.float32, copy=False)
    if not_finite:
        warnings.warn(f"{path!r}: {', '.join(repr(n) for n in not_finite)} hold NaN or infinite values", RuntimeWarning, stacklevel=3)
    return converted


def _check_floats(path: str, entries: list[Entry]) -> None:
    for entry in entries:
        if entry.dtype.kind != "f":
            raise ValueError(f"{path!r}: array {entry.name!r} has dtype {entry.dtype}; expected floating point numbers.")
