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
from .packindex import LARGE, PackIndex, digest_prefixes

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
        if not self._loaded:
            self._load_packs()
        n = len(raws)
        recs = loc.records(n)
        files: dict[str, int] = {}
        metas: dict[str, int] = {}
        catalog = _Catalog(self._packs)
        for lo in range(0, n, LOCATIONS_BLOCK):  # look-ups a block at a time: their temporaries stay small
            part = recs[lo:lo + LOCATIONS_BLOCK]
            block = raws[lo:lo + LOCATIONS_BLOCK]
            taken = np.zeros(len(block), dtype=bool)
            for pack, hit, rows in catalog.hits(block):
                taken[hit] = True
                self._locate_hits(pack, hit, rows, files, metas, part)
            rest = np.flatnonzero(~taken)  # absent, or a prefix two digests share: searched pack by pack
            if len(rest) and catalog.collided:
                found = np.zeros(len(rest), dtype=bool)
                for pack, hit, rows in self._pack_hits(block[rest], found):
                    found[hit] = True  # the newest copy decides
                    self._locate_hits(pack, rest[hit], rows, files, metas, part)
            if after_block is not None:
                after_block()
        for pack in catalog.packs:  # their rows were read all over: the pages need not stay
            pack.release_pages()
        if len(files) >= loc.NOWHERE or len(metas) >= loc.NOWHERE:
            return None
        return loc.encode_parts(recs, list(files), list(metas))

    def _locate_hits(self, pack: PackIndex, hit: np.ndarray, rows: np.ndarray, files: dict[str, int],
                     metas: dict[str, int], part: np.ndarray) -> None:
        """Fill the records ``part[hit]`` of objects at ``rows`` of ``pack`` (``files`` and
        ``metas`` number the data files and metas met so far)."""
        chunks = pack.chunk[rows]
        small = chunks != LARGE
        hit, rows, chunks = hit[small], rows[small], chunks[small]
        used, inverse = _numbered(chunks)
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
        part["pos"][hit] = start[ok].astype(np.uint64) + pack.offset[rows]
        part["size"][hit] = pack.nbytes[rows]
        part["file"][hit] = numbers[inverse.reshape(-1)[ok]]
        part["meta"][hit] = remap[pack.meta[rows]]

    def open_locations(self, path: str, count: int) -> Optional[loc.Locations]:
        """The locations file at ``path`` written by :meth:`locations_of` for ``count`` rows
        (None if it is missing, unreadable or for other rows, or the store is remote)."""
        if not self._files.local:
            return None
        return loc.open_locations(path, count, lambda name: self._files.mapped(f"{self.uri}/data/{name}.pack"))


class _Catalog:
    """The digest prefixes of every pack in one sorted array, the newest pack's first among
    equal ones: a digest is looked up once, not once per pack (a million rows written as 16
    packs cost 16 million searches, most of a big flush's locations file). 12 bytes an
    object: the sorted prefixes, and where each lies among the packs' rows end to end."""

    def __init__(self, packs: list[PackIndex]) -> None:
        newest = list(reversed(packs))
        self.packs = newest
        self.starts = np.cumsum([0] + [len(p) for p in newest]).astype(np.int64)
        """Where each pack's rows begin, end to end; then the end of the last."""
        prefixes = np.concatenate([p.prefixes for p in newest]) if newest else np.zeros(0, np.uint64)
        order = np.argsort(prefixes, kind="stable")  # stable: the newest pack first among equals
        self.prefixes = prefixes[order]
        del prefixes
        self.places = order.astype(np.uint32 if len(order) < 1 << 32 else np.int64)
        del order
        self.collided = bool(len(self.prefixes) > 1 and (self.prefixes[1:] == self.prefixes[:-1]).any())
        """Whether two entries share a prefix (one digest in two packs, or two digests): then
        a digest whose first entry is not it is searched pack by pack."""

    def hits(self, raws: np.ndarray) -> Iterator[tuple[PackIndex, np.ndarray, np.ndarray]]:
        """Per pack: positions of ``raws`` whose first catalog entry is that pack's object of
        that very digest, and its rows. Where no two entries share a prefix, a prefix that
        matches is taken as the digest without reading the index's digests (32 bytes an
        object, 32 MB of pages for a million): a locations file holds hints, each verified
        against its digest when read, and a 64-bit prefix shared with an absent digest is
        rarer than one in 10**7 for a million objects; such a hint is merely not taken."""
        if not len(self.prefixes) or not len(raws):
            return
        wanted = digest_prefixes(raws)
        order = np.argsort(wanted)  # searched in order: each search starts where the last ended
        wanted = wanted[order]
        at = np.minimum(np.searchsorted(self.prefixes, wanted), len(self.prefixes) - 1)
        matched = np.flatnonzero(self.prefixes[at] == wanted)
        del wanted
        found, places = order[matched], self.places[at[matched]].astype(np.int64)
        if not len(found):
            return
        by_place = np.argsort(places)  # by pack, then row
        found, places = found[by_place], places[by_place]
        bounds = np.searchsorted(places, self.starts).tolist()
        for no, pack in enumerate(self.packs):
            lo, hi = bounds[no], bounds[no + 1]
            if lo == hi:
                continue
            hit, rows = found[lo:hi], places[lo:hi] - self.starts[no]
            if self.collided:
                exact = pack.digests[rows] == raws[hit]
                hit, rows = hit[exact], rows[exact]
            yield pack, hit, rows


def _numbered(chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(chunks, return_inverse=True)`` of chunk numbers (small ints), counted rather
    than sorted (a sort of a block's 65,536 chunk numbers was a tenth of a locations file)."""
    counts = np.bincount(chunks) if len(chunks) else np.zeros(0, dtype=np.int64)
    used = np.flatnonzero(counts)
    number = np.zeros(len(counts), dtype=np.int64)
    number[used] = np.arange(len(used))
    return used.astype(chunks.dtype), number[chunks]
