"""Weight and model files: numpy archives, never pickle, written atomically.

File kinds (the suffix is required, as Keras requires `.weights.h5` and `.keras`):
- `*.weights.npz` (`model.save_weights`): the weights, in the model's order.
- `*.model.npz` (`model.save` / `trainer.load_model`): architecture, weights, compile settings
  and optimizer state.
- `*.backup.npz` (`BackupAndRestore`): weights, optimizer state and a training state.

Saving is in two steps, so a callback can take a consistent copy at once and write it later, while
training goes on: `weights_contents` / `model_contents` / `backup_contents` copy what a file will
hold (cheap), `write_contents` writes it (slow). `save_weights` and `save_model` do both.

Guarantees:
- Reading uses `allow_pickle=False` and instantiates only the engine's known classes and the layers
  registered with `register_serializable`.
- Writing goes to a temporary file in the same directory, flushed and fsynced, then renamed
  over the target: a crash or error leaves either the old file or the new one, never half of one.
- A file that is not ours, is truncated or corrupt, or does not fit the model raises ValueError
  naming the file and the problem, and leaves the model unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from trainer import file_checks
from trainer.atomic_file import write_atomically
from trainer.initializers import BudgetExceededError, element_budget
from trainer.layers.registry import register_serializable
from trainer.model import Sequential
from trainer.npz_archive import Archive, Entry, open_archive, read_arrays, survey

__all__ = [
    "BACKUP_SUFFIX",
    "MODEL_SUFFIX",
    "WEIGHTS_SUFFIX",
    "Contents",
    "backup_contents",
    "load_backup",
    "load_model",
    "load_weights",
    "model_contents",
    "register_serializable",
    "save_model",
    "save_weights",
    "weights_contents",
    "write_contents",
]

WEIGHTS_SUFFIX = ".weights.npz"
MODEL_SUFFIX = ".model.npz"
BACKUP_SUFFIX = ".backup.npz"
_SUFFIXES = {"weights": WEIGHTS_SUFFIX, "model": MODEL_SUFFIX, "backup": BACKUP_SUFFIX}

Contents = dict[str, np.ndarray]
"""Everything one file holds, header included, as named arrays that no longer change with the model."""
_HEADER_KEY = "trainer_header"
_FORMAT_VERSION = 1


def _check_suffix(filepath: str | os.PathLike[str], suffix: str, what: str) -> str:
    path = os.fspath(filepath)
    if not path.endswith(suffix):
        raise ValueError(f"The filename for {what} must end in {suffix!r}, got {path!r}.")
    return path


def _atomic_write(path: str, arrays: dict[str, np.ndarray]) -> None:
    write_atomically(path, lambda file: np.savez(file, **arrays))  # type: ignore[arg-type]


def _survey(archive: Archive, kind: str) -> tuple[dict[str, Any], dict[str, Entry]]:
    """The checked header of one of our files of `kind`, and its other entries as declared (none read)."""
    path, entries = archive.path, survey(archive)
    entry = file_checks.header_entry(path, entries, _HEADER_KEY, kind)
    header = file_checks.parse_header(path, read_arrays(archive, [entry])[_HEADER_KEY])
    del entries[_HEADER_KEY]
    return file_checks.check_header(path, header, kind, _FORMAT_VERSION), entries


def _read_checked(archive: Archive, weights: list[Entry], others: list[Entry]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Read what the checks let through: the weights (as float32, in order) and the other arrays by
    name (optimizer state as float32 but for its iteration count)."""
    path, arrays = archive.path, read_arrays(archive, weights + others)
    floats = {
        e.name: arrays[e.name]
        for e in weights + others
        if e.name.startswith(("weight_", "optimizer/")) and e.name != "optimizer/iterations"
    }
    arrays.update(file_checks.check_float_values(path, floats))
    return [arrays.pop(entry.name) for entry in weights], arrays


def _header(kind: str, **content: Any) -> np.ndarray:
    return np.array(json.dumps({"kind": kind, "version": _FORMAT_VERSION, **content}))


