"""Neighbourhoods for single reads of a streaming checkout: on a miss for one sample, the
samples next to it in key order come in the same request, up to a byte bound.

A reader that walks keys one at a time (``co[name, i]`` for i = 0, 1, 2, ...) then pays one
round trip per neighbourhood instead of one per sample; a random reader pays a few more bytes
per request. The bound (:data:`NEAR_BYTES`) keeps a request of large samples (images) to the
one asked for: measured through a 20 ms / 100 MB/s link, neighbours help sequential single
reads of small rows many times over and cost random ones nothing measurable, while for
256 KiB images any neighbour costs more transfer than the round trip it might save
(``bench/bench_streaming.py``; the README lists the figures).
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

import numpy as np

from ..storage import raws_to_digests
from ..storage.identity import raw_of
from .column_reads import int_index
from .columns import Column, NdarrayColumn

NEAR_BYTES = 64 << 10
"""At most this many bytes of neighbours ride along with a single read's miss."""
NEAR_COUNT = 64
"""... and at most this many neighbours."""
BEHIND = 4
"""Of the neighbours, one in ``BEHIND`` comes before the key asked for (readers mostly walk forward)."""


class Neighbourhood:
    """Digests next to a digest in its column's key order (int-keyed, fixed-shape columns)."""

    def __init__(self, columns: Callable[[], Iterable[Column]], max_bytes: int = NEAR_BYTES) -> None:
        self._columns = columns
        self.max_bytes = max_bytes
        self._tables: Optional[list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]] = None

    def _made(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
        """Per column: raws in key order, the same sorted, the sort's order, neighbours to take."""
        if self._tables is None:
            tables = []
            for col in self._columns():
                count = _count(col, self.max_bytes)
                index = int_index(col) if count else None
                if index is None or not len(index[1]):
                    continue
                raws = np.ascontiguousarray(index[1], dtype="S32")
                order = np.argsort(raws, kind="stable")
                tables.append((raws, raws[order], order, count))
            self._tables = tables
        return self._tables

    def around(self, digest: str) -> list[str]:
        """Digests of the samples next to ``digest`` in key order (not itself), within the bounds."""
        if self.max_bytes <= 0:
            return []
        raw = np.array([raw_of(digest)], dtype="S32")
        for raws, by_raw, order, count in self._made():
            at = int(np.searchsorted(by_raw, raw[0]))
            if at < len(by_raw) and by_raw[at] == raw[0]:
                pos = int(order[at])
                lo = max(pos - count // BEHIND, 0)
                near = np.concatenate([raws[pos + 1:pos + 1 + count - (pos - lo)], raws[lo:pos]])
                return [d for d in raws_to_digests(near) if d != digest]
        return []


def _count(col: Column, max_bytes: int) -> int:
    """Neighbours of one sample of ``col`` within the bounds (0: none, or not a fixed-shape array)."""
    if not isinstance(col, NdarrayColumn) or col.schema.variable_shape:
        return 0
    size = int(np.prod(col.shape)) * np.dtype(col.dtype).itemsize
    return min(NEAR_COUNT, max_bytes // max(size, 1))


__all__ = ["NEAR_BYTES", "Neighbourhood"]
