"""Rows of a fixed-shape column read from a directory cache (:mod:`.packcache`) many at a time:
located, sliced out of the packs' maps and verified in numpy and hashing loops, not one object
at a time (the reads of a DataLoader worker over a cache its sampler's process filled)."""
from __future__ import annotations

import mmap
import threading
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .identity import raw_of
from .objects import digest_rows
from .packrecords import Location

ROWS_BELOW = 64 << 10
"""Rows up to this size are gathered from a map of their pack (the cache's ``MAP_BELOW``)."""


class RowReads:
    """The batched row reads of a :class:`~.packcache.PackCache` (mixed into it)."""

    _where: dict[str, Location]
    damaged: int
    hits: int
    if TYPE_CHECKING:  # what PackCache defines, as the methods below use it
        def _mine(self) -> threading.Lock: ...
        def _refresh(self) -> None: ...
        def _fd(self, name: str) -> Optional[int]: ...
        def _mapped(self, name: str, fd: int, end: int) -> mmap.mmap: ...

    def gather_rows(self, digests: Sequence[str], itemsize: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, found): the bytes of each object held here whose size is ``itemsize`` (a row
        of ``rows``; ``found`` says which), every row verified against its digest. Objects of
        another size or meta, in a pack gone, or damaged are not found (a damaged one is dropped
        from the index): the caller reads them another way."""
        rows = np.empty((len(digests), itemsize), dtype=np.uint8)
        found = np.zeros(len(digests), dtype=bool)
        if itemsize > ROWS_BELOW or not digests:
            return rows, found
        where = self._where
        if any(d not in where for d in digests):
            with self._mine():
                self._refresh()
        by_pack: dict[str, list[int]] = {}
        places: dict[int, Location] = {}
        for i, place in enumerate(map(where.get, digests)):
            if place is not None and place[3] == itemsize:
                by_pack.setdefault(place[0], []).append(i)
                places[i] = place
        for name, at in by_pack.items():
            self._gather_pack(name, at, [places[i] for i in at], digests, rows, found)
        return rows, found

    def _gather_pack(self, name: str, at: list[int], places: list[Location], digests: Sequence[str],
                     rows: np.ndarray, found: np.ndarray) -> None:
        """Rows ``at`` (positions in ``digests``) from pack ``name``: those of the first one's meta."""
        itemsize = rows.shape[1]
        offsets = np.array([p[1] for p in places], dtype=np.int64)
        metas = np.array([p[2] for p in places], dtype=np.int64)
        fd = self._fd(name)
        if fd is None:
            return
        end = int((offsets + metas).max()) + itemsize
        pack = np.frombuffer(self._mapped(name, fd, end), dtype=np.uint8, count=end)
        width = int(metas[0])
        same = metas == width
        first = pack[offsets[0]:offsets[0] + width]
        heads = pack[offsets[same][:, None] + np.arange(width)]
        same[same] = (heads == first).all(axis=1)  # one meta for the rows hashed together
        keep = np.flatnonzero(same)
        block = pack[(offsets[keep] + width)[:, None] + np.arange(itemsize)]
        try:
            meta = first.tobytes().decode("ascii")
        except UnicodeDecodeError:
            return
        want = np.frombuffer(raw_of("".join([digests[at[k]] for k in keep.tolist()])), dtype="S32")
        good = digest_rows(meta, block) == want
        into = np.asarray(at, dtype=np.int64)[keep[good]]
        rows[into] = block[good]
        found[into] = True
        self.hits += len(into)
        for k in keep[~good].tolist():
            self.damaged += 1
            where = self._where
            where.pop(digests[at[k]], None)


__all__ = ["ROWS_BELOW", "RowReads"]
