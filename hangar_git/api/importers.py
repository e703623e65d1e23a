"""Readers behind `git hangar add`: files become samples.

* ``.npy``: the array is one sample named by the file stem, or with
  ``rows`` each row (``arr[i]``) is a sample at row ``i``;
* ``.npz``: each array in the archive is a sample named by its member name;
* ``.csv``: each non-blank row is a 1-D sample at its row index (the rows of
  the Hangar Dota2 example); values are parsed as ``dtype``, else as the
  target column's dtype, else int64 if they all are integers, else float64;
  an optional key column gives the keys;
* images (``.png``, ``.jpg``, ...): ``numpy.asarray(PIL.Image.open(f))``,
  named by the file stem (needs Pillow);
* ``.txt`` / ``.bin``: the whole file is one str (UTF-8) / bytes sample named by the file
  stem, as `git hangar export` writes the samples of str and bytes columns.

A file that cannot be read raises :class:`ImportFormatError` naming it;
nothing here imports click.
"""
from __future__ import annotations

import itertools
import os
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from ..errors import HangarError, ImportFormatError
from ..heap import drop_mapped_pages
from .keytext import key_from_text

Key = Union[int, str]

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
TEXT_SUFFIXES = {".txt": "str", ".bin": "bytes"}
"""Files holding one str or bytes sample each (what `export` writes for those columns)."""
SUFFIXES = (".csv", ".npy", ".npz", *IMAGE_SUFFIXES, *TEXT_SUFFIXES)
KEY_FROM = ("auto", "name", "index", "row")



