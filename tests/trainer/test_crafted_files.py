"""Crafted files: every malformed weights, model or backup file raises ValueError naming the file
and the problem, reads no more than the model needs, and leaves the model unchanged."""

from __future__ import annotations

import io
import json
import os
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainer
from trainer import saving
from trainer.atomic_file import write_atomically

Arrays = dict[str, Any]  # entry name -> array, or raw bytes for a member that is no .npy at all


def _npy(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(value), allow_pickle=False)
    return buffer.getvalue()


def _write(path: Path, arrays: Arrays, compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, value in arrays.items():
            archive.writestr(name if name.endswith((".npy", ".txt")) else f"{name}.npy", _npy(value))
    return path


def _entries(path: Path) -> Arrays:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _header(arrays: Arrays) -> dict[str, Any]:
    return json.loads(str(arrays["trainer_header"][()]))


def _with_header(arrays: Arrays, header: Any) -> Arrays:
    return {**arrays, "trainer_header": np.array(header if isinstance(header, str) else json.dumps(header))}


def _trained(model: trainer.Sequential, data: tuple[np.ndarray, np.ndarray]) -> trainer.Sequential:
    model.train_on_batch(*data)
    return model


def _optimizer_state(model: trainer.Sequential) -> dict[str, np.ndarray]:
    return model.optimizer.get_state() if model.optimizer is not None and model.optimizer.built else {}


def _assert_unchanged(model: trainer.Sequential, weights: list[np.ndarray], state: dict[str, np.ndarray]) -> None:
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    after_state = _optimizer_state(model)
    assert after_state.keys() == state.keys()
    for name, value in state.items():
        np.testing.assert_array_equal(value, after_state[name])


# Each case turns the entries of a good file into a bad one, and names a fragment of the message.
Mutation = Callable[[Arrays], Arrays]


def _replace(name: str, value: Any) -> Mutation:
    return lambda arrays: {**arrays, name: value}


def _drop(name: str) -> Mutation:
    return lambda arrays: {k: v for k, v in arrays.items() if k != name}


def _edit_header(edit: Callable[[dict[str, Any]], Any]) -> Mutation:
    return lambda arrays: _with_header(arrays, edit(_header(arrays)))


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(header: dict[str, Any]) -> dict[str, Any]:
        target = header
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return header

    return edit


def _declared_huge(arrays: Arrays) -> Arrays:
    """weight_0's .npy header declares 2**40 float32 (4 TiB) over a few bytes of data."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**40,)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return {**arrays, "weight_0": buffer.getvalue() + b"\x00" * 16}


COMMON: list[tuple[str, Mutation, str]] = [
    ("bytes where an array belongs", _replace("weight_0", np.array(b"not an array")), "'weight_0' has dtype |S12"),
    ("a member that is no .npy", _replace("notes.txt", b"hello"), "'notes.txt', which is not a .npy array"),
    ("raw bytes as a weight", _replace("weight_1", b"\x00" * 40), "'weight_1' has no valid .npy header"),
    ("a list as header", lambda a: _with_header(a, [1, 2, 3]), "is not a trainer"),
    ("a string as header", lambda a: _with_header(a, json.dumps("hello")), "is not a trainer"),
    ("a header that is not JSON", lambda a: _with_header(a, "{nope"), "its header is not valid JSON"),
    ("a float header", _replace("trainer_header", np.array(1.5)), "its header 'trainer_header' is float64"),
    ("no header", _drop("trainer_header"), "has no 'trainer_header' entry"),
    ("a nested header", lambda a: _with_header(a, "[" * 200_000 + "]" * 200_000), "nested too deeply"),
    ("bool weights", lambda a: {**a, "weight_1": a["weight_1"] > 0}, "'weight_1' has dtype bool"),
    ("str weights", lambda a: {**a, "weight_1": a["weight_1"].astype(str)}, "'weight_1' has dtype <U"),
    ("datetime weights", lambda a: {**a, "weight_1": a["weight_1"].astype("datetime64[s]")}, "'weight_1' has dtype datetime64"),
    ("int weights", lambda a: {**a, "weight_1": a["weight_1"].astype(np.int32)}, "'weight_1' has dtype int32"),
    ("complex weights", lambda a: {**a, "weight_1": a["weight_1"] + 1j}, "'weight_1' has dtype complex"),
    ("weights float32 cannot hold", lambda a: {**a, "weight_1": np.full(a["weight_1"].shape, 1e300)}, "'weight_1' holds values beyond float32"),
    ("a missing weight", _drop("weight_1"), "missing weight entries"),
    ("a weight of the wrong shape", lambda a: {**a, "weight_1": np.zeros(70, np.float32)}, "does not fit model"),
    ("a weight declaring 4 TiB", _declared_huge, "declares shape (1099511627776,) of float32 (4398046511104 bytes) in an entry of 16 bytes"),
    ("a version from the future", _edit_header(_set(["version"], 99)), "format version 99"),
]


MODEL_ONLY: list[tuple[str, Mutation, str]] = [
    ("an optimizer argument it does not take", _edit_header(_set(["compile_config", "optimizer", "config", "bogus"], 1)), "compile settings this engine cannot use"),
    ("a compile config naming os.system", _edit_header(_set(["compile_config", "optimizer", "class_name"], "os.system")), "compile settings this engine cannot use"),
    ("a compile config without optimizer", _edit_header(lambda h: {**h, "compile_config": {"loss": None}}), "naming an 'optimizer'"),
    ("a compile config that is a list", _edit_header(_set(["compile_config"], [1])), "naming an 'optimizer'"),
    ("no architecture", _edit_header(lambda h: {k: v for k, v in h.items() if k != "config"}), "has no architecture"),
    ("layers that are a string", _edit_header(_set(["config", "layers"], "Dense")), "has no architecture"),
    ("a layer that is a list", _edit_header(_set(["config", "layers", 1], [1])), "every layer of its architecture must be a mapping"),
    ("an unknown layer class", _edit_header(_set(["config", "layers", 1, "class_name"], "Lambda")), "architecture this engine cannot build"),
    ("a layer argument of the wrong type", _edit_header(_set(["config", "layers", 1, "config", "units"], "many")), "architecture this engine cannot build"),
    ("an unknown layer argument", _edit_header(_set(["config", "layers", 1, "config", "function"], "os.system")), "architecture this engine cannot build"),
    ("layers far larger than its weights", _edit_header(_set(["config", "layers", 1, "config", "units"], 10**9)), "an architecture larger than the weights it holds"),
    ("an optimizer state of the wrong shape", lambda a: {**a, "optimizer/momentum/0": np.zeros((2, 2), np.float32)}, "momentum/0: expected shape (4, 8), got (2, 2)"),
    ("an optimizer state it does not have", lambda a: {**a, "optimizer/secret/0": np.zeros(3, np.float32)}, "secret/0: not a state of this optimizer"),
    ("a missing optimizer state", _drop("optimizer/velocity/1"), "velocity/1: expected shape (8,), got None"),
    ("a float iteration count", lambda a: {**a, "optimizer/iterations": np.array(1.5)}, "'optimizer/iterations' has dtype float64; expected an integer"),
    ("an integer optimizer slot", lambda a: {**a, "optimizer/momentum/1": np.zeros(8, np.int64)}, "'optimizer/momentum/1' has dtype int64"),
]


def _check_refused(path: Path, load: Callable[[], object], fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        load()
    message = str(info.value)
    assert str(path) in message, message
    assert fragment in message, message


@pytest.mark.parametrize(("case", "mutate", "fragment"), COMMON + MODEL_ONLY, ids=[c[0] for c in COMMON + MODEL_ONLY])
def test_load_model_refuses(classifier, data, tmp_path: Path, case: str, mutate: Mutation, fragment: str) -> None:
    good = tmp_path / "good.model.npz"
    _trained(classifier, data).save(good)
    bad = _write(tmp_path / "bad.model.npz", mutate(_entries(good)))
    _check_refused(bad, lambda: trainer.load_model(bad), fragment)


@pytest.mark.parametrize(("case", "mutate", "fragment"), COMMON, ids=[c[0] for c in COMMON])
def test_load_weights_refuses_and_changes_nothing(classifier, data, tmp_path: Path, case: str, mutate: Mutation, fragment: str) -> None:
    model = _trained(classifier, data)
    good = tmp_path / "good.weights.npz"
    model.save_weights(good)
    bad = _write(tmp_path / "bad.weights.npz", mutate(_with_header(_entries(good), _header(_entries(good)))))
    model.train_on_batch(*data)
    weights, state = model.get_weights(), _optimizer_state(model)
    _check_refused(bad, lambda: model.load_weights(bad), fragment)
    _assert_unchanged(model, weights, state)


BACKUP_ONLY: list[tuple[str, Mutation, str]] = [
    (case, mutate, fragment) for case, mutate, fragment in MODEL_ONLY if case.startswith(("an optimizer state", "a missing optimizer", "a float iteration", "an integer optimizer"))
] + [
    ("callbacks' state larger than the model allows", lambda a: {**a, "extra/huge": np.zeros(1 << 19, np.float32)}, "callbacks' state declares 2097176 bytes, more than the 1049648 its model allows"),
    ("a training state that is a list", _edit_header(_set(["state"], [1])), "its training state must be a mapping"),
]


@pytest.mark.parametrize(("case", "mutate", "fragment"), COMMON + BACKUP_ONLY, ids=[c[0] for c in COMMON + BACKUP_ONLY])
def test_load_backup_refuses_and_changes_nothing(classifier, data, tmp_path: Path, case: str, mutate: Mutation, fragment: str) -> None:
    model = _trained(classifier, data)
    good = tmp_path / "good.backup.npz"
    saving.write_contents(good, saving.backup_contents(model, {"epoch": 1}, {"small": np.arange(3)}))
    bad = _write(tmp_path / "bad.backup.npz", mutate(_entries(good)))
    model.train_on_batch(*data)
    weights, state = model.get_weights(), _optimizer_state(model)
    _check_refused(bad, lambda: saving.load_backup(model, bad), fragment)
    _assert_unchanged(model, weights, state)


def test_optimizer_state_into_a_model_without_optimizer_is_refused(classifier, data, tmp_path: Path) -> None:
    path = tmp_path / "b.backup.npz"
    saving.write_contents(path, saving.backup_contents(_trained(classifier, data), {}, {}))
    bare = trainer.Sequential([trainer.Input(shape=(4,)), trainer.layers.Dense(8), trainer.layers.Dense(3)])
    weights = bare.get_weights()
    _check_refused(path, lambda: saving.load_backup(bare, path), "has no optimizer: compile it first")
    _assert_unchanged(bare, weights, {})


def test_a_zip_bomb_is_refused_before_it_is_decompressed(classifier, tmp_path: Path) -> None:
    """A deflated entry declaring a thousand times its compressed size: refused from the zip's
    directory alone (deflating 64 MiB of zeros takes 64 KiB)."""
    good = tmp_path / "good.weights.npz"
    classifier.save_weights(good)
    bomb = _write(tmp_path / "bomb.weights.npz", {**_entries(good), "weight_0": np.zeros(1 << 24, np.float32)}, zipfile.ZIP_DEFLATED)
    weights = classifier.get_weights()
    _check_refused(bomb, lambda: classifier.load_weights(bomb), "more than 100 times: refused (a zip bomb?)")
    _assert_unchanged(classifier, weights, {})


def test_a_deflated_file_of_the_right_shapes_loads(classifier, data, tmp_path: Path) -> None:
    model = _trained(classifier, data)
    good = tmp_path / "good.model.npz"
    model.save(good)
    deflated = _write(tmp_path / "deflated.model.npz", _entries(good), zipfile.ZIP_DEFLATED)
    loaded = trainer.load_model(deflated)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_other_compression_methods_are_refused(classifier, tmp_path: Path) -> None:
    good = tmp_path / "good.weights.npz"
    classifier.save_weights(good)
    bad = _write(tmp_path / "bad.weights.npz", _entries(good), zipfile.ZIP_LZMA)
    _check_refused(bad, lambda: classifier.load_weights(bad), "uses compression method 14")


def test_a_header_declaring_a_huge_string_is_refused_unread(classifier, tmp_path: Path) -> None:
    good = tmp_path / "good.weights.npz"
    classifier.save_weights(good)
    header = {"descr": "<U100000000", "fortran_order": False, "shape": ()}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    bad = _write(tmp_path / "bad.weights.npz", {**_entries(good), "trainer_header": buffer.getvalue() + b"{}"})
    _check_refused(bad, lambda: classifier.load_weights(bad), "declares shape () of <U100000000 (400000000 bytes) in an entry of 2 bytes")


def test_float64_and_float16_weights_that_fit_float32_load(classifier, tmp_path: Path) -> None:
    good = tmp_path / "good.weights.npz"
    classifier.save_weights(good)
    arrays = _entries(good)
    wide = {**arrays, "weight_0": arrays["weight_0"].astype(np.float64), "weight_1": arrays["weight_1"].astype(np.float16)}
    path = _write(tmp_path / "wide.weights.npz", wide)
    classifier.load_weights(path)
    np.testing.assert_array_equal(classifier.get_weights()[0], arrays["weight_0"])
    np.testing.assert_array_equal(classifier.get_weights()[1], arrays["weight_1"].astype(np.float16).astype(np.float32))
    assert all(w.dtype == np.float32 for w in classifier.get_weights())


def test_nan_and_infinite_weights_load_with_a_warning_naming_them(classifier, tmp_path: Path) -> None:
    good = tmp_path / "good.weights.npz"
    classifier.save_weights(good)
    arrays = _entries(good)
    arrays["weight_1"] = np.full_like(arrays["weight_1"], np.nan)
    arrays["weight_3"] = np.full_like(arrays["weight_3"], -np.inf)
    path = _write(tmp_path / "nan.weights.npz", arrays)
    with pytest.warns(RuntimeWarning, match=r"'weight_1', 'weight_3' hold NaN or infinite values") as record:
        classifier.load_weights(path)
    assert str(path) in str(record[0].message)
    assert np.isnan(classifier.get_weights()[1]).all()
    assert np.isneginf(classifier.get_weights()[3]).all()


def test_good_files_load_without_warnings(classifier, data, tmp_path: Path) -> None:
    model = _trained(classifier, data)
    path = tmp_path / "m.model.npz"
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.load_model(path)


def test_stale_empty_temporaries_of_a_file_go_when_its_next_write_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "run.backup.npz"
    old = time.time() - 60
    stale = [tmp_path / f".run.backup.npz.{suffix}.tmp" for suffix in ("abc_1234", "zz99yy88")]
    partial = tmp_path / ".run.backup.npz.part0001.tmp"  # not empty: a write under way, or data
    fresh = tmp_path / ".run.backup.npz.fresh001.tmp"  # empty but new: another writer just began
    other = tmp_path / ".other.backup.npz.abc_1234.tmp"  # another file's
    foreign = tmp_path / ".run.backup.npz.tmp"  # not our pattern
    for path in (*stale, fresh, other, foreign):
        path.write_bytes(b"")
    partial.write_bytes(b"half")
    for path in (*stale, partial, other, foreign):
        os.utime(path, (old, old))
    write_atomically(target, lambda file: file.write(b"content"))
    assert target.read_bytes() == b"content"
    assert [path.exists() for path in stale] == [False, False]
    assert partial.exists() and fresh.exists() and other.exists() and foreign.exists()


def test_a_failed_write_leaves_stale_temporaries_alone(tmp_path: Path) -> None:
    target = tmp_path / "run.backup.npz"
    stale = tmp_path / ".run.backup.npz.abc_1234.tmp"
    stale.write_bytes(b"")
    old = time.time() - 60
    os.utime(stale, (old, old))

    def fail(file: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, fail)
    assert stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [stale.name]


RESUME_STATES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("no epoch", lambda s: {k: v for k, v in s.items() if k != "epoch"}, "KeyError('epoch')"),
    ("an epoch that is a string", _set(["epoch"], "two"), "'epoch' must be an integer >= 0"),
    ("a negative epoch", _set(["epoch"], -1), "'epoch' must be an integer >= 0"),
    ("generators that are a list", _set(["generators"], [1]), "'generators' must be a mapping"),
    ("no callbacks", lambda s: {k: v for k, v in s.items() if k != "callbacks"}, "KeyError('callbacks')"),
    ("a callback state naming a missing array", _set(["callbacks"], [{"position": 0, "class": "X", "state": {"__array__": "gone"}}]), "gone"),
    ("a callback state that is a string", _set(["callbacks"], ["EarlyStopping"]), "must name its 'position' and 'class'"),
]


@pytest.mark.parametrize(("case", "edit", "fragment"), RESUME_STATES, ids=[c[0] for c in RESUME_STATES])
def test_backup_and_restore_refuses_a_state_it_cannot_resume_and_changes_nothing(
    classifier, data, tmp_path: Path, case: str, edit: Callable[[dict[str, Any]], Any], fragment: str
) -> None:
    from trainer.callbacks.backup_and_restore import BACKUP_FILE, BackupAndRestore

    x, y = data
    backups = tmp_path / "backups"
    classifier.fit(x, y, epochs=1, verbose=0, callbacks=[BackupAndRestore(backups, delete_checkpoint=False)])
    path = backups / BACKUP_FILE
    arrays = _entries(path)
    header = _header(arrays)
    header["state"] = edit(header["state"])
    _write(path, _with_header(arrays, header))
    weights, state = classifier.get_weights(), _optimizer_state(classifier)
    with pytest.raises(ValueError) as info:
        classifier.fit(x, y, epochs=2, verbose=0, callbacks=[BackupAndRestore(backups, delete_checkpoint=False)])
    assert str(path) in str(info.value) and fragment in str(info.value), str(info.value)
    _assert_unchanged(classifier, weights, state)


def test_a_header_larger_than_any_architecture_is_refused_unread(classifier, tmp_path: Path) -> None:
    from trainer.file_checks import HEADER_LIMIT

    good = tmp_path / "good.weights.npz"
    classifier.save_weights(good)
    bad = _write(tmp_path / "bad.weights.npz", {**_entries(good), "trainer_header": np.array(" " * (HEADER_LIMIT // 4 + 1))})
    _check_refused(bad, lambda: classifier.load_weights(bad), f"more than the {HEADER_LIMIT} read")