def _weight_arrays(model: Sequential) -> dict[str, np.ndarray]:
    if not model.built:
        raise ValueError(f"Model {model.name!r} has no weights yet: give it an Input or run it on data first.")
    return {f"weight_{index}": weight.copy() for index, weight in enumerate(model.weights)}


def _optimizer_arrays(model: Sequential) -> dict[str, np.ndarray]:
    optimizer = model.optimizer
    if optimizer is None or not optimizer.built:
        return {}
    return {f"optimizer/{name}": value for name, value in optimizer.get_state().items()}


def _optimizer_entries(path: str, entries: dict[str, Entry], model: Sequential) -> list[Entry]:
    """The optimizer state in `entries`, if any, checked against what `model`'s optimizer holds once built."""
    if not any(name.startswith("optimizer/") for name in entries):
        return []
    if model.optimizer is None:
        raise ValueError(f"{path!r} holds optimizer state, but model {model.name!r} has no optimizer: compile it first.")
    expected = file_checks.expected_optimizer_state(model.optimizer, model.trainable_weights)
    return file_checks.check_optimizer_entries(path, entries, expected)


def _restore_optimizer(path: str, model: Sequential, arrays: dict[str, np.ndarray]) -> None:
    """Build the optimizer and set the state found in `arrays`, if any (checked already)."""
    state = {name.removeprefix("optimizer/"): v for name, v in arrays.items() if name.startswith("optimizer/")}
    if state:
        assert model.optimizer is not None
        model.optimizer.build(model.trainable_weights)
        try:
            model.optimizer.set_state(state)
        except (ValueError, TypeError, OverflowError) as error:
            raise ValueError(f"{path!r}: {error}") from None


def weights_contents(model: Sequential) -> Contents:
    """What a weights file holds: copies of the weights, taken now."""
    return {_HEADER_KEY: _header("weights"), **_weight_arrays(model)}


def model_contents(model: Sequential) -> Contents:
    """What a model file holds: architecture, compile settings, copies of weights and optimizer state."""
    arrays = {**_weight_arrays(model), **_optimizer_arrays(model)}
    header = _header("model", config=model.get_config(), compile_config=model.get_compile_config())
    return {_HEADER_KEY: header, **arrays}


