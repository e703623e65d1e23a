"""Single reads by raw digest: the hot path of random access (every DataLoader worker).

A column's key index hands out raw 32-byte digests; reading by them skips the
hex round trip. An object in a chunk that blosc2 stored uncompressed (the
bytes of incompressible data: random values, encoded images) is sliced from
the mapped data file and verified on its own against its BLAKE3 digest, so a
first pass over a million rows decompresses and checksums no whole chunk to
return a few bytes of each. Everything else (compressed chunks, large
objects, buffered writes, damage) goes through the store's ``read``, which
verifies whole chunks; a slice that fails its digest is read that way again,
which finds and reports the damage.
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional

import numpy as np

from . import locations as loc
from .base import ObjectStore
from .chunks import ChunkCache
from .files import StoreFiles
from .objects import Buffer, Meta, matches, raw_to_digest
from .packindex import LARGE, PackIndex

_LARGE = int(LARGE)
LOCATIONS_BLOCK = 1 << 17
"""Digests :meth:`RawReads.locations_of` looks up at a time (lowered by tests)."""


class RawReads(ObjectStore):
    """The raw-digest read of :class:`~.tiledb_store.TileDBStore` (which provides what is declared here)."""

    _packs: list[PackIndex]
    _pending: dict[str, tuple[str, bytes]]
    _pending_large: dict[str, tuple[str, int]]
    _damaged: set[str]
    _loaded: bool
    _chunks: ChunkCache
    _files: StoreFiles
    uri: str

    def _load_packs(self) -> bool: raise NotImplementedError
    def _pack_hits(self, raws: np.ndarray,
                   taken: np.ndarray) -> Iterator[tuple[PackIndex, np.ndarray, np.ndarray]]: raise NotImplementedError

    def read_raw(self, raw: bytes) -> tuple[Meta, Buffer]:
        """:meth:`read` of a raw digest (32 bytes): verified bytes, KeyError if absent."""
        if not self._loaded:
            self._load_packs()
        if self._pending or self._pending_large or self._damaged:
            return self.read(raw_to_digest(raw))
        pack: Optional[PackIndex] = None
        for pack in reversed(self._packs):
            row = pack.find(raw)
            if row >= 0:
                break
        else:
            return self.read(raw_to_digest(raw))  # new packs, or absent: read() reloads and decides
        chunk, offset, size, meta_no = pack.fields(row)
        plain = self._chunks.plain(pack, chunk) if chunk != _LARGE else None
        if plain is None:
            return self.read(raw_to_digest(raw))
        whole, start = plain
        data = whole[start + offset:start + offset + size]
        meta = pack.metas[meta_no]
        if matches(meta, data, raw):
            return meta, data  # type: ignore[return-value]  # index metas are Meta strings
        self._chunks.not_plain(pack, chunk)
        return self.read(raw_to_digest(raw))

    # -- locations files (see :mod:`.locations`) --------------------------------------
    def locations_of(self, raws: np.ndarray,
                      after_block: Optional[Callable[[], None]] = None) -> Optional[list[Buffer]]:
        """A locations file for raw digests (``S32``) in row order, as buffers to write one
        after the other: where each object stored in an uncompressed chunk lies; None for a
        remote store (reads there are not sliced). ``after_block``: called after each block
        of look-ups (see :meth:`.ObjectStore.locations_of`)."""
        if not self._files.local:
            return None
        n = len(raws)
        recs = loc.records(n)
        files: dict[str, int] = {}
        metas: dict[str, int] = {}
        for lo in range(0, n, LOCATIONS_BLOCK):  # look-ups a block at a time: their temporaries stay small
            part = recs[lo:lo + LOCATIONS_BLOCK]
            self._locate_block(raws[lo:lo + LOCATIONS_BLOCK], files, metas, part["pos"], part["size"], part["file"],
                               part["meta"])
            if after_block is not None:
                after_block()
        if len(files) >= loc.NOWHERE or len(metas) >= loc.NOWHERE:
            return None
        return loc.encode_parts(recs, list(files), list(metas))

    def _locate_block(self, raws: np.ndarray, files: dict[str, int], metas: dict[str, int], pos: np.ndarray,
                      size: np.ndarray, file_no: np.ndarray, meta_no: np.ndarray) -> None:
        """:meth:`locations_of` of a block of digests, into views of its arrays (``files`` and
        ``metas`` number the data files and metas met so far)."""
        n = len(raws)
        taken = np.zeros(n, dtype=bool)
        for pack, hit, rows in self._pack_hits(raws, taken):
            taken[hit] = True
            chunks = pack.chunk[rows]
            small = chunks != LARGE
            hit, rows, chunks = hit[small], rows[small], chunks[small]
            used, inverse = np.unique(chunks, return_inverse=True)
            starts = np.full(len(used), -1, dtype=np.int64)
            numbers = np.zeros(len(used), dtype=np.uint16)
            for i, c in enumerate(used.tolist()):
                plain = self._chunks.plain(pack, c)
                if plain is not None:
                    starts[i] = plain[1]
                    numbers[i] = files.setdefault(self._chunks.keys(pack)[c][0], len(files))
            start = starts[inverse.reshape(-1)]
            ok = start >= 0
            hit, rows = hit[ok], rows[ok]
            remap = np.array([metas.setdefault(m, len(metas)) for m in pack.metas] or [0], dtype=np.uint16)
            pos[hit] = start[ok].astype(np.uint64) + pack.offset[rows]
            size[hit] = pack.nbytes[rows]
            file_no[hit] = numbers[inverse.reshape(-1)[ok]]
            meta_no[hit] = remap[pack.meta[rows]]

    def open_locations(self, path: str, count: int) -> Optional[loc.Locations]:
        """The locations file at ``path`` written by :meth:`locations_of` for ``count`` rows
        (None if it is missing, unreadable or for other rows, or the store is remote)."""
        if not self._files.local:
            return None
        return loc.open_locations(path, count, lambda name: self._files.mapped(f"{self.uri}/data/{name}.pack"))
