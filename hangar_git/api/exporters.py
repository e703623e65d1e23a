"""Writers behind `git hangar export` (and for API users): samples become files.

* ``npy``: one ``<key>.npy`` per sample (what ``add`` reads back, keyed by stem);
  str and bytes samples become ``<key>.txt`` / ``<key>.bin``;
* ``npz``: one ``<column>.npz`` with a member per sample, named by key (str
  samples as 0-D unicode arrays, bytes as 1-D uint8 arrays);
* ``stacked``: one ``<column>.npy`` of shape (N, ...) in key order, and
  ``<column>.keys.txt`` with its keys, one per line;
* ``csv``: one ``<column>.csv``, a header line, then a row per 0-D or 1-D
  sample (or str sample), the key first (unless ``keys=False``), in key order.

Keys are written with :mod:`.keytext`, so int ``1`` and str ``'1'`` stay two
keys. Existing files are not overwritten unless ``force``. Nothing here
imports click.
"""
from __future__ import annotations

import csv
import io
import os
import zipfile
import zlib
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Union

import numpy as np

from ..errors import HangarError
from ..fileio import atomic_open, move_into_place, temp_name
from .keytext import KEY_FIELD, KEYS_SUFFIX, key_to_text
from .zipwrite import StoredZip

Key = Union[int, str]
FORMATS = ("npy", "npz", "csv", "stacked")
BATCH = 4096
"""Samples written to a stacked array (or CSV) at a time."""
Progress = Callable[[int], Any]


class ExportError(HangarError):
    """A column cannot be written out as asked."""


def sort_key(key: Key) -> tuple[int, Any]:
    """Ints first, numerically; then strs."""
    return (0, key) if isinstance(key, int) else (1, key)


