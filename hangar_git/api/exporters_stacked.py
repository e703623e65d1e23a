"""The ``stacked`` export of a fixed-shape column in one read of it: its blocks of rows
(``Column.blocks``) go to a memory-mapped array in storage order, their keys are gathered
(int keys as arrays), then the rows are copied into the (N, ...) ``.npy`` in key order,
a block at a time. Memory stays bounded (both arrays are maps of files); the disk holds
the column twice until the export ends."""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from ..fileio import atomic_open, move_into_place, temp_name
from .exporters import ExportError, check_free, sort_key
from .keytext import KEYS_SUFFIX, key_to_text

COPY_ROWS_BYTES = 32 << 20
"""Rows copied into key order at a time."""


def write_stacked_fixed(column: Any, out_dir: str, force: bool, progress: Callable[[int], Any]) -> int:
    """``<column>.npy`` of every sample in key order, and ``<column>.keys.txt`` of the keys."""
    path = os.path.join(out_dir, f"{column.name}.npy")
    keys_path = os.path.join(out_dir, column.name + KEYS_SUFFIX)
    check_free(path, force)
    check_free(keys_path, force)
    stored, tmp = temp_name(path) + ".stored", temp_name(path)
    try:
        keys = _stored_rows(column, stored, progress)
        ordered, order = _key_order(keys)
        _copy_in_order(stored, tmp, order)
    except BaseException:
        for name in (stored, tmp):
            if os.path.exists(name):
                os.remove(name)
        raise
    os.remove(stored)
    move_into_place(tmp, path)
    with atomic_open(keys_path, "w", encoding="utf-8") as fh:
        if isinstance(ordered, np.ndarray):
            fh.write("".join(f"{k}\n" for k in ordered.tolist()))
        else:
            fh.writelines(key_to_text(k) + "\n" for k in ordered)
    return len(order)


def write_rows_csv(column: Any, writer: Any, keys: bool, scratch: str, progress: Callable[[int], Any]) -> int:
    """The CSV rows (the key first, with ``keys``) of a fixed-shape column of 1-D (or 0-D)
    samples, in key order, to a ``csv.writer``; ``scratch``: a file name it may use."""
    stored = scratch + ".stored"
    try:
        ordered, order = _key_order(_stored_rows(column, stored, progress))
        source = np.load(stored, mmap_mode="r")
        step = max(1, COPY_ROWS_BYTES // 8 // max(1, source[:1].size))
        for lo in range(0, len(order), step):
            cells = source[order[lo:lo + step]].reshape(len(order[lo:lo + step]), -1).tolist()
            if keys:
                texts = [str(k) for k in ordered[lo:lo + step].tolist()] if isinstance(ordered, np.ndarray) \
                    else [key_to_text(k) for k in ordered[lo:lo + step]]
                cells = [[t, *row] for t, row in zip(texts, cells)]
            writer.writerows(cells)
        del source
    finally:
        if os.path.exists(stored):
            os.remove(stored)
    return len(order)


def _stored_rows(column: Any, stored: str, progress: Callable[[int], Any]) -> list:
    """Write the column's rows in storage order to the .npy ``stored``; returns their keys
    (a list of key blocks: arrays or lists)."""
    count = len(column)
    rows = np.lib.format.open_memmap(stored, "w+", dtype=column.dtype, shape=(count, *column.shape))
    at = 0
    key_blocks = []
    for keys, block in column.blocks():
        if at + len(block) > count:
            raise ExportError(f"column {column.name!r} changed during its export: export it again")
        rows[at:at + len(block)] = block
        key_blocks.append(keys)
        at += len(block)
        progress(len(block))
    rows.flush()
    del rows
    if at != count:
        raise ExportError(f"column {column.name!r} changed during its export: export it again")
    return key_blocks


def _key_order(key_blocks: list) -> tuple[Any, np.ndarray]:
    """(the keys in key order: an int64 array when every key is an int that fits, else a
    list; the storage position of each)."""
    flat: list = []
    for block in key_blocks:
        flat.extend(block.tolist() if isinstance(block, np.ndarray) else block)
    if all(type(k) is int for k in flat):
        try:
            ints = np.array(flat, dtype=np.int64)
        except OverflowError:
            pass
        else:
            order = np.argsort(ints, kind="stable")
            return ints[order], order
    order = np.array(sorted(range(len(flat)), key=lambda i: sort_key(flat[i])), dtype=np.int64)
    return [flat[i] for i in order.tolist()], order


def _copy_in_order(stored: str, tmp: str, order: np.ndarray) -> None:
    """The rows of ``stored`` at positions ``order``, one after the other, as the .npy ``tmp``."""
    source = np.load(stored, mmap_mode="r")
    out = np.lib.format.open_memmap(tmp, "w+", dtype=source.dtype, shape=source.shape)
    step = max(1, COPY_ROWS_BYTES // max(1, source[:1].nbytes))
    for lo in range(0, len(order), step):
        out[lo:lo + step] = source[order[lo:lo + step]]
    out.flush()
    del out, source
