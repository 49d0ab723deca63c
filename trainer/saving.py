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
- Reading uses `allow_pickle=False` and instantiates only the engine's known classes.
- Writing goes to a temporary file in the same directory, flushed and fsynced, then renamed
  over the target: a crash or error leaves either the old file or the new one, never half of one.
- A file that is not ours, is truncated or corrupt, or does not fit the model raises ValueError
  naming the file and the problem, and leaves the model unchanged.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import numpy as np

from trainer.atomic_file import write_atomically
from trainer.model import Sequential

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


def _read(path: str, kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The header and arrays of one of our files of `kind`, fully read and checked."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
        raise ValueError(f"{path!r} is not a readable trainer file (truncated, corrupt or foreign): {_why(error)}") from None
    header_array = arrays.pop(_HEADER_KEY, None)
    try:
        header = json.loads(str(header_array[()])) if header_array is not None else None
    except (json.JSONDecodeError, IndexError, TypeError):
        header = None
    if not isinstance(header, dict) or header.get("kind") != kind:
        raise ValueError(f"{path!r} is not a trainer {kind} file.")
    if header.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{path!r} has format version {header.get('version')!r}; this engine reads {_FORMAT_VERSION}.")
    return header, arrays


def _why(error: Exception) -> str:
    # numpy's own words would suggest allow_pickle=, which load_model does not take, and rightly:
    # a trainer file never holds pickled data, so one that does is foreign.
    if "allow_pickle" in str(error) or "pickle" in str(error):
        return "it holds pickled Python objects, which a trainer file never does (they are never loaded)"
    return str(error)


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


def _restore_optimizer(model: Sequential, arrays: dict[str, np.ndarray]) -> None:
    """Build the optimizer if need be and set the state found in `arrays`, if any (checked first)."""
    state = {name.removeprefix("optimizer/"): v for name, v in arrays.items() if name.startswith("optimizer/")}
    if state:
        model.optimizer.build(model.trainable_weights)  # type: ignore[union-attr]
        model.optimizer.set_state(state)  # type: ignore[union-attr]


def _weights_from(path: str, arrays: dict[str, np.ndarray], model: Sequential) -> list[np.ndarray]:
    count = sum(name.startswith("weight_") for name in arrays)
    weights = [arrays.get(f"weight_{index}") for index in range(count)]
    if any(w is None for w in weights):
        raise ValueError(f"{path!r} has missing weight entries.")
    expected = [w.shape for w in model.weights]
    found = [w.shape for w in weights]  # type: ignore[union-attr]
    if found != expected:
        raise ValueError(
            f"{path!r} does not fit model {model.name!r}: it holds {count} weights of shapes {found}, "
            f"the model has {len(expected)} of shapes {expected}."
        )
    return weights  # type: ignore[return-value]


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
    _, arrays = _read(_check_suffix(path, MODEL_SUFFIX if kind == "model" else WEIGHTS_SUFFIX, "load_weights"), kind)
    model.set_weights(_weights_from(path, arrays, model))


def save_model(model: Sequential, filepath: str | os.PathLike[str]) -> None:
    """Write architecture, weights, compile settings and optimizer state to a `.model.npz` file, atomically."""
    path = _check_suffix(filepath, MODEL_SUFFIX, "save")
    _atomic_write(path, model_contents(model))


def load_backup(model: Sequential, filepath: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Restore weights and optimizer state from a backup, all or nothing; return its `state` and `arrays`."""
    path = _check_suffix(filepath, BACKUP_SUFFIX, "load_backup")
    header, arrays = _read(path, "backup")
    weights = _weights_from(path, arrays, model)
    _restore_optimizer(model, arrays)
    model.set_weights(weights)
    extra = {name.removeprefix("extra/"): v for name, v in arrays.items() if name.startswith("extra/")}
    return header.get("state", {}), extra


def load_model(filepath: str | os.PathLike[str], compile: bool = True) -> Sequential:  # noqa: A002 (Keras's name)
    """Rebuild a model saved by `model.save`: same architecture and weights, so it predicts bit-identically;
    with `compile`, also its optimizer (with its state), loss and metrics."""
    path = _check_suffix(filepath, MODEL_SUFFIX, "load_model")
    header, arrays = _read(path, "model")
    try:
        model = Sequential.from_config(header["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path!r} holds an architecture this engine cannot build: {error}") from None
    model.set_weights(_weights_from(path, arrays, model))
    compile_config = header.get("compile_config")
    if compile and compile_config:
        model.compile_from_config(compile_config)
        _restore_optimizer(model, arrays)
    return model
