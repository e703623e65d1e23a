"""Reads of many objects at once: where they live looked up in one vectorised pass,
their chunks fetched many at a time, large objects read ahead in parallel.

A mixin of :class:`~.tiledb_store.TileDBStore`, which provides what is declared here.
"""
from __future__ import annotations

from abc import abstractmethod
from concurrent.futures import Future
from itertools import repeat
from typing import Iterable, Iterator

import numpy as np

from ..errors import IntegrityError
from .base import ObjectStore
from .chunks import ChunkCache
from .objects import Digest, Meta, digests_to_raw
from .packindex import LARGE, PackIndex
from .runtime import io_pool

MEMO_MAX = 1 << 17
"""Object locations a store remembers (cleared when full)."""
READ_WINDOW = 1 << 14
"""Objects ``read_many`` prepares at a time (bounds the chunks it holds)."""
READ_PARALLEL = 4
"""Large objects read_many reads ahead of its caller, in parallel."""


class BatchReads(ObjectStore):
    """``warm``, ``gather`` and ``read_many`` of :class:`~.tiledb_store.TileDBStore`."""

    _memo: dict[str, tuple[tuple[str, int], PackIndex, int, int, int, str]]
    _chunks: ChunkCache
    _damaged: set[str]

    @abstractmethod
    def _pack_hits(self, raws: np.ndarray,
                   taken: np.ndarray) -> Iterator[tuple[PackIndex, np.ndarray, np.ndarray]]:
        """Per pack, newest first: positions of ``raws`` it holds that ``taken`` does not mark, and their rows."""

    @abstractmethod
    def _is_pending(self, digest: str) -> bool:
        """True for an object written but not yet flushed."""

    @abstractmethod
    def _reload(self) -> None:
        """Forget loaded indexes and cached chunks, and list the indexes afresh."""

    @abstractmethod
    def _read_large(self, digest: str, meta: str, *, verify: bool = True) -> tuple[Meta, memoryview]:
        """One object of the large tier, read from its own file."""

    def warm(self, digests: Iterable[str]) -> None:
        """Look up where many objects live in one vectorised pass (speeds later reads)."""
        memo = self._memo
        wanted = [d for d in digests if d not in memo]
        if not wanted or len(wanted) > MEMO_MAX:
            return
        if len(memo) + len(wanted) > MEMO_MAX:
            memo.clear()
        raws = digests_to_raw(wanted)
        taken = np.zeros(len(raws), dtype=bool)
        for pack, hit, r in self._pack_hits(raws, taken):
            taken[hit] = True
            chunks = pack.chunk[r]
            small = chunks != LARGE
            hit, r, chunks = hit[small], r[small], chunks[small]
            offsets = pack.offset[r]
            keys = self._chunks.keys(pack)
            memo.update(zip([wanted[i] for i in hit.tolist()],
                            zip([keys[c] for c in chunks.tolist()], repeat(pack), chunks.tolist(),
                                offsets.tolist(), (offsets + pack.nbytes[r]).tolist(),
                                [pack.metas[m] for m in pack.meta[r].tolist()])))
        for d in self._damaged.intersection(wanted) if self._damaged else ():
            memo.pop(d, None)

    def gather(self, raws: np.ndarray, itemsize: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of many same-sized small objects (see :meth:`ObjectStore.gather`); a chunk
        that fails its checksum is left to single reads, which report the damage."""
        try:
            return self._chunks.gather(list(self._pack_hits(raws, np.zeros(len(raws), bool))), raws, itemsize,
                                       self._damaged)
        except FileNotFoundError:
            self._reload()
            return self._chunks.gather(list(self._pack_hits(raws, np.zeros(len(raws), bool))), raws, itemsize,
                                       self._damaged)

    def read_many(self, digests: Iterable[Digest], *,
                  verify: bool = True) -> Iterator[tuple[Digest, Meta, memoryview]]:
        """Objects in order, a window at a time: small ones from chunks fetched many at a time
        (their places looked up in one vectorised pass), large ones read (and, with ``verify``,
        re-hashed) a few at a time in parallel, ahead of the caller."""
        digests = list(digests)
        for start in range(0, len(digests), READ_WINDOW):
            yield from self._read_window(digests[start:start + READ_WINDOW], verify)

    def _read_window(self, digests: list[Digest], verify: bool) -> Iterator[tuple[Digest, Meta, memoryview]]:
        in_large_tier = self._prefetch(digests)
        self.warm(digests)
        if not in_large_tier:
            return self._read_small_window(digests)
        return self._read_mixed(digests, iter(in_large_tier), verify)

    def _read_small_window(self, digests: list[Digest]) -> Iterator[tuple[Digest, Meta, memoryview]]:
        """The hot loop of many small objects, their places known and their chunks cached."""
        memo, cached, read = self._memo, self._chunks.get, self.read
        for d in digests:
            hit = memo.get(d)
            data = cached(hit[0]) if hit is not None else None
            if hit is None or data is None:
                meta, view = read(d)
                yield d, meta, view
            else:
                yield d, hit[5], data[hit[3]:hit[4]]  # type: ignore[misc]  # memo metas are Meta strings

    def _read_mixed(self, digests: list[Digest], large: Iterator[tuple[str, str]],
                    verify: bool) -> Iterator[tuple[Digest, Meta, memoryview]]:
        ahead: dict[str, Future] = {}

        def top_up() -> None:
            while len(ahead) < READ_PARALLEL:
                item = next(large, None)
                if item is None:
                    return
                ahead[item[0]] = io_pool().submit(self._read_large, *item, verify=verify)

        top_up()
        for d in digests:
            future = ahead.pop(d, None)
            meta, data = future.result() if future is not None else self.read(d)
            top_up()
            yield d, meta, data

    def _prefetch(self, digests: list[Digest]) -> list[tuple[str, str]]:
        """Load the chunks these digests live in, many reads at a time; returns the
        ``(digest, meta)`` of those in the large tier, in order, once each."""
        stored = list(dict.fromkeys(d for d in digests if not self._is_pending(d)))
        raws = digests_to_raw(stored)
        taken = np.zeros(len(raws), dtype=bool)
        wanted: list[tuple[PackIndex, int]] = []
        large: list[tuple[int, str]] = []
        for pack, hit, r in self._pack_hits(raws, taken):
            taken[hit] = True
            chunks = pack.chunk[r]
            wanted += [(pack, c) for c in np.unique(chunks[chunks != LARGE]).tolist()]
            is_large = chunks == LARGE
            large += zip(hit[is_large].tolist(), [pack.metas[m] for m in pack.meta[r[is_large]].tolist()])
        try:
            self._chunks.prefetch(wanted)
        except (FileNotFoundError, IntegrityError):
            pass  # left to single reads, which reload or report the damage
        return [(stored[i], meta) for i, meta in sorted(large) if stored[i] not in self._damaged]
