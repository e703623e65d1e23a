"""Rows of a streaming store, gathered in blocks (:meth:`ObjectStore.gather`): from the memory
cache, the directory cache, the local store, then the remote (the store is
:class:`~.streamstore.StreamingStore`, which mixes this in)."""
from __future__ import annotations

from itertools import compress
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

import numpy as np

from ..storage import Digest, ObjectStore, raws_to_digests
from ..storage.packcache import PackCache
from ..storage.packrows import ROWS_BELOW
from ..storage.readcache import MemoryCache
from .readahead import Prefetcher
from .rereads import RereadMarks

if TYPE_CHECKING:
    from .streamstore import Entry


class GathersRows:
    """The block-reading half of a streaming store (see the module doc)."""

    local: ObjectStore
    memory: MemoryCache
    disk: Optional[PackCache]
    _ahead: Optional[Prefetcher]
    _rereads: Optional[RereadMarks] = None

    if TYPE_CHECKING:  # the store's own (StreamingStore, PlansAhead)
        def _cached_many(self, digests: Sequence[str]) -> "dict[str, Entry]": ...
        def _obtain(self, digests: Sequence[str]) -> "dict[str, Entry]": ...
        def request_size(self) -> int: ...
        def missed_memory(self) -> None: ...

    def _pieces(self, count: int) -> Iterator[slice]:
        """``range(count)`` in slices of about one request's bytes: the entries a piece loads from
        the directory cache or the remote are copied into the block before the next piece is
        loaded (loaded all at once, 32 images of a block read from the directory cache were held
        beside the memory cache and the block: peak RSS 1.17x of ``cache_bytes``)."""
        step = self.request_size()
        return (slice(lo, lo + step) for lo in range(0, count, step))

    def gather(self, raws: np.ndarray, itemsize: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows from the memory cache, the directory cache, the local store, then the remote. The
        first of them to serve any is the block returned (a block served whole is not copied: an
        epoch over kept data reads at the local store's speed); later ones fill in what it lacks."""
        got: Optional[Rows] = self._gather_cached(raws, itemsize) if len(self.memory) else None
        if got is None or not got[1].all():
            self.missed_memory()
        if self.disk is not None and (got is None or not got[1].all()):
            got = _merged(got, raws, lambda sub: self._gather_disk_again(sub, itemsize))
        if got is None or not got[1].all():
            got = _merged(got, raws, lambda sub: self.local.gather(sub, itemsize))
        rows, found = got if got is not None else (np.empty((len(raws), itemsize), np.uint8), np.zeros(len(raws), bool))
        where = np.flatnonzero(~found)
        if len(where):
            digests = raws_to_digests(raws[where])
            for part in self._pieces(len(digests)):
                self._fill(rows, found, where[part], digests[part], self._obtain(digests[part]).get)
        return rows, found

    def _gather_cached(self, raws: np.ndarray, itemsize: int) -> Optional[Rows]:
        """The rows of ``raws`` the memory cache holds, and a found-mask; None when it holds none."""
        digests = raws_to_digests(raws)
        datas = [e[1] if e is not None else b"" for e in self.memory.get_many(digests)]
        hit = np.fromiter(map(len, datas), dtype=np.int64, count=len(datas)) == itemsize
        hits = int(hit.sum())
        if not hits:
            return None
        if hits == len(datas):  # all of them (an epoch over cached rows): one copy, no mask
            return np.frombuffer(b"".join(datas), dtype=np.uint8).reshape(hits, itemsize).copy(), hit
        rows = np.empty((len(raws), itemsize), dtype=np.uint8)
        rows[hit] = np.frombuffer(b"".join(compress(datas, hit)), dtype=np.uint8).reshape(hits, itemsize)
        if self._ahead is not None:
            self._ahead.consumed_many(list(compress(digests, hit)))
        return rows, hit

    def _gather_disk_again(self, raws: np.ndarray, itemsize: int) -> Rows:
        """:meth:`_gather_disk`; the rows this process read there before are copied into the
        memory cache (read again, they come from memory: see :mod:`.rereads`)."""
        rows, found = self._gather_disk(raws, itemsize)
        if self._rereads is None:
            self._rereads = RereadMarks()
        at = np.flatnonzero(found)
        again = at[self._rereads.seen_before(raws[at])]
        if len(again):
            self._keep_in_memory(raws[again], rows[again])
        return rows, found

    def _keep_in_memory(self, raws: np.ndarray, rows: np.ndarray) -> None:
        digests = raws_to_digests(raws)
        assert self.disk is not None
        entry = self.disk.get(digests[0])  # one column's rows: one meta
        if entry is None:
            return
        meta = entry[0]
        self.memory.put_many([(d, meta, row.tobytes()) for d, row in zip(digests, rows)])

    def _gather_disk(self, raws: np.ndarray, itemsize: int) -> Rows:
        """The rows of ``raws`` the directory cache holds: small ones verified in batches and left
        where they are, larger ones object by object."""
        assert self.disk is not None
        digests = raws_to_digests(raws)
        if itemsize <= ROWS_BELOW:
            return self.disk.gather_rows(digests, itemsize)
        rows, found = np.empty((len(raws), itemsize), dtype=np.uint8), np.zeros(len(raws), dtype=bool)
        at = np.arange(len(raws))
        for part in self._pieces(len(digests)):
            self._fill(rows, found, at[part], digests[part], self._cached_many(digests[part]).get)
        return rows, found

    @staticmethod
    def _fill(rows: np.ndarray, found: np.ndarray, where: np.ndarray, digests: list[Digest],
              lookup: Callable[[str], Optional[Entry]]) -> None:
        """``rows[where[i]]`` = the bytes ``lookup`` gives for ``digests[i]`` when of a row's size."""
        size = rows.shape[1]
        for i, d in zip(where.tolist(), digests):
            entry = lookup(d)
            if entry is not None and len(entry[1]) == size:
                rows[i] = np.frombuffer(entry[1], dtype=np.uint8)
                found[i] = True


Rows = tuple[np.ndarray, np.ndarray]
"""A block of rows and its found-mask (see :meth:`ObjectStore.gather`)."""


def _merged(got: Optional[Rows], raws: np.ndarray, gather: Callable[[np.ndarray], Rows]) -> Optional[Rows]:
    """``got`` with the rows it lacks filled in from ``gather`` (of those raws). With nothing found
    yet, what ``gather`` returns for all of ``raws`` is taken as it is, not copied (None if it
    found none)."""
    if got is None:
        rows, found = gather(raws)
        return (rows, found) if found.any() else None
    rows, found = got
    where = np.flatnonzero(~found)
    more, hit = gather(raws[where])
    rows[where[hit]] = more[hit]
    found[where[hit]] = True
    return rows, found
