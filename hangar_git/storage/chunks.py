"""Reading pack chunks: fetched in batches, checksummed, cached (LRU by bytes)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Optional

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .files import StoreFiles
from .objects import digest_of, raws_to_digests
from .packindex import LARGE, PackIndex
from .codec import stored_plain
from .packs import coalesce, open_chunk
from .runtime import hash_pool, io_pool

CACHE_BYTES = 32 << 20
READ_AHEAD = 63
BATCH = 64
"""Chunks fetched per round of reads."""

SPARSE_ROWS = 16
"""Rows per chunk below which ``gather`` copies rows one by one."""
ChunkKey = tuple[str, int]
"""A chunk's data file name and its start in that file."""
Plain = Optional[tuple[Any, int]]
"""A chunk stored uncompressed: its data file mapped, and where its bytes start there."""


def copy_rows(out: np.ndarray, dest: np.ndarray, buf: np.ndarray, offsets: np.ndarray, itemsize: int) -> None:
    """``out[dest[i]] = buf[offsets[i]:offsets[i] + itemsize]`` for every i."""
    n = len(dest)
    start, first = int(offsets[0]), int(dest[0])
    if (int(dest[-1]) - first == n - 1 and int(offsets[-1]) - start == (n - 1) * itemsize
            and (n < 3 or (np.all(np.diff(dest) == 1) and np.all(np.diff(offsets) == itemsize)))):
        # objects stored in the order they are asked for (the usual scan): one block copy
        out[first:first + n] = buf[start:start + n * itemsize].reshape(n, itemsize)
        return
    # every ``itemsize`` window of the chunk, as rows: one fancy index copies them
    windows = as_strided(buf, shape=(len(buf) - itemsize + 1, itemsize), strides=(1, 1))
    out[dest] = windows[offsets]