def backup_contents(model: Sequential, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> Contents:
    """What a training backup holds: copies of weights and optimizer state, `state` (JSON-ready data)
    and further `arrays` (stored as given: pass copies)."""
    extra = {f"extra/{name}": value for name, value in arrays.items()}
    return {_HEADER_KEY: _header("backup", state=state), **_weight_arrays(model), **_optimizer_arrays(model), **extra}


def write_contents(filepath: str | os.PathLike[str], contents: Contents) -> None:
    """Write `contents` (from one of the `*_contents` functions) to `filepath`, atomically.

    The suffix must fit their kind. Safe to call from any thread: it touches no model.
    """
    kind = json.loads(str(contents[_HEADER_KEY][()]))["kind"]
    _atomic_write(_check_suffix(filepath, _SUFFIXES[kind], f"a {kind} file"), contents)


def save_weights(model: Sequential, filepath: str | os.PathLike[str]) -> None:
    """Write the model's weights to a `.weights.npz` file, atomically."""
    path = _check_suffix(filepath, WEIGHTS_SUFFIX, "save_weights")
    _atomic_write(path, weights_contents(model))


def load_weights(model: Sequential, filepath: str | os.PathLike[str]) -> None:
    """Load weights saved by `save_weights` (or inside a `.model.npz`); on any mismatch nothing changes."""
    path = os.fspath(filepath)
    kind = "model" if path.endswith(MODEL_SUFFIX) else "weights"
    _check_suffix(path, MODEL_SUFFIX if kind == "model" else WEIGHTS_SUFFIX, "load_weights")
    expected = [w.shape for w in _built_weights(model)]
    with open_archive(path) as archive:
        _, entries = _survey(archive, kind)
        weights, _ = _read_checked(archive, file_checks.check_weight_entries(path, entries, expected, f"model {model.name!r}"), [])
    model.set_weights(weights)


def _built_weights(model: Sequential) -> list[np.ndarray]:
    if not model.built:
        raise ValueError(f"Model {model.name!r} has no weights yet: give it an Input or run it on data first.")
    return model.weights


def save_model(model: Sequential, filepath: str | os.PathLike[str]) -> None:
    """Write architecture, weights, compile settings and optimizer state to a `.model.npz` file, atomically."""
    path = _check_suffix(filepath, MODEL_SUFFIX, "save")
    _atomic_write(path, model_contents(model))


def load_backup(
    model: Sequential,
    filepath: str | os.PathLike[str],
    *,
    check_state: Callable[[dict[str, Any], dict[str, np.ndarray]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Restore weights and optimizer state from a backup, all or nothing; return its `state` and `arrays`.

    `check_state(state, arrays)`, if given, is called before the model is changed: what it raises
    (KeyError, TypeError, ValueError, ...) becomes a ValueError naming the file, the model unchanged.
    """
    path = _check_suffix(filepath, BACKUP_SUFFIX, "load_backup")
    model_weights = _built_weights(model)
    with open_archive(path) as archive:
        header, entries = _survey(archive, "backup")
        weight_entries = file_checks.check_weight_entries(path, entries, [w.shape for w in model_weights], f"model {model.name!r}")
        optimizer_entries = _optimizer_entries(path, entries, model)
        # Callbacks keep copies of weights (EarlyStopping's best) and small states (random generators).
        limit = 4 * sum(w.nbytes for w in model_weights) + (1 << 20)
        extra_entries = file_checks.check_extra_entries(path, entries, limit)
        weights, arrays = _read_checked(archive, weight_entries, optimizer_entries + extra_entries)
    state = header.get("state", {})
    extra = {name.removeprefix("extra/"): v for name, v in arrays.items() if name.startswith("extra/")}
    if check_state is not None:
        try:
            check_state(state, extra)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as error:
            raise ValueError(f"{path!r}: its training state cannot be resumed from: {error!r}") from None
    _restore_optimizer(path, model, arrays)
    model.set_weights(weights)
    return state, extra


def load_model(filepath: str | os.PathLike[str], compile: bool = True) -> Sequential:  # noqa: A002 (Keras's name)
    """Rebuild a model saved by `model.save`: same architecture and weights, so it predicts bit-identically;
    with `compile`, also its optimizer (with its state), loss and metrics.

    The architecture is built under the budget of the weights the file holds, so one declaring more
    than that is refused before its weights are made.
    """
    path = _check_suffix(filepath, MODEL_SUFFIX, "load_model")
    with open_archive(path) as archive:
        model, weights, arrays = _read_model(archive, compile)
    model.set_weights(weights)
    _restore_optimizer(path, model, arrays)
    return model


def _read_model(archive: Archive, compile: bool) -> tuple[Sequential, list[np.ndarray], dict[str, np.ndarray]]:  # noqa: A002
    """The model a `.model.npz` archive describes (built, maybe compiled), and the arrays to load into it."""
    path = archive.path
    header, entries = _survey(archive, "model")
    weight_entries = file_checks.check_weight_entries(path, entries, None)
    try:
        with element_budget(sum(entry.size for entry in weight_entries)):
            model = Sequential.from_config(header["config"])
    except BudgetExceededError as error:
        raise ValueError(f"{path!r} declares an architecture larger than the weights it holds: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as error:
        raise ValueError(f"{path!r} holds an architecture this engine cannot build: {error}") from None
    file_checks.check_weight_entries(path, entries, [w.shape for w in model.weights], f"model {model.name!r}")
    compile_config = header.get("compile_config")
    optimizer_entries: list[Entry] = []
    if compile and compile_config:
        try:
            model.compile_from_config(compile_config)
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
            raise ValueError(f"{path!r} holds compile settings this engine cannot use: {error}") from None
        optimizer_entries = _optimizer_entries(path, entries, model)
    weights, arrays = _read_checked(archive, weight_entries, optimizer_entries)
    return model, weights, arrays
