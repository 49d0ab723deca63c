"""Reading a numpy ``.npz`` archive without trusting what it claims.

:func:`survey` reads only the zip's directory and each array's ``.npy`` header, and checks them
against each other and against the file's real size, so a caller can check every declared shape,
dtype and size against what it needs before :func:`read_arrays` reads (or decompresses) a byte of
array data. Every problem is a :class:`ValueError` naming the file.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

__all__ = ["DEFLATE_RATIO_LIMIT", "Archive", "Entry", "open_archive", "read_arrays", "survey"]

NPY_HEADER_LIMIT = 10_000
"""The largest ``.npy`` header read (numpy's own default limit for untrusted files)."""

DEFLATE_RATIO_LIMIT = 100
"""An entry over 1 MiB may be at most this many times larger than its compressed bytes: weights do
not compress a hundredfold (deflate's own limit, about 1032, is what a zip bomb uses)."""

_SMALL_ENTRY = 1 << 20
_MAX_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One array of an archive, as its headers declare it."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    info: zipfile.ZipInfo

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=object))


@dataclass(frozen=True, slots=True)
class Archive:
    """An archive file opened once: what :func:`survey` declares is what :func:`read_arrays` reads,
    even if another file is renamed over ``path`` meanwhile (an atomic write of a newer backup)."""

    path: str
    file: IO[bytes]


@contextmanager
def open_archive(path: str) -> Iterator[Archive]:
    """Open ``path`` for :func:`survey` and :func:`read_arrays`; FileNotFoundError if there is none."""
    try:
        file = open(path, "rb")  # noqa: SIM115 (closed below, after the caller is done)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ValueError(f"{path!r} cannot be read: {error.strerror}") from None
    with file:
        yield Archive(path, file)


def survey(source: Archive) -> dict[str, Entry]:
    """The archive's arrays by name, from its directory and ``.npy`` headers alone."""
    path = source.path
    try:
        file_size = os.fstat(source.file.fileno()).st_size
        with zipfile.ZipFile(source.file) as archive:
            infos = archive.infolist()
            if len(infos) > _MAX_ENTRIES:
                raise ValueError(f"{path!r} holds {len(infos)} entries, more than any model file has.")
            _check_directory(path, infos, file_size)
            return {entry.name: entry for entry in (_entry(path, archive, info) for info in infos)}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as error:
        raise ValueError(f"{path!r} is not a readable trainer file (truncated, corrupt or foreign): {error}") from None


def read_arrays(source: Archive, entries: list[Entry]) -> dict[str, np.ndarray]:
    """Read the arrays of ``entries`` (from :func:`survey`, checked by the caller), never more bytes
    than they declare."""
    path, arrays = source.path, {}
    try:
        with zipfile.ZipFile(source.file) as archive:
            for entry in entries:
                with archive.open(entry.info) as stream:
                    version = npy_format.read_magic(stream)
                    _read_npy_header(stream, version)
                    data = bytearray(entry.nbytes)  # read in place: the array owns these bytes, no copy
                    if stream.readinto(memoryview(data)) != entry.nbytes:  # type: ignore[attr-defined]
                        raise ValueError(f"its array {entry.name!r} is cut short")
                array = np.frombuffer(data, dtype=entry.dtype)
                arrays[entry.name] = array.reshape(entry.shape[::-1]).T if entry.fortran_order else array.reshape(entry.shape)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, RuntimeError) as error:
        raise ValueError(f"{path!r} is not a readable trainer file (truncated, corrupt or foreign): {error}") from None
    return arrays


def _check_directory(path: str, infos: list[zipfile.ZipInfo], file_size: int) -> None:
    names = set()
    stored_bytes = 0
    for info in infos:
        if info.filename in names:
            raise ValueError(f"{path!r} holds the entry {info.filename!r} twice.")
        names.add(info.filename)
        if not info.filename.endswith(".npy"):
            raise ValueError(f"{path!r} holds {info.filename!r}, which is not a .npy array.")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise ValueError(
                    f"{path!r}: entry {info.filename!r} is stored uncompressed but declares {info.file_size} "
                    f"bytes in {info.compress_size}."
                )
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            if info.file_size > _SMALL_ENTRY and info.file_size > DEFLATE_RATIO_LIMIT * info.compress_size:
                raise ValueError(
                    f"{path!r}: entry {info.filename!r} declares {info.file_size} bytes compressed into "
                    f"{info.compress_size}, more than {DEFLATE_RATIO_LIMIT} times: refused (a zip bomb?)."
                )
        else:
            raise ValueError(f"{path!r}: entry {info.filename!r} uses compression method {info.compress_type}; "
                             "trainer files are stored or deflated.")
        stored_bytes += info.compress_size
    if stored_bytes > file_size:
        raise ValueError(f"{path!r} declares {stored_bytes} bytes of entries in a file of {file_size} bytes.")


def _entry(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Entry:
    name = info.filename.removesuffix(".npy")
    try:
        with archive.open(info) as stream:
            version = npy_format.read_magic(stream)
            shape, fortran_order, dtype = _read_npy_header(stream, version)
            header_length = stream.tell()
    except (ValueError, SyntaxError, TypeError) as error:
        raise ValueError(f"{path!r}: array {name!r} has no valid .npy header: {error}") from None
    if dtype.hasobject:
        raise ValueError(
            f"{path!r}: array {name!r} holds pickled Python objects, which a trainer file never does "
            "(they are never loaded)."
        )
    if dtype.kind == "V" or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{path!r}: array {name!r} has dtype {dtype}, which a trainer file never holds.")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise ValueError(f"{path!r}: array {name!r} declares the shape {shape}.")
    entry = Entry(name, tuple(shape), dtype, bool(fortran_order), info)
    if header_length + entry.nbytes != info.file_size:
        raise ValueError(
            f"{path!r}: array {name!r} declares shape {entry.shape} of {dtype} ({entry.nbytes} bytes) "
            f"in an entry of {info.file_size - header_length} bytes."
        )
    return entry


def _read_npy_header(stream: IO[bytes], version: tuple[int, int]) -> tuple[tuple[int, ...], bool, np.dtype]:
    if version == (1, 0):
        return npy_format.read_array_header_1_0(stream, max_header_size=NPY_HEADER_LIMIT)
    if version in ((2, 0), (3, 0)):
        return npy_format.read_array_header_2_0(stream, max_header_size=NPY_HEADER_LIMIT)
    raise ValueError(f"unknown .npy format version {version}")