def export_column(column: Any, out_dir: str, fmt: str = "npy", *, force: bool = False,
                  keys: bool = True, header: bool = True, progress: Progress = lambda n: None) -> int:
    """Write every sample of ``column`` under ``out_dir``; returns how many."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if column.column_type == "bytes" and fmt in ("csv", "stacked"):
        raise ExportError(f"column {column.name!r} holds bytes samples: export them as npy (one .bin file "
                          f"each) or npz")
    with writing(out_dir):
        os.makedirs(out_dir, exist_ok=True)
        if fmt == "npy":
            return write_npy(column, out_dir, force, progress)
        if fmt == "npz":
            return write_npz(column, out_dir, force, progress)
        if fmt == "stacked":
            if column.column_type == "ndarray" and not column.schema.variable_shape:
                from .exporters_stacked import write_stacked_fixed
                return write_stacked_fixed(column, out_dir, force, progress)
            return write_stacked(column, out_dir, force, progress)
        return write_csv(column, out_dir, force, keys, header, progress)


@contextmanager
def writing(out_dir: str) -> Iterator[None]:
    try:
        yield
    except HangarError:
        raise
    except OSError as exc:
        where = exc.filename or out_dir
        raise ExportError(f"cannot write {where!r}: {exc.strerror or exc}") from None


def write_sample(value: Any, path: str, force: bool = False) -> None:
    """One sample to ``path``: an array as .npy; str as UTF-8 text and bytes as they are, or,
    when ``path`` ends in .npy, a str as a 0-d string array and bytes as a uint8 array (numpy's
    bytes strings drop trailing NULs) (atomic). An existing file is overwritten only if
    ``force``, as :func:`export_column` does."""
    from ..fileio import write_atomic
    if isinstance(value, (bytes, str)) and not path.lower().endswith(".npy"):
        data = value if isinstance(value, bytes) else value.encode()
    else:
        import io
        buffer = io.BytesIO()
        array = np.frombuffer(value, dtype=np.uint8) if isinstance(value, bytes) else np.asarray(value)
        np.save(buffer, array, allow_pickle=False)
        data = buffer.getvalue()
    check_free(path, force)
    with writing(os.path.dirname(path) or "."):
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise ExportError(f"cannot write {path!r}: no directory {os.path.dirname(path)!r} (create it first)")
        write_atomic(path, data)


def check_free(path: str, force: bool) -> None:
    if os.path.isdir(path):
        raise ExportError(f"cannot write {path!r}: it is a directory")
    if os.path.exists(path) and not force:
        raise ExportError(f"{path!r} exists: pass --force to overwrite it")


SUFFIX = {"ndarray": ".npy", "str": ".txt", "bytes": ".bin"}


def write_npy(column: Any, out_dir: str, force: bool, progress: Progress) -> int:
    suffix = SUFFIX[column.column_type]
    for key in column.keys():
        check_free(os.path.join(out_dir, key_to_text(key) + suffix), force)
    count = 0
    for key, value in column.items():
        with open(os.path.join(out_dir, key_to_text(key) + suffix), "wb") as fh:
            if suffix == ".npy":
                np.save(fh, value, allow_pickle=False)
            else:
                fh.write(value.encode() if isinstance(value, str) else value)
        count += 1
        progress(1)
    return count


def sorted_values(column: Any) -> Iterator[tuple[Key, Any]]:
    """(key, sample) in key order (all samples held at once: for CSV's 1-D rows)."""
    samples = dict(column.items())  # storage order, read in large batches: far faster than by key
    for key in sorted(samples, key=sort_key):
        yield key, samples[key]


def as_array(value: Any) -> np.ndarray:
    if isinstance(value, str):
        return np.array(value)
    if isinstance(value, bytes):
        return np.frombuffer(value, dtype=np.uint8)
    return value


def write_npz(column: Any, out_dir: str, force: bool, progress: Progress) -> int:
    path = os.path.join(out_dir, f"{column.name}.npz")
    check_free(path, force)
    if column.column_type == "ndarray" and not column.schema.variable_shape and column.shape is not None:
        return write_npz_fixed(column, path, progress)
    count = 0
    with atomic_open(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as archive:
        for key, value in column.items():  # members in storage order: np.load finds them by name
            with archive.open(f"{key_to_text(key)}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, as_array(value), allow_pickle=False)
            count += 1
            progress(1)
    return count


def write_npz_fixed(column: Any, path: str, progress: Progress) -> int:
    """:func:`write_npz` of a fixed-shape column: every member has the same .npy header."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(column.shape, column.dtype), allow_pickle=False)
    nbytes = int(np.prod(column.shape, dtype=np.int64)) * column.dtype.itemsize
    head = buf.getvalue()[:len(buf.getvalue()) - nbytes]
    head_crc = zlib.crc32(head)
    count = 0
    with atomic_open(path, "wb") as fh:
        archive = StoredZip(fh)
        for key, value in column.items():  # members in storage order: np.load finds them by name
            archive.add(f"{key_to_text(key)}.npy", head, head_crc, value.tobytes())
            count += 1
            if count % BATCH == 0:
                progress(BATCH)
        archive.close()
    progress(count % BATCH)
    return count


def write_stacked(column: Any, out_dir: str, force: bool, progress: Progress) -> int:
    """One (N, ...) array: every sample must have one shape (str samples: one unicode array)."""
    path = os.path.join(out_dir, f"{column.name}.npy")
    keys_path = os.path.join(out_dir, column.name + KEYS_SUFFIX)
    check_free(path, force)
    check_free(keys_path, force)
    ordered = sorted(column.keys(), key=sort_key)
    position = {key: i for i, key in enumerate(ordered)}
    tmp = temp_name(path)
    stacked: Any = None
    for items in _batches(column.items()):
        values = [as_array(v) for _, v in items]
        if stacked is None:
            shape = values[0].shape if column.column_type == "ndarray" else ()
            dtype = values[0].dtype if column.column_type == "ndarray" else np.array(values).dtype
            stacked = np.lib.format.open_memmap(tmp, "w+", dtype=dtype, shape=(len(ordered), *shape))
        odd = next((k for (k, _), v in zip(items, values) if v.shape != stacked.shape[1:]), None)
        if odd is not None and column.column_type == "ndarray":
            first = stacked.shape[1:]
            del stacked
            os.remove(tmp)
            raise ExportError(f"sample {odd!r} of column {column.name!r} has another shape than the first "
                              f"{first}: a stacked array needs one shape, use --format npz")
        if column.column_type == "str" and np.array(values).dtype.itemsize > stacked.dtype.itemsize:
            stacked = _widen(stacked, tmp, np.array(values).dtype)
        stacked[[position[k] for k, _ in items]] = values
        progress(len(values))
    if stacked is None:
        np.save(path, np.zeros((0,), np.float64))
    else:
        stacked.flush()
        del stacked
        move_into_place(tmp, path)
    with atomic_open(keys_path, "w", encoding="utf-8") as fh:
        fh.writelines(key_to_text(k) + "\n" for k in ordered)
    return len(ordered)


def _batches(pairs: Iterator[tuple[Key, Any]]) -> Iterator[list[tuple[Key, Any]]]:
    batch: list[tuple[Key, Any]] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _widen(stacked: Any, tmp: str, dtype: Any) -> Any:
    """A str stack re-made with a wider unicode dtype (the longest text so far fits)."""
    wider = np.lib.format.open_memmap(tmp + "w", "w+", dtype=dtype, shape=stacked.shape)
    wider[:] = stacked
    wider.flush()
    del wider, stacked
    move_into_place(tmp + "w", tmp)
    return np.lib.format.open_memmap(tmp, "r+")


def write_csv(column: Any, out_dir: str, force: bool, keys: bool, header: bool, progress: Progress) -> int:
    shape = column.shape or ()
    if column.column_type == "ndarray" and len(shape) > 1:
        raise ExportError(f"column {column.name!r} has {len(shape)}-D samples "
                          f"{shape}: CSV holds 1-D rows, use --format npy, npz or stacked")
    path = os.path.join(out_dir, f"{column.name}.csv")
    check_free(path, force)
    count = 0
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        if header:
            width = 1 if column.column_type != "ndarray" or not shape else shape[0]
            names = [column.name] if width == 1 and not shape else [f"{column.name}_{i}" for i in range(width)]
            writer.writerow(([KEY_FIELD] if keys else []) + names)
        if column.column_type == "ndarray" and not column.schema.variable_shape:
            from .exporters_stacked import write_rows_csv
            return write_rows_csv(column, writer, keys, temp_name(path), progress)
        rows = []
        for key, value in sorted_values(column):
            cells = [value] if isinstance(value, str) else value.reshape(-1).tolist()
            rows.append(([key_to_text(key)] if keys else []) + cells)
            if len(rows) == BATCH:
                writer.writerows(rows)
                progress(len(rows))
                count, rows = count + len(rows), []
        writer.writerows(rows)
        progress(len(rows))
    return count + len(rows)
