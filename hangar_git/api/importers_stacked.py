"""A stacked export read back by `add`: ``<name>.npy`` of shape (N, ...) and ``<name>.keys.txt``
beside it, both among the files to add (a directory holding both counts), are N samples, the
rows of the array under the keys of the keys file (so export and import round-trip)."""
from __future__ import annotations

import os
from typing import Iterator, Sequence

import numpy as np

from ..errors import ImportFormatError
from .importers import Sample, reading, stem_of
from .keytext import KEYS_SUFFIX, key_from_text


def keys_path_of(npy_path: str) -> str:
    return npy_path[:-len(".npy")] + KEYS_SUFFIX


def pair_stacked(paths: Sequence[str]) -> tuple[list[str], frozenset[str]]:
    """``paths`` without the keys files of stacked exports, and the .npy files they key."""
    listed = {os.path.normpath(p) for p in paths}
    stacked = frozenset(p for p in paths if p.lower().endswith(".npy")
                        and os.path.normpath(keys_path_of(p)) in listed)
    keys_files = {os.path.normpath(keys_path_of(p)) for p in stacked}
    return [p for p in paths if os.path.normpath(p) not in keys_files], stacked


def stacked_keys(path: str) -> list[str]:
    """The lines of the keys file of stacked export ``path``."""
    keys_path = keys_path_of(path)
    with reading(keys_path, "keys file"), open(keys_path, encoding="utf-8") as fh:
        return [line.rstrip("\r\n") for line in fh if line.strip()]


def read_stacked(path: str) -> Iterator[Sample]:
    """The rows of stacked export ``path`` under its keys (str rows of a str column as str)."""
    lines = stacked_keys(path)
    with reading(path, ".npy"):
        array = np.lib.format.open_memmap(path, mode="r")
    if array.ndim == 0 or len(array) != len(lines):
        rows = 0 if array.ndim == 0 else len(array)
        raise ImportFormatError(f"cannot import stacked {path!r}: {rows} row(s) but {len(lines)} key(s) in "
                                f"{keys_path_of(path)!r}: export it again, or add it with --rows alone")
    for i, text in enumerate(lines):
        row = array[i]
        value = str(row) if array.dtype.kind == "U" else np.array(row)
        yield Sample(stem_of(path), value, f"{path} row {i}", row=i, key=key_from_text(text))
    del array
