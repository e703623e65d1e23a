"""Writers behind `git hangar export`: samples become files.

* ``npy``: one ``<key>.npy`` per sample (what ``add`` reads back, keyed by stem);
* ``npz``: one ``<column>.npz`` with a member per sample, named by key;
* ``csv``: one ``<column>.csv``, a row per 0-D or 1-D sample, the key first
  (unless ``keys=False``), in key order.

Existing files are not overwritten unless ``force``. Nothing here imports
click.
"""
from __future__ import annotations

import csv
import os
import zipfile
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Union

import numpy as np

from ..errors import HangarError

Key = Union[int, str]
FORMATS = ("npy", "npz", "csv")
Progress = Callable[[int], Any]


class ExportError(HangarError):
    """A column cannot be written out as asked."""


def sort_key(key: Key) -> tuple[int, Any]:
    """Ints first, numerically; then strs."""
    return (0, key) if isinstance(key, int) else (1, key)


def export_column(column: Any, out_dir: str, fmt: str = "npy", *, force: bool = False,
                  keys: bool = True, progress: Progress = lambda n: None) -> int:
    """Write every sample of ``column`` under ``out_dir``; returns how many."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if column.column_type != "ndarray":
        raise ExportError(f"column {column.name!r} holds {column.column_type} samples: "
                          f"export writes ndarray columns")
    with writing(out_dir):
        os.makedirs(out_dir, exist_ok=True)
        if fmt == "npy":
            return write_npy(column, out_dir, force, progress)
        if fmt == "npz":
            return write_npz(column, out_dir, force, progress)
        return write_csv(column, out_dir, force, keys, progress)


@contextmanager
def writing(out_dir: str) -> Iterator[None]:
    try:
        yield
    except HangarError:
        raise
    except OSError as exc:
        where = exc.filename or out_dir
        raise ExportError(f"cannot write {where!r}: {exc.strerror or exc}") from None


def check_free(path: str, force: bool) -> None:
    if os.path.isdir(path):
        raise ExportError(f"cannot write {path!r}: it is a directory")
    if os.path.exists(path) and not force:
        raise ExportError(f"{path!r} exists: pass --force to overwrite it")


def write_npy(column: Any, out_dir: str, force: bool, progress: Progress) -> int:
    names: dict[str, Key] = {}
    for key in column.keys():
        name = f"{key}.npy"
        if name in names:
            raise ExportError(f"keys {names[name]!r} and {key!r} of column {column.name!r} would "
                              f"both be written to {name!r}: use --format npz")
        names[name] = key
        check_free(os.path.join(out_dir, name), force)
    count = 0
    for key, value in column.items():
        with open(os.path.join(out_dir, f"{key}.npy"), "wb") as fh:
            np.save(fh, value, allow_pickle=False)
        count += 1
        progress(1)
    return count


def sorted_values(column: Any, batch: int = 1024) -> Iterator[tuple[Key, np.ndarray]]:
    """(key, value) in key order, read a batch of keys at a time (one store read, or one
    request to the remote of a streaming checkout, per batch)."""
    keys = sorted(column.keys(), key=sort_key)
    for lo in range(0, len(keys), batch):
        part = keys[lo:lo + batch]
        yield from zip(part, column.get_many(part, except_missing=True))


@contextmanager
def atomic(path: str, mode: str, **kwargs: Any) -> Iterator[Any]:
    """A file written in full or not at all (temp file, then rename)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_npz(column: Any, out_dir: str, force: bool, progress: Progress) -> int:
    path = os.path.join(out_dir, f"{column.name}.npz")
    check_free(path, force)
    count = 0
    with atomic(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as archive:
        for key, value in sorted_values(column):
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)
            count += 1
            progress(1)
    return count


def write_csv(column: Any, out_dir: str, force: bool, keys: bool, progress: Progress) -> int:
    if len(column.shape) > 1:
        raise ExportError(f"column {column.name!r} has {len(column.shape)}-D samples "
                          f"{column.shape}: CSV holds 1-D rows, use --format npy or npz")
    path = os.path.join(out_dir, f"{column.name}.csv")
    check_free(path, force)
    count = 0
    with atomic(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for key, value in sorted_values(column):
            writer.writerow(([key] if keys else []) + value.reshape(-1).tolist())
            count += 1
            progress(1)
    return count