@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How files are read (the options of `git hangar add`)."""

    rows: bool = False                       # .npy: each row is a sample
    dtype: Optional[np.dtype] = None         # CSV: parse as; other files: cast to
    column_dtype: Optional[np.dtype] = None  # CSV without dtype: the target column's
    key_column: Optional[str] = None         # CSV: index or header name of the keys
    header: bool = False                     # CSV: the first row names the fields
    delimiter: str = ","
    stacked: frozenset = frozenset()          # .npy files of stacked exports (keys file beside)


@dataclass(frozen=True, slots=True)
class Sample:
    """One array read from a file, with where it came from."""

    name: str                  # file stem, or member name in an .npz
    value: "np.ndarray | str | bytes"
    where: str                 # for messages: "a.csv line 3", "b.npz:x", "c.npy row 2"
    row: Optional[int] = None  # row index, for row imports
    key: Optional[Key] = None  # key given by the file (CSV key column)


# -- checking arguments --------------------------------------------------------------
def expand_directories(paths: Sequence[str]) -> list[str]:
    """``paths`` with each directory replaced by the files in it that `add` reads (a known
    suffix), sorted by name; subdirectories and other files in it are not read."""
    out: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            out.append(path)
            continue
        found = sorted(entry.path for entry in os.scandir(path)
                       if entry.is_file() and suffix_of(entry.name) in SUFFIXES)
        if not found:
            raise ImportFormatError(f"cannot read {path!r}: the directory holds no file of a type `add` reads "
                                    f"({', '.join(SUFFIXES)}; subdirectories are not read)")
        out.extend(found)
    return out


def check_sources(paths: Sequence[str]) -> None:
    """Fail before anything is staged if a file is missing or of unknown type."""
    for path in paths:
        if not os.path.exists(path):
            raise ImportFormatError(f"cannot read {path!r}: no such file")
        if suffix_of(path) not in SUFFIXES:
            raise ImportFormatError(
                f"cannot import {path!r}: unknown file type; supported: {', '.join(SUFFIXES)}")


def suffix_of(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def stem_of(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def parse_dtype(text: Optional[str]) -> Optional[np.dtype]:
    if text is None:
        return None
    try:
        return np.dtype(text)
    except TypeError:
        raise ImportFormatError(f"unknown dtype {text!r}: use a numpy dtype such as "
                                f"int64, float32 or uint8") from None


# -- reading -------------------------------------------------------------------------
_OBJECT_ARRAY = re.compile(r"Python objects in dtype|Object arrays cannot be loaded")


@contextmanager
def reading(path: str, what: str) -> Iterator[None]:
    """Turn whatever a parser raises into one ImportFormatError naming the file.

    Deliberately broad: parsers of damaged files raise anything from
    ValueError to tokenize.TokenError or zipfile.BadZipFile.
    """
    try:
        yield
    except HangarError:
        raise
    except Exception as exc:
        if isinstance(exc, ValueError) and _OBJECT_ARRAY.search(str(exc)):  # numpy's words for them
            raise ImportFormatError(f"cannot import {path!r}: object arrays are not supported "
                                    f"(save a numeric array)") from None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ImportFormatError(f"cannot read {path!r} as {what}: {reason or type(exc).__name__}") from None


class Importer:
    """The samples of several files, read lazily in order.

    ``options`` may be replaced between files (``add`` does, once it knows
    the dtype of the column it created from the first file).
    """

    def __init__(self, paths: Sequence[str], options: ImportOptions) -> None:
        self.paths = list(paths)
        self.options = options

    def __iter__(self) -> Iterator[Sample]:
        for path in self.paths:
            yield from read_samples(path, self.options)


def read_samples(path: str, options: ImportOptions) -> Iterator[Sample]:
    suffix = suffix_of(path)
    if path in options.stacked:
        from .importers_stacked import read_stacked
        samples = read_stacked(path)
    elif suffix == ".npy":
        samples = read_npy(path, options.rows)
    elif suffix == ".npz":
        samples = read_npz(path)
    elif suffix == ".csv":
        from .importers_csv import read_csv
        samples = read_csv(path, options)
    elif suffix in IMAGE_SUFFIXES:
        samples = read_image(path, keep_bool=options.dtype is not None and options.dtype == np.bool_)
    elif suffix in TEXT_SUFFIXES:
        return iter([read_text(path, TEXT_SUFFIXES[suffix])])
    else:
        raise ImportFormatError(f"cannot import {path!r}: unknown file type; "
                                f"supported: {', '.join(SUFFIXES)}")
    if options.dtype is None or suffix == ".csv":
        return samples
    return (cast(s, options.dtype) for s in samples)


def read_text(path: str, kind: str) -> Sample:
    """The one str (UTF-8) or bytes sample of a .txt / .bin file."""
    with reading(path, "UTF-8 text" if kind == "str" else "bytes"):
        with open(path, "rb") as fh:
            data = fh.read()
        return Sample(stem_of(path), data.decode("utf-8") if kind == "str" else data, path)


def sample_kind(value: object) -> str:
    """The column type a sample value goes to: ``str``, ``bytes`` or ``ndarray``."""
    return "str" if isinstance(value, str) else "bytes" if isinstance(value, bytes) else "ndarray"


def cast(sample: Sample, dtype: np.dtype) -> Sample:
    """An array sample cast to ``dtype`` (within a kind); str and bytes samples as they are."""
    if not isinstance(sample.value, np.ndarray) or sample.value.dtype == dtype:
        return sample
    return Sample(sample.name, cast_array(sample.value, dtype, sample.where), sample.where, sample.row, sample.key)


def cast_array(value: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    if value.dtype == dtype:
        return value
    try:
        return value.astype(dtype, casting="same_kind")
    except TypeError:
        raise ImportFormatError(f"{where}: cannot cast {value.dtype} to {dtype} "
                                f"(only within a kind, e.g. float64 to float32)") from None


def read_npy(path: str, rows: bool = False) -> Iterator[Sample]:
    with reading(path, ".npy"):
        array = np.lib.format.open_memmap(path, mode="r")
        if not rows:
            value = np.array(array)
            del array
            yield Sample(stem_of(path), value, path)
            return
        if array.ndim == 0:
            raise ImportFormatError(f"cannot import rows of {path!r}: it holds a scalar, not rows")
        for i in range(array.shape[0]):
            yield Sample(stem_of(path), np.array(array[i]), f"{path} row {i}", row=i)
        del array


ROWS_BLOCK = 1 << 16
"""Rows of a .npy file read and staged at a time by a bulk row import."""


def npy_rows(paths: Sequence[str], options: ImportOptions, key_from: str, variable_shape: bool) -> Optional[np.ndarray]:
    """The rows of the one .npy file of a row import keyed by row number (``key_from`` auto,
    row or index), mapped, not read: what a bulk import stages a block at a time. None when
    the import is of another kind (or holds no rows): samples are then read one by one."""
    if len(paths) != 1 or not options.rows or suffix_of(paths[0]) != ".npy" or variable_shape \
            or key_from not in ("auto", "row", "index") or paths[0] in options.stacked:
        return None
    with reading(paths[0], ".npy"):
        array = np.lib.format.open_memmap(paths[0], mode="r")
    return array if array.ndim > 0 and len(array) else None


def npy_path(array: np.ndarray) -> str:
    """The file a mapped array was read from."""
    return str(getattr(array, "filename", "") or "the .npy file")


def release_pages(array: np.ndarray) -> None:
    """Drop the pages of a mapped .npy (:func:`npy_rows`) read so far from the process's
    resident size: they stay in the page cache, and a later read maps them back in (a
    million-row import otherwise keeps the whole file resident to its end)."""
    drop_mapped_pages(array.base)


def rows_block(array: np.ndarray, lo: int, hi: int, dtype: Optional[np.dtype]) -> np.ndarray:
    """Rows ``lo`` to ``hi`` of a mapped array, read (and cast to ``dtype``, within a kind)."""
    block = np.array(array[lo:hi])
    if dtype is None:
        return block
    return cast_array(block, dtype, f"{npy_path(array)} rows {lo}-{hi - 1}")


def read_npz(path: str) -> Iterator[Sample]:
    with reading(path, ".npz"), zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                raise ImportFormatError(f"cannot read {path!r} as .npz: member {member!r} is not "
                                        f"a .npy array")
            name = member[:-4]
            with archive.open(member) as fh:
                value = np.lib.format.read_array(fh, allow_pickle=False)
            yield Sample(name, value, f"{path}:{name}")


def read_image(path: str, keep_bool: bool = False) -> Iterator[Sample]:
    """An image as users expect it: palette images as RGB (RGBA when they have transparency),
    1-bit images as uint8 0/255 (bool only when asked, with --dtype bool), and every frame of
    an animation as a sample ``stem:N``."""
    try:
        from PIL import Image, ImageSequence
    except ImportError:
        raise ImportFormatError(
            f"cannot read image {path!r}: Pillow is not installed (pip install 'hangar-git[images]')") from None
    with reading(path, "an image"):
        try:
            with Image.open(path) as image:
                frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
        except Image.DecompressionBombError as exc:
            raise ImportFormatError(f"cannot read image {path!r}: {exc}") from None
    mode = None if keep_bool and {f.mode for f in frames} == {"1"} else _target_mode(frames)
    values = [np.array(frame.convert(mode) if mode and frame.mode != mode else frame) for frame in frames]
    if len(values) == 1:
        yield Sample(stem_of(path), values[0], path)
        return
    for i, value in enumerate(values):
        yield Sample(f"{stem_of(path)}:{i}", value, f"{path} frame {i}")


def _target_mode(frames: list) -> Optional[str]:
    """The one mode every frame is converted to (None: keep each frame as it is)."""
    modes = {frame.mode for frame in frames}
    if modes <= {"1"}:
        return "L"
    if modes & {"P", "PA"} or len(modes) > 1:
        transparent = any(f.mode in ("PA", "RGBA", "LA") or "transparency" in f.info for f in frames)
        return "RGBA" if transparent else "RGB"
    return None


# -- keys and shapes -----------------------------------------------------------------
def assign_keys(samples: Iterable[Sample], key_from: str = "auto",
                start: int = 0) -> Iterator[tuple[Key, Sample]]:
    """Key each sample; a key used twice in one import is an error.

    ``auto``: the file's key column, else the row index for row imports,
    else the name; ``name``: the name (``stem:row`` for rows); ``index``:
    0, 1, 2, ... (from ``start``) across all files; ``row``: the row index.
    """
    if key_from not in KEY_FROM:
        raise ImportFormatError(f"unknown key source {key_from!r}: use one of {', '.join(KEY_FROM)}")
    counter = itertools.count(start)
    seen: dict[Key, str] = {}
    for sample in samples:
        key = key_for(sample, key_from, counter)
        if key in seen:
            raise ImportFormatError(
                f"{sample.where}: key {key!r} is used twice in this import (also by "
                f"{seen[key]}): use --key-from index or --key-from name")
        seen[key] = sample.where
        yield key, sample


def key_for(sample: Sample, key_from: str, counter: Iterator[int]) -> Key:
    if key_from == "index":
        return next(counter)
    if key_from == "row":
        if sample.row is None:
            raise ImportFormatError(f"{sample.where}: --key-from row needs row imports "
                                    f"(.csv files, or .npy files with --rows)")
        return sample.row
    if key_from == "name":
        return sample.name if sample.row is None else f"{sample.name}:{sample.row}"
    if sample.key is not None:
        return sample.key
    return sample.row if sample.row is not None else key_from_text(sample.name)


def max_shape(samples: Iterable[Sample]) -> Optional[tuple[int, ...]]:
    """The smallest shape every sample fits in (None if there are no samples)."""
    shape: Optional[list[int]] = None
    for sample in samples:
        if not isinstance(sample.value, np.ndarray):
            raise ImportFormatError(f"{sample.where}: a {sample_kind(sample.value)} sample has no shape: "
                                    f"--variable-shape is for arrays")
        if shape is None:
            shape = list(sample.value.shape)
        elif len(shape) != sample.value.ndim:
            raise ImportFormatError(
                f"{sample.where}: has {sample.value.ndim} dimensions, other samples {len(shape)}; "
                f"a variable-shape column takes arrays of one number of dimensions")
        else:
            shape = [max(a, b) for a, b in zip(shape, sample.value.shape)]
    return None if shape is None else tuple(shape)
