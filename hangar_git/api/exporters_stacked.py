"""The ``stacked`` export of a fixed-shape column: its blocks of rows (``Column.blocks``)
written into one memory-mapped (N, ...) ``.npy`` at their places in key order, without a
Python object per sample when every key is an int."""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from ..fileio import atomic_open, move_into_place, temp_name
from .exporters import check_free, sort_key
from .keytext import key_to_text


def write_stacked_fixed(column: Any, out_dir: str, force: bool, progress: Callable[[int], Any]) -> int:
    """``<column>.npy`` of every sample in key order, and ``<column>.keys.txt`` of the keys."""
    path = os.path.join(out_dir, f"{column.name}.npy")
    keys_path = os.path.join(out_dir, f"{column.name}.keys.txt")
    check_free(path, force)
    check_free(keys_path, force)
    ordered = sorted(column.keys(), key=sort_key)
    places = _places(ordered)
    tmp = temp_name(path)
    try:
        _fill(tmp, column, len(ordered), places, progress)
    except BaseException:
        os.remove(tmp)
        raise
    move_into_place(tmp, path)
    with atomic_open(keys_path, "w", encoding="utf-8") as fh:
        fh.writelines(key_to_text(k) + "\n" for k in ordered)
    return len(ordered)


def _fill(tmp: str, column: Any, count: int, places: Callable[[Sequence], np.ndarray],
          progress: Callable[[int], Any]) -> None:
    """Write the (``count``, ...) array of ``column``'s rows at their ``places`` to ``tmp``."""
    stacked = np.lib.format.open_memmap(tmp, "w+", dtype=column.dtype, shape=(count, *column.shape))
    for keys, rows in column.blocks():
        stacked[places(keys)] = rows
        progress(len(rows))
    stacked.flush()


def _places(ordered: list) -> Callable[[Sequence], np.ndarray]:
    """The row of each key in ``ordered`` (sorted by :func:`sort_key`): a binary search
    when every key is an int that fits 64 bits, else a look-up per key."""
    if all(type(k) is int for k in ordered):
        try:
            sorted_ints = np.array(ordered, dtype=np.int64)
        except OverflowError:
            pass
        else:
            return lambda keys: np.searchsorted(sorted_ints, np.asarray(keys, dtype=np.int64))
    position = {key: i for i, key in enumerate(ordered)}
    return lambda keys: np.array([position[k] for k in keys], dtype=np.int64)