class ChunkCache:
    """Decompressed, checksum-verified chunks of a store's packs.

    Chunks that fail their checksum are never cached: reads of them go
    through the store's damage handling every time.
    """

    def __init__(self, uri: str, files: StoreFiles, cache_bytes: Optional[int] = None) -> None:
        self.uri = uri
        self._files = files
        self._cache: OrderedDict[ChunkKey, memoryview] = OrderedDict()
        self._bytes, self._cap = 0, CACHE_BYTES if cache_bytes is None else cache_bytes
        self._plain: dict[ChunkKey, Plain] = {}

    @staticmethod
    def key(pack: PackIndex, c: int) -> ChunkKey:
        """The cache key of chunk ``c`` of ``pack``."""
        return pack.files[int(pack.chunk_file[c])], int(pack.chunk_start[c])

    def keys(self, pack: PackIndex) -> list[ChunkKey]:
        """Cache keys of every chunk of ``pack``, built once."""
        cached = pack.__dict__.get("_chunk_keys")
        if cached is None:
            cached = [(pack.files[f], s) for f, s in zip(pack.chunk_file.tolist(), pack.chunk_start.tolist())]
            pack.__dict__["_chunk_keys"] = cached
        return cached

    def get(self, key: ChunkKey) -> Optional[memoryview]:
        """A cached chunk, or None."""
        return self._cache.get(key)

    def plain(self, pack: PackIndex, c: int) -> Plain:
        """Chunk ``c`` of ``pack`` as (mapped data file, start of its bytes there) when it is
        stored uncompressed in a local file, else None. Its bytes are not checksummed here:
        callers verify each object they slice from it against its digest."""
        key = self.keys(pack)[c]
        try:
            return self._plain[key]
        except KeyError:
            pass
        found: Plain = None
        whole = self._files.mapped(f"{self.uri}/data/{key[0]}.pack")
        start, clen = key[1], int(pack.chunk_clen[c])
        if whole is not None and start + clen <= len(whole):
            at = stored_plain(whole[start:start + 16], clen, int(pack.chunk_ulen[c]))
            found = (whole, start + at) if at >= 0 else None
        self._plain[key] = found
        return found

    def not_plain(self, pack: PackIndex, c: int) -> None:
        """Stop slicing chunk ``c`` of ``pack`` directly (an object in it failed its digest):
        its reads go through :meth:`chunk`, which checks the whole chunk."""
        self._plain[self.keys(pack)[c]] = None

    def chunk(self, pack: PackIndex, c: int, on_damage: Callable[[], None]) -> memoryview:
        """Chunk ``c`` of ``pack``: from the cache, else read (with a small pack's other chunks).
        When it fails its checksum ``on_damage`` is called, then its decoded bytes returned."""
        key = self.key(pack, c)
        data = self._cache.get(key)
        if data is not None:
            self._cache.move_to_end(key)
            return data
        bad = self.load([(pack, c)] + self._read_ahead(pack, c))
        if (pack, c) in bad:
            on_damage()
            raw = self._read_raw([(pack, c)])[0]
            decoded, _ = open_chunk(raw, int(pack.chunk_ulen[c]), pack.chunk_sum[c])
            assert decoded is not None  # on_damage raised for every object of an undecodable chunk
            return memoryview(decoded)
        return self._cache[key]

    def _read_ahead(self, pack: PackIndex, c: int) -> list[tuple[PackIndex, int]]:
        """Other uncached chunks of a pack small enough to sit in the cache whole."""
        if int(pack.chunk_ulen.sum()) > self._cap // 2:
            return []
        keys = self.keys(pack)
        return [(pack, k) for k in range(len(keys)) if k != c and keys[k] not in self._cache][:READ_AHEAD]

    def prefetch(self, chunks: list[tuple[PackIndex, int]]) -> None:
        """Load many chunks (those not cached), a batch of reads at a time."""
        todo = list({self.key(p, c): (p, c) for p, c in chunks if self.key(p, c) not in self._cache}.values())
        for i in range(0, len(todo), BATCH):
            self.load(todo[i:i + BATCH])

    def _read_raw(self, chunks: list[tuple[PackIndex, int]]) -> list[bytes]:
        """The stored bytes of chunks: local files by pread, remote ones coalesced per file,
        files in parallel (FileNotFoundError if a data file is gone)."""
        by_file: dict[str, list[int]] = {}
        ranges = []
        for i, (p, c) in enumerate(chunks):
            by_file.setdefault(p.files[int(p.chunk_file[c])], []).append(i)
            ranges.append((int(p.chunk_start[c]), int(p.chunk_clen[c])))
        out: list[bytes] = [b""] * len(chunks)

        def fetch(name: str) -> None:
            members = by_file[name]
            path = f"{self.uri}/data/{name}.pack"
            reads = coalesce([ranges[i] for i in members]) if not self._files.local else \
                [(ranges[i][0], ranges[i][1], [k]) for k, i in enumerate(members)]
            for start, length, parts in reads:
                blob = self._files.read_range(path, start, length)
                for k in parts:
                    s, n = ranges[members[k]]
                    out[members[k]] = blob[s - start:s - start + n]

        if len(by_file) > 1 and not self._files.local:
            list(io_pool().map(fetch, by_file))
        else:
            for name in by_file:
                fetch(name)
        return out

    def load(self, chunks: list[tuple[PackIndex, int]]) -> set[tuple[PackIndex, int]]:
        """Read, decode and check chunks, caching the good ones; returns the damaged ones."""
        raws = self._read_raw(chunks)
        args = [(raw, int(p.chunk_ulen[c]), p.chunk_sum[c]) for raw, (p, c) in zip(raws, chunks)]
        if len(args) > 2:  # blosc2 and hashing release the GIL: both cores work
            opened = list(hash_pool().map(lambda a: open_chunk(*a), args))
        else:
            opened = [open_chunk(*a) for a in args]
        bad = set()
        for (p, c), (data, ok) in zip(chunks, opened):
            if data is None or not ok:
                bad.add((p, c))
            else:
                self._put(self.key(p, c), data)
        return bad

    def salvage(self, pack: PackIndex, c: int) -> list[str]:
        """Digests of ``pack``'s objects in damaged chunk ``c`` whose bytes no longer match."""
        rows = np.flatnonzero(pack.chunk == c)
        digests: list[str] = list(raws_to_digests(pack.digests[rows]))
        data, _ = open_chunk(self._read_raw([(pack, c)])[0], int(pack.chunk_ulen[c]), pack.chunk_sum[c])
        if data is None:
            return digests
        view = memoryview(data)
        return [d for d, r in zip(digests, rows.tolist())
                if digest_of(pack.metas[pack.meta[r]],
                             view[int(pack.offset[r]):int(pack.offset[r]) + int(pack.nbytes[r])]) != d]

    def gather(self, hits: list[tuple[PackIndex, np.ndarray, np.ndarray]], raws: np.ndarray, itemsize: int,
               damaged: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """Bytes of many same-sized small objects as rows of one array, and a found-mask;
        objects not served here (absent, large, damaged) are left to single reads."""
        out = np.empty((len(raws), itemsize), dtype=np.uint8)
        found = np.zeros(len(raws), dtype=bool)
        for pack, hit, r in hits:
            keep = ~found[hit]
            hit, r = hit[keep], r[keep]
            chunks = pack.chunk[r]
            ok = (chunks != LARGE) & (pack.nbytes[r] == itemsize)
            hit, r, chunks = hit[ok], r[ok], chunks[ok].astype(np.int64)
            if not len(hit):
                continue
            used = np.unique(chunks)
            self.prefetch([(pack, c) for c in used.tolist()])
            offsets = pack.offset[r].astype(np.int64)
            if itemsize and len(hit) < SPARSE_ROWS * len(used):  # random rows, a few per chunk: copy each
                self._copy_each(out, found, pack, hit, chunks, offsets, itemsize)
                continue
            order = np.argsort(chunks, kind="stable")
            bounds = np.flatnonzero(np.diff(chunks[order])) + 1
            for group in np.split(order, bounds):
                data = self._cache.get(self.key(pack, int(chunks[group[0]])))
                if data is None:  # damaged, or evicted under a tiny cache: single reads
                    continue
                copy_rows(out, hit[group], np.frombuffer(data, dtype=np.uint8), offsets[group], itemsize)
                found[hit[group]] = True
        if damaged and found.any():
            found &= np.array([d not in damaged for d in raws_to_digests(raws)], dtype=bool)
        return out, found

    def _copy_each(self, out: np.ndarray, found: np.ndarray, pack: PackIndex, hit: np.ndarray,
                   chunks: np.ndarray, offsets: np.ndarray, itemsize: int) -> None:
        """``out[hit[i]]`` = the object at ``offsets[i]`` of chunk ``chunks[i]``, one slice
        copy each (cheaper than a vectorised copy per chunk when chunks give a row or two)."""
        flat, keys, cached = out.data.cast("B"), self.keys(pack), self._cache.get
        done = []
        for h, c, off in zip(hit.tolist(), chunks.tolist(), offsets.tolist()):
            data = cached(keys[c])
            if data is not None:  # else damaged, or evicted under a tiny cache: single reads
                flat[h * itemsize:(h + 1) * itemsize] = data[off:off + itemsize]
                done.append(h)
        found[done] = True

    def _put(self, key: ChunkKey, data: bytes) -> None:
        self._cache[key] = memoryview(data)
        self._bytes += len(data)
        while self._bytes > self._cap and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= len(old)

    def clear(self) -> None:
        """Forget every cached chunk."""
        self._cache.clear()
        self._plain.clear()
        self._bytes = 0

    def close(self) -> None:
        """Forget the cache and close open files."""
        self.clear()
        self._files.close()
