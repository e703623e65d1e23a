"""TileDB-backed object store.

Two tiers, both addressed by digest:

* **small objects** (under ``LARGE_THRESHOLD``) are packed into chunks of
  about ``CHUNK_TARGET`` bytes, blosc2-compressed, and appended to one dense
  TileDB ``uint8`` array (the *byte log*): one write, hence one fragment,
  per flush. A pack index (``index/<name>.idx``) per flush maps digests to
  chunks. Reads fetch whole chunks (one query can fetch many) and keep them
  in an LRU cache, so reading a sample is a dictionary lookup and a slice.
* **large objects** are each one file (``large/<aa>/<digest>``, see
  :mod:`.files`): TileDB's dense writer copies every byte through its
  tiler, which measured ~10x slower than a plain file write for
  multi-megabyte arrays (see README "Design").

Anything but a local path goes through ``tiledb.VFS``, so the store URI may
be any VFS URI.
"""
from __future__ import annotations

import os
import time
import uuid
from itertools import repeat
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Sequence

import blosc2
import numpy as np
import tiledb
from numpy.lib.stride_tricks import as_strided

from ..errors import IntegrityError, PermissionDeniedError
from ..faults import checkpoint
from ..locks import exclusive
from .base import ObjectInfo, ObjectStore
from .codec import UNDECODABLE, checksum, compress, typesize
from .files import StoreFiles, TmpWriter
from .incoming import IncomingObject
from .objects import Buffer, Digest, Meta, ObjectBatch, digest_of, digests_to_raw, hash_pool, verify, verify_batch
from .packindex import LARGE, PackIndex, build_index_arrays, merge_indexes
from .runtime import ProcessLocal, io_pool, tiledb_ctx, tiledb_vfs

LARGE_THRESHOLD = 1 << 20
CHUNK_TARGET = 1 << 19
CACHE_BYTES = 32 << 20
MEMO_MAX = 1 << 17
READ_AHEAD = 63
MERGE_AT = 8
COMPACT_AT = 1000
TILE = 1 << 20

blosc2.set_nthreads(max(1, min(4, os.cpu_count() or 1)))


def _ctx() -> tiledb.Ctx:
    """This process's TileDB context (see :mod:`.runtime`)."""
    return tiledb_ctx()


def _open_chunk(raw: np.ndarray) -> tuple[Optional[bytes], bytes]:
    """A stored chunk's bytes decompressed, and their checksum (None if undecodable)."""
    try:
        data = blosc2.decompress(raw.data) if len(raw) else b""
    except UNDECODABLE:
        return None, b""
    return data, checksum(data)


def _copy_rows(out: np.ndarray, dest: np.ndarray, buf: np.ndarray, offsets: np.ndarray, itemsize: int) -> None:
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


READ_PARALLEL = 4
"""Large objects read_many reads ahead of its caller, in parallel."""


def _io_pool() -> ThreadPoolExecutor:
    """Threads reading and writing large objects' files (file I/O and hashing release the
    GIL; two writers fill this disk's page cache ~1.6x faster than one): this process's
    :func:`.runtime.io_pool`."""
    return io_pool()


@dataclass(frozen=True)
class _SmallObjects:
    """Objects for one pack: raw digests, meta indexes into ``metas``, sizes, bytes back to back."""

    raws: np.ndarray
    meta_index: np.ndarray
    metas: list[str]
    sizes: np.ndarray
    data: Buffer

    @classmethod
    def of(cls, items: Sequence[tuple[str, str, Buffer]]) -> "_SmallObjects":
        """From ``(hex digest, meta, bytes)`` items."""
        metas: dict[str, int] = {}
        meta_index = np.array([metas.setdefault(m, len(metas)) for _, m, _ in items], dtype=np.int64)
        return cls(digests_to_raw([d for d, _, _ in items]), meta_index, list(metas),
                   np.array([len(b) for _, _, b in items], dtype=np.int64), b"".join(b for _, _, b in items))


class TileDBStore(ObjectStore):
    """Object store rooted at a TileDB VFS URI."""

    def __init__(self, uri: str, *, lock_path: str | None = None, read_only: bool = False,
                 cache_bytes: int = CACHE_BYTES, durable: bool = False) -> None:
        self.uri = uri.rstrip("/")
        self.read_only = read_only
        self._vfs_override: Optional[tiledb.VFS] = None
        self._files = StoreFiles(self.uri, tiledb_vfs, durable=durable)
        self._lock_path = lock_path
        self._packs: list[PackIndex] = []
        self._pack_names: set[str] = set()
        self._pending: dict[str, tuple[str, bytes]] = {}
        self._pending_large: dict[str, tuple[str, int]] = {}
        self._cache: OrderedDict[tuple[str, int], memoryview] = OrderedDict()
        """Decompressed chunks (as memoryviews: slicing one makes one object) by (pack, chunk)."""
        self._cache_bytes, self._cache_cap = 0, cache_bytes
        self._reader_here: ProcessLocal[tiledb.Array] = ProcessLocal()
        self._loaded = False
        # digest -> ((pack name, chunk), pack, start, end, meta): where a small object lives
        self._memo: dict[str, tuple[tuple[str, int], PackIndex, int, int, str]] = {}

    # -- per-process TileDB handles (never carried across a fork) ------------------
    @property
    def _ctx(self) -> tiledb.Ctx:
        return _ctx()

    @property
    def _vfs(self) -> tiledb.VFS:
        return self._vfs_override or tiledb_vfs()

    @_vfs.setter
    def _vfs(self, vfs: tiledb.VFS) -> None:
        self._vfs_override = vfs

    @property
    def _reader(self) -> Optional[tiledb.Array]:
        """The byte log open for reading in this process (a parent's is never used or freed)."""
        return self._reader_here.get()

    @_reader.setter
    def _reader(self, array: Optional[tiledb.Array]) -> None:
        self._reader_here.set(array)

    # -- layout --------------------------------------------------------------
    @property
    def _bytelog(self) -> str:
        return f"{self.uri}/bytelog"

    @classmethod
    def create(cls, uri: str, **kwargs: object) -> "TileDBStore":
        """Create an empty store at ``uri`` (idempotent) and open it."""
        ctx, vfs, uri = _ctx(), tiledb_vfs(), uri.rstrip("/")
        for sub in ("", "/index", "/large", "/tmp"):
            if not vfs.is_dir(uri + sub):
                vfs.create_dir(uri + sub)
        if tiledb.object_type(f"{uri}/bytelog", ctx=ctx) is None:
            dim = tiledb.Dim(name="pos", domain=(0, 2**62 - 1), tile=TILE, dtype=np.uint64, ctx=ctx)
            schema = tiledb.ArraySchema(
                domain=tiledb.Domain(dim, ctx=ctx), sparse=False, ctx=ctx,
                attrs=[tiledb.Attr(name="b", dtype=np.uint8, ctx=ctx)])
            tiledb.Array.create(f"{uri}/bytelog", schema, ctx=ctx)
        return cls(uri, **kwargs)  # type: ignore[arg-type]

    # -- index ---------------------------------------------------------------
    def _load_packs(self) -> bool:
        """Load pack indexes not yet seen; True if any were new."""
        names = self._list_indexes()
        new = vanished = False
        for path in sorted(names):
            name = path.rsplit("/", 1)[-1][:-4]
            if name in self._pack_names:
                continue
            try:
                blob = self._files.read(path)
            except tiledb.TileDBError:
                if self._files.exists(path):
                    raise
                vanished = True  # merged away by another process since we listed
                continue
            self._packs.append(PackIndex.decode(name, blob))
            self._pack_names.add(name)
            new = True
        if new and self._reader is not None:  # opened before these packs' bytes were written
            self._reader.close()
            self._reader = None
        current = {p.rsplit("/", 1)[-1][:-4] for p in names}
        if self._pack_names - current:  # merged away by another process
            self._packs = [p for p in self._packs if p.name in current]
            self._pack_names &= current
            self._drop_cache()
        self._loaded = True
        if vanished:  # list again: the merged index replacing it is there now
            return self._load_packs() or new
        return new

    def _list_indexes(self) -> list[str]:
        for attempt in range(20):
            try:
                return [p for p in self._vfs.ls(f"{self.uri}/index") if p.endswith(".idx")]
            except tiledb.TileDBError:  # ls stats every file: one was merged away meanwhile
                if attempt == 19:
                    raise
        return []

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._load_packs()

    def _locate(self, digest: str) -> tuple[PackIndex, int] | None:
        self._ensure_loaded()
        raw = bytes.fromhex(digest)
        for pack in reversed(self._packs):
            row = pack.find(raw)
            if row >= 0:
                return pack, row
        if self._load_packs():
            return self._locate(digest)
        return None

    def _pack_hits(self, raws: np.ndarray,
                   taken: np.ndarray) -> Iterator[tuple[PackIndex, np.ndarray, np.ndarray]]:
        """Per pack: positions of ``raws`` it holds that ``taken`` does not mark yet, and their rows.

        Callers mark in ``taken`` (in place) what they used, so a digest found in
        an earlier pack is not looked at again.
        """
        self._ensure_loaded()
        for pack in self._packs:
            rows = pack.find_many(raws)
            hit = np.flatnonzero((rows >= 0) & ~taken)
            if len(hit):
                yield pack, hit, rows[hit]

    def _present_mask(self, raws: np.ndarray) -> np.ndarray:
        found = np.zeros(len(raws), dtype=bool)
        for _, hit, _ in self._pack_hits(raws, found):
            found[hit] = True
        return found

    # -- queries -------------------------------------------------------------
    def contains(self, digest: Digest) -> bool:
        return (digest in self._pending or digest in self._pending_large
                or self._locate(digest) is not None)

    def missing(self, digests: Iterable[Digest]) -> list[Digest]:
        wanted = [d for d in dict.fromkeys(digests)
                  if d not in self._pending and d not in self._pending_large]
        if not wanted:
            return []
        return [d for d, a in zip(wanted, self.absent(digests_to_raw(wanted)).tolist()) if a]

    def absent(self, raws: np.ndarray) -> np.ndarray:
        present = self._present_mask(raws)
        if not present.all() and self._load_packs():
            present = self._present_mask(raws)
        if (self._pending or self._pending_large) and not present.all():
            for i in np.flatnonzero(~present).tolist():
                d = raws[i:i + 1].tobytes().hex()
                present[i] = d in self._pending or d in self._pending_large
        return ~present

    def describe(self, digests: Sequence[Digest]) -> tuple[list[Optional[Meta]], np.ndarray]:
        n = len(digests)
        sizes = np.full(n, -1, dtype=np.int64)
        metas: list[Optional[Meta]] = [None] * n
        if not n:
            return metas, sizes
        raws = digests_to_raw(list(digests))
        found = np.zeros(n, dtype=bool)
        for attempt in range(2):
            for pack, hit, r in self._pack_hits(raws, found):
                found[hit] = True
                sizes[hit] = pack.nbytes[r]
                names = pack.metas
                for i, m in zip(hit.tolist(), pack.meta[r].tolist()):
                    metas[i] = Meta(names[m])
            if (sizes >= 0).all() or attempt or not self._load_packs():
                break
        for i in np.flatnonzero(sizes < 0).tolist():
            d = digests[i]
            if d in self._pending:
                meta, data = self._pending[d]
                metas[i], sizes[i] = Meta(meta), len(data)
            elif d in self._pending_large:
                meta, nbytes = self._pending_large[d]
                metas[i], sizes[i] = Meta(meta), nbytes
        return metas, sizes

    def info(self, digest: Digest) -> ObjectInfo:
        if digest in self._pending:
            meta, data = self._pending[digest]
            return ObjectInfo(digest, Meta(meta), len(data))
        if digest in self._pending_large:
            meta, n = self._pending_large[digest]
            return ObjectInfo(digest, Meta(meta), n)
        loc = self._locate(digest)
        if loc is None:
            raise KeyError(digest)
        pack, row = loc
        return ObjectInfo(digest, Meta(pack.metas[pack.meta[row]]), int(pack.nbytes[row]))

    def iter_objects(self) -> Iterator[ObjectInfo]:
        self._load_packs()
        seen: set[bytes] = set()
        for pack in self._packs:
            for raw, nb, mi in zip(pack.digests.tolist(), pack.nbytes.tolist(), pack.meta.tolist()):
                if raw not in seen:
                    seen.add(raw)
                    yield ObjectInfo(Digest(raw.ljust(32, b"\0").hex()), Meta(pack.metas[mi]), nb)
        for digest, (meta, data) in self._pending.items():
            yield ObjectInfo(Digest(digest), Meta(meta), len(data))
        for digest, (meta, n) in self._pending_large.items():
            yield ObjectInfo(Digest(digest), Meta(meta), n)

    # -- reads ---------------------------------------------------------------
    def read(self, digest: Digest) -> tuple[Meta, memoryview]:
        hit = self._memo.get(digest)  # the hot path: a known location in a cached chunk
        if hit is not None:
            data = self._cache.get(hit[0])
            if data is not None:
                return hit[4], data[hit[2]:hit[3]]  # type: ignore[return-value]  # memo metas are Meta strings
        try:
            return self._read(digest)
        except (IntegrityError, tiledb.TileDBError):
            if not self._packs_rewritten():
                raise
            return self._read(digest)

    def _packs_rewritten(self) -> bool:
        """True (and state reset) if another process replaced packs we had loaded."""
        on_disk = {p.rsplit("/", 1)[-1][:-4] for p in self._list_indexes()}
        if self._pack_names <= on_disk:
            return False
        self._packs, self._pack_names = [], set()
        self._drop_cache()
        self._reader = None
        self._load_packs()
        return True

    def _read(self, digest: Digest) -> tuple[Meta, memoryview]:
        hit = self._memo.get(digest)
        if hit is not None:
            (_, chunk_no), pack, off, end, meta = hit
            return Meta(meta), self._chunk(pack, chunk_no)[off:end]
        pending = self._pending.get(digest)
        if pending is not None:
            return Meta(pending[0]), memoryview(pending[1])
        if digest in self._pending_large:
            return self._files.read_object(digest, self._pending_large[digest][0])
        loc = self._locate(digest)
        if loc is None:
            raise KeyError(digest)
        pack, row = loc
        meta = pack.metas[pack.meta[row]]
        chunk_no = int(pack.chunk[row])
        if chunk_no == int(LARGE):
            return self._files.read_object(digest, meta)
        chunk = self._chunk(pack, chunk_no)
        off = int(pack.offset[row])
        end = off + int(pack.nbytes[row])
        if len(self._memo) >= MEMO_MAX:
            self._memo.clear()
        self._memo[digest] = ((pack.name, chunk_no), pack, off, end, meta)
        return Meta(meta), memoryview(chunk)[off:end]

    def warm(self, digests: Iterable[str]) -> None:
        """Look up where many objects live in one vectorised pass (speeds later reads)."""
        memo = self._memo
        wanted = [d for d in digests if d not in memo]
        if not wanted or len(memo) + len(wanted) > MEMO_MAX:
            return
        raws = digests_to_raw(wanted)
        taken = np.zeros(len(raws), dtype=bool)
        for pack, hit, r in self._pack_hits(raws, taken):
            taken[hit] = True
            chunks = pack.chunk[r]
            small = chunks != LARGE
            hit, r, chunks = hit[small], r[small], chunks[small]
            offsets = pack.offset[r]
            ends = offsets + pack.nbytes[r]
            keys = pack.chunk_keys
            names = pack.metas
            memo.update(zip([wanted[i] for i in hit.tolist()],
                            zip([keys[c] for c in chunks.tolist()], repeat(pack), offsets.tolist(),
                                ends.tolist(), [names[m] for m in pack.meta[r].tolist()])))

    def gather(self, raws: np.ndarray, itemsize: int) -> tuple[np.ndarray, np.ndarray]:
        try:
            return self._gather(raws, itemsize)
        except (IntegrityError, tiledb.TileDBError):
            if not self._packs_rewritten():
                raise
            return self._gather(raws, itemsize)

    def _gather(self, raws: np.ndarray, itemsize: int) -> tuple[np.ndarray, np.ndarray]:
        """Bytes of many same-sized objects as rows of one array.

        ``raws`` are raw digests (``S32``). Returns ``(rows, found)``: rows of
        objects not served here (absent, buffered, or in the large tier) are
        left unset and flagged False in ``found``; callers read those singly.
        """
        out = np.empty((len(raws), itemsize), dtype=np.uint8)
        found = np.zeros(len(raws), dtype=bool)
        for pack, hit, r in self._pack_hits(raws, found):
            chunks = pack.chunk[r]
            ok = (chunks != LARGE) & (pack.nbytes[r] == itemsize)
            hit, r, chunks = hit[ok], r[ok], chunks[ok]
            offsets = pack.offset[r].astype(np.int64)
            needed = [int(c) for c in np.unique(chunks) if (pack.name, int(c)) not in self._cache]
            for i in range(0, len(needed), 32):
                self._load_chunks([(pack, c) for c in needed[i:i + 32]])
            order = np.argsort(chunks, kind="stable")
            bounds = np.flatnonzero(np.diff(chunks[order])) + 1
            for group in np.split(order, bounds):
                buf = np.frombuffer(self._chunk(pack, int(chunks[group[0]])), dtype=np.uint8)
                _copy_rows(out, hit[group], buf, offsets[group], itemsize)
            found[hit] = True
        return out, found

    def read_many(self, digests: Iterable[Digest], *,
                  verify: bool = True) -> Iterator[tuple[Digest, Meta, memoryview]]:
        """Objects in order; small ones from chunks loaded many per query (each chunk
        checksummed), large ones read (and, with ``verify``, re-hashed) a few at a time
        in parallel, ahead of the caller."""
        digests = list(digests)
        large = iter(self._prefetch(digests))
        ahead: dict[str, Future] = {}

        def top_up() -> None:
            while len(ahead) < READ_PARALLEL:
                item = next(large, None)
                if item is None:
                    return
                ahead[item[0]] = _io_pool().submit(self._files.read_object, *item, verify=verify)

        top_up()
        for d in digests:
            future = ahead.pop(d, None)
            try:
                meta, data = future.result() if future is not None else self.read(d)
            except (IntegrityError, tiledb.TileDBError):  # read again: it retries if packs were rewritten
                meta, data = self.read(d)
            top_up()
            yield d, meta, data

    def _prefetch(self, digests: list[Digest], limit: int = 32) -> list[tuple[str, str]]:
        """Load the chunks these digests live in, many per TileDB query; returns the
        ``(digest, meta)`` of those in the large tier, in order, once each."""
        stored = list(dict.fromkeys(d for d in digests if d not in self._pending and d not in self._pending_large))
        raws = digests_to_raw(stored)
        taken = np.zeros(len(raws), dtype=bool)
        wanted: dict[tuple[str, int], tuple[PackIndex, int]] = {}
        large: list[tuple[int, str]] = []
        for pack, hit, r in self._pack_hits(raws, taken):
            taken[hit] = True
            chunks = pack.chunk[r]
            for c in np.unique(chunks).tolist():
                if c != int(LARGE) and (pack.name, c) not in self._cache:
                    wanted[(pack.name, c)] = (pack, c)
            is_large = chunks == LARGE
            large += zip(hit[is_large].tolist(), [pack.metas[m] for m in pack.meta[r[is_large]].tolist()])
        items = list(wanted.values())
        for i in range(0, len(items), limit):
            self._load_chunks(items[i:i + limit])
        return [(stored[i], meta) for i, meta in sorted(large)]

    def _chunk(self, pack: PackIndex, chunk_no: int) -> memoryview:
        key = (pack.name, chunk_no)
        data = self._cache.get(key)
        if data is None:
            self._load_chunks([(pack, chunk_no)] + self._read_ahead(pack, chunk_no))
            data = self._cache[key]
        else:
            self._cache.move_to_end(key)
        return data

    def _read_ahead(self, pack: PackIndex, chunk_no: int) -> list[tuple[PackIndex, int]]:
        """Other uncached chunks of a pack small enough to sit in the cache whole.

        A small pack is read in one query at the first miss instead of one
        query per chunk; a big one is read chunk by chunk (random reads would
        otherwise pull in far more than they use).
        """
        if int(pack.chunk_ulen.sum()) > self._cache_cap // 2:
            return []
        cache = self._cache
        return [(pack, c) for c in range(len(pack.chunk_start))
                if c != chunk_no and (pack.name, c) not in cache][:READ_AHEAD]

    def _array(self) -> tiledb.Array:
        if self._reader is None:
            self._reader = tiledb.open(self._bytelog, "r", ctx=self._ctx)
        return self._reader

    def _load_chunks(self, chunks: list[tuple[PackIndex, int]]) -> None:
        ranges = [(int(p.chunk_start[c]), int(p.chunk_start[c] + p.chunk_clen[c]) - 1) for p, c in chunks]
        arr = self._array()
        try:
            got = arr.multi_index[[slice(a, b) for a, b in ranges]]["b"]
        except tiledb.TileDBError:
            self._reader = None
            try:
                got = self._array().multi_index[[slice(a, b) for a, b in ranges]]["b"]
            except tiledb.TileDBError as exc:
                names = ", ".join(sorted({f"chunk {c} of pack {p.name}" for p, c in chunks})[:3])
                raise IntegrityError(
                    f"store {self.uri} is corrupt: {names} cannot be read ({exc}). Run "
                    f"`git hangar fsck`, then fetch-data again") from None
        bounds = np.cumsum([0] + [b - a + 1 for a, b in ranges]).tolist()
        parts = [got[bounds[i]:bounds[i + 1]] for i in range(len(chunks))]
        if len(parts) > 2:  # blosc2 and hashlib release the GIL: both cores work
            opened = list(hash_pool().map(_open_chunk, parts))
        else:
            opened = [_open_chunk(p) for p in parts]
        for (pack, c), (data, digest) in zip(chunks, opened):
            # ``S16`` items lose trailing NULs; compare the stripped forms
            if data is None or len(data) != int(pack.chunk_ulen[c]) or digest.rstrip(b"\0") != pack.chunk_sum[c]:
                raise IntegrityError(
                    f"chunk {c} of pack {pack.name} in store {self.uri} is corrupt "
                    f"(checksum mismatch): run `git hangar fsck`, then fetch-data again")
            self._cache_put((pack.name, c), data)

    def _cache_put(self, key: tuple[str, int], data: bytes) -> None:
        self._cache[key] = memoryview(data)
        self._cache_bytes += len(data)
        while self._cache_bytes > self._cache_cap and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)

    def _drop_cache(self) -> None:
        self._memo.clear()
        self._cache.clear()
        self._cache_bytes = 0

    # -- large tier ----------------------------------------------------------
    def _write_large(self, digest: str, meta: str, data: Buffer) -> None:
        self._files.publish(self._files.write_tmp(meta, data), digest)

    def put_new(self, meta: Meta, data: Buffer) -> Digest:
        """Hash and add an object; a large one is hashed (on all cores) while its file is written."""
        self._check_writable()
        view = memoryview(data).cast("B")
        if view.nbytes < LARGE_THRESHOLD:
            digest = digest_of(meta, view)
            self.put(digest, meta, view)
            return digest
        future = hash_pool().submit(digest_of, meta, view)
        tmp = self._files.write_tmp(meta, view)
        digest = future.result()
        if digest in self._pending_large or self._locate(digest) is not None:
            self._files.remove(tmp)
        else:
            self._files.publish(tmp, digest)
        self._pending_large[digest] = (meta, view.nbytes)
        return digest

    # -- writes --------------------------------------------------------------
    def _check_writable(self) -> None:
        if self.read_only:
            raise PermissionDeniedError(f"store {self.uri} is open read-only")

    def put(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        self._check_writable()
        if digest in self._pending or digest in self._pending_large:
            return
        nbytes = memoryview(data).nbytes
        if nbytes >= LARGE_THRESHOLD:
            if self._locate(digest) is None:
                self._write_large(digest, meta, data)
            self._pending_large[digest] = (meta, nbytes)
        else:
            # bytes(memoryview): bytes() of a 0-d integer array would be bytes(int)
            self._pending[digest] = (meta, bytes(memoryview(data)))

    def put_verified(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        verify(digest, meta, data)
        self.put(digest, meta, data)

    @property
    def pending_count(self) -> int:
        return len(self._pending) + len(self._pending_large)

    def stage_batch(self, batch: ObjectBatch, *, uncached: bool = False) -> "_StagedBatch":
        """Verify a received batch, its large objects written to temporary files while
        they are hashed (file writes and hashing release the GIL; ``uncached``: with
        O_DIRECT, around the page cache); nothing is kept yet.

        Reads no store state: received batches are staged on several threads
        at once, then committed in order by :meth:`commit_batch`.
        """
        self._check_writable()
        large = _large_rows(batch)
        writing = [_io_pool().submit(self._files.write_tmp, batch.meta(i), batch.part(i), uncached=uncached)
                   for i in large.values()]
        try:
            verify_batch(batch)
            temps = [w.result() for w in writing]
        except BaseException:
            for w in writing:
                if w.exception() is None:
                    self._files.remove(w.result())
            raise
        return _StagedBatch(batch, dict(zip(large, temps)))

    def commit_batch(self, staged: "_StagedBatch") -> None:
        """Keep a staged batch: publish its large objects (those not held yet), write its
        small ones not stored yet as one pack straight from the batch's buffer, index all."""
        checkpoint("store.batch.verified")
        batch = staged.batch
        for digest, tmp in staged.temps.items():
            if digest in self._pending_large or self._locate(digest) is not None:
                self._files.remove(tmp)
            else:
                self._files.publish(tmp, digest)
        for digest, i in _large_rows(batch).items():
            self._pending_large[digest] = (batch.meta(i), int(batch.sizes[i]))
        self._put_small(batch, np.flatnonzero(batch.sizes < LARGE_THRESHOLD))
        self.flush()

    def discard_staged(self, staged: "_StagedBatch") -> None:
        for tmp in staged.temps.values():
            self._files.remove(tmp)

    def receive_object(self, digest: Digest, meta: Meta, size: int) -> IncomingObject:
        """An object arriving in parts, written in order to a temporary file as they come."""
        self._check_writable()
        return _IncomingFile(self._files.tmp_writer(size), digest, meta, size)

    def read_parts(self, digest: Digest, part_size: int) -> Iterator[tuple[int, memoryview]]:
        """Large objects a part at a time from their file (not re-hashed), others as read."""
        meta = self._pending_large.get(digest, (None, 0))[0]
        if meta is None:
            loc = self._locate(digest)
            if loc is None or int(loc[0].chunk[loc[1]]) != int(LARGE):
                return super().read_parts(digest, part_size)
            meta = loc[0].metas[loc[0].meta[loc[1]]]
        return self._files.read_object_parts(digest, meta, part_size)

    def _put_small(self, batch: ObjectBatch, small: np.ndarray) -> None:
        """Write a batch's small objects not stored yet as one pack."""
        if not len(small):
            return
        self._ensure_loaded()
        _, first = np.unique(batch.raws[small], return_index=True)  # a batch may repeat an object
        new = small[np.sort(first)]
        new = new[~self._present_mask(batch.raws[new])]
        if self._pending:
            new = np.array([i for i in new.tolist() if batch.digest(i) not in self._pending], dtype=np.int64)
        if not len(new):
            return
        data: Buffer = batch.data if len(new) == len(batch) else b"".join(batch.part(i) for i in new.tolist())
        with exclusive(self._lock_path):
            self._write_pack(_SmallObjects(batch.raws[new], batch.meta_index[new], batch.metas,
                                           batch.sizes[new], data), [])
            checkpoint("store.flush.after_index")

    def flush(self) -> None:
        if not self._pending and not self._pending_large:
            return
        small = [(d, m, b) for d, (m, b) in self._pending.items()]
        present = self._present_mask(digests_to_raw([d for d, _, _ in small])) if small else np.zeros(0, bool)
        if present.any():
            small = [item for item, p in zip(small, present) if not p]
        large = [(d, m) for d, m in self._pending_large.items() if self._locate(d) is None]
        if small or large:
            with exclusive(self._lock_path):
                self._write_pack(_SmallObjects.of(small), large)
                checkpoint("store.flush.after_index")
        self._pending.clear()
        self._pending_large.clear()
        if len(self._packs) > MERGE_AT:
            self.merge_packs()
            if len(tiledb.array_fragments(self._bytelog, ctx=self._ctx)) > COMPACT_AT:
                self.compact()

    def _write_pack(self, small: "_SmallObjects", large: list[tuple[str, tuple[str, int]]]) -> None:
        """Append small objects to the byte log (one write) and index them with the large ones."""
        metas = {m: i for i, m in enumerate(small.metas)}
        meta_ids = np.concatenate([small.meta_index, np.array([metas.setdefault(m, len(metas))
                                                               for _, (m, _) in large], dtype=np.int64)])
        sizes, data, n = small.sizes, memoryview(small.data), len(small.raws)
        starts = np.cumsum(sizes) - sizes
        # an object goes to the chunk its first byte falls in: chunks end on object edges
        chunk_ids = np.unique(starts // CHUNK_TARGET, return_inverse=True)[1].reshape(-1) \
            if n else np.zeros(0, dtype=np.int64)
        first_rows = np.flatnonzero(np.diff(chunk_ids, prepend=-1)) if n else np.zeros(0, int)
        bounds = starts[first_rows].tolist() + [len(data)]
        typesizes = [typesize(small.metas[m]) for m in small.meta_index[first_rows].tolist()]
        blobs, chunks, pos = [], [], self._log_end()
        for k, size in enumerate(typesizes):
            raw = data[bounds[k]:bounds[k + 1]]
            comp = compress(raw, size)
            chunks.append((pos, len(comp), len(raw), checksum(raw)))
            blobs.append(comp)
            pos += len(comp)
        offsets = starts - np.array(bounds[:-1], dtype=np.int64)[chunk_ids] if n else starts
        if blobs:
            log = np.frombuffer(b"".join(blobs), dtype=np.uint8)
            first = chunks[0][0]
            with tiledb.open(self._bytelog, "w", ctx=self._ctx) as arr:
                arr[first:first + len(log)] = log
            self._reader = None
            checkpoint("store.flush.after_log")
        index = build_index_arrays(
            _pack_name(), np.concatenate([small.raws, digests_to_raw([d for d, _ in large])]),
            np.concatenate([chunk_ids, np.full(len(large), int(LARGE))]),
            np.concatenate([offsets, np.zeros(len(large), dtype=np.int64)]),
            np.concatenate([sizes, np.array([n for _, (_, n) in large], dtype=np.int64)]),
            meta_ids, sorted(metas, key=metas.__getitem__), chunks)
        self._write_index(index)

    def _log_end(self) -> int:
        with tiledb.open(self._bytelog, "r", ctx=self._ctx) as arr:
            dom = arr.nonempty_domain()
        return 0 if dom is None else int(dom[0][1]) + 1

    def _write_index(self, index: PackIndex) -> None:
        tmp = f"{self.uri}/tmp/{index.name}.idx"
        with self._vfs.open(tmp, "wb") as fh:
            fh.write(index.encode())
        self._vfs.move_file(tmp, f"{self.uri}/index/{index.name}.idx")
        self._packs.append(index)
        self._pack_names.add(index.name)

    def merge_packs(self) -> None:
        """Merge pack indexes so lookups search few tables.

        Tiered, like an LSM tree: when one pack outweighs the rest twice over
        it is left alone and only the small ones merge, so a store that grows
        by many small flushes rewrites each entry O(log n) times.
        """
        with exclusive(self._lock_path):
            self._load_packs()
            if len(self._packs) < 2:
                return
            by_size = sorted(self._packs, key=len)
            if len(by_size) > 2 and len(by_size[-1]) > 2 * sum(len(p) for p in by_size[:-1]):
                by_size = by_size[:-1]
            old = by_size
            merged = merge_indexes(_pack_name(), old)
            self._packs = [p for p in self._packs if p not in old]
            self._pack_names = {p.name for p in self._packs}
            self._write_index(merged)
            self._remap_cache(old, merged)
            self._memo.clear()
            for pack in old:
                self._vfs.remove_file(f"{self.uri}/index/{pack.name}.idx")

    def _remap_cache(self, old: list[PackIndex], merged: PackIndex) -> None:
        base, remap = 0, {}
        for pack in old:
            for c in range(len(pack.chunk_start)):
                remap[(pack.name, c)] = (merged.name, base + c)
            base += len(pack.chunk_start)
        self._cache = OrderedDict((remap.get(k, k), v) for k, v in self._cache.items())

    # -- maintenance ---------------------------------------------------------------
    def verify(self, rehash: bool = True) -> list[str]:
        """Problems found re-reading the store (every object re-hashed unless ``rehash=False``)."""
        problems: list[str] = []
        try:
            self._packs, self._pack_names = [], set()
            self._drop_cache()
            self._load_packs()
        except IntegrityError as exc:
            return [str(exc)]
        for pack in self._packs:
            rows_by_chunk: dict[int, list[int]] = {}
            for row, c in enumerate(pack.chunk.tolist()):
                rows_by_chunk.setdefault(c, []).append(row)
            for c, rows in rows_by_chunk.items():
                problems += self._verify_rows(pack, c, rows, rehash)
            self._drop_cache()
        return problems

    def _verify_rows(self, pack: PackIndex, c: int, rows: list[int], rehash: bool) -> list[str]:
        digests = [pack.digests[r].ljust(32, b"\0").hex() for r in rows]
        if c == int(LARGE):
            out = []
            for d, r in zip(digests, rows):
                path = self._files.object_path(d)
                if not self._files.exists(path):
                    out.append(f"object {d}: file missing")
                elif rehash:
                    try:
                        self._files.read_object(d, pack.metas[pack.meta[r]])
                    except IntegrityError as exc:
                        out.append(str(exc))
            return out
        try:
            data = self._chunk(pack, c)
        except (IntegrityError, tiledb.TileDBError) as exc:
            return [f"{exc} ({len(rows)} object(s) affected)"]
        if not rehash:
            return []
        out = []
        for d, r in zip(digests, rows):
            off, n = int(pack.offset[r]), int(pack.nbytes[r])
            if digest_of(pack.metas[pack.meta[r]], memoryview(data)[off:off + n]) != d:
                out.append(f"object {d} is corrupt (its bytes do not hash to its name)")
        return out

    def compact(self) -> "RewriteResult":
        """Repack every object into one byte-log fragment (what ``gc`` also does).

        An infinite grace period: every object stays, and so do the files other processes
        are writing in tmp/ right now (large objects before their move into place).
        """
        return self.rewrite(lambda d: True, grace_seconds=float("inf"), force=True)

    def rewrite(self, keep: Callable[[str], bool], grace_seconds: float = 0.0,
                force: bool = False) -> "RewriteResult":
        """Drop every object for which ``keep`` is False (and older than the grace period).

        Live small objects are copied into one new pack; old pack indexes
        and byte-log fragments are then deleted, so the space is freed.
        """
        self._check_writable()
        self.flush()
        with exclusive(self._lock_path):
            self._packs, self._pack_names = [], set()
            self._drop_cache()
            self._load_packs()
            now = time.time()
            result = RewriteResult()
            live_small: list[tuple[str, str, bytes]] = []
            live_large: list[tuple[str, tuple[str, int]]] = []
            dead_large: list[str] = []
            seen: set[str] = set()
            for pack in self._packs:
                young = _pack_age(pack.name, now) < grace_seconds
                for r, raw in enumerate(pack.digests.tolist()):
                    d = raw.ljust(32, b"\0").hex()
                    if d in seen:
                        continue
                    seen.add(d)
                    meta, n = pack.metas[pack.meta[r]], int(pack.nbytes[r])
                    large = int(pack.chunk[r]) == int(LARGE)
                    if young or keep(d):
                        if large:
                            live_large.append((d, (meta, n)))
                        else:
                            off = int(pack.offset[r])
                            live_small.append((d, meta, bytes(memoryview(self._chunk(pack, int(pack.chunk[r])))[off:off + n])))
                        result.kept += 1
                    else:
                        result.removed += 1
                        result.removed_bytes += n
                        if large:
                            dead_large.append(d)
            if not result.removed and not force:
                return result
            old = list(self._packs)
            cut = int(time.time() * 1000)
            time.sleep(0.005)
            self._packs, self._pack_names = [], set()
            self._drop_cache()
            self._write_pack(_SmallObjects.of(live_small), live_large)
            for pack in old:
                self._vfs.remove_file(f"{self.uri}/index/{pack.name}.idx")
            if self._reader is not None:
                self._reader.close()
                self._reader = None
            tiledb.Array.delete_fragments(self._bytelog, 0, cut, ctx=self._ctx)
            for d in dead_large:
                if self._files.exists(self._files.object_path(d)):
                    self._files.remove(self._files.object_path(d))
            self._remove_stale_tmp(grace_seconds)
            return result

    def _remove_stale_tmp(self, grace_seconds: float) -> None:
        """Delete leftovers of interrupted writes (only with no grace period: no age on VFS)."""
        if grace_seconds > 0:
            return
        for path in self._vfs.ls(f"{self.uri}/tmp"):
            self._vfs.remove_file(path)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._drop_cache()




@dataclass
class RewriteResult:
    """What a store rewrite (gc, drop) removed and kept."""

    removed: int = 0
    removed_bytes: int = 0
    kept: int = 0


@dataclass(frozen=True)
class _StagedBatch:
    """A verified batch whose large objects wait in temporary files (digest -> temp name)."""

    batch: ObjectBatch
    temps: dict[Digest, str]


class _IncomingFile(IncomingObject):
    """An object arriving in parts, kept in a temporary large-object file until it is verified."""

    def __init__(self, writer: TmpWriter, digest: Digest, meta: Meta, size: int) -> None:
        super().__init__(digest, meta, size)
        self._writer = writer

    def _write(self, data: Buffer) -> None:
        self._writer.write(data)

    def _staged(self) -> _StagedBatch:
        return _StagedBatch(self.batch(), {self.digest: self._writer.close()})

    def discard(self) -> None:
        self._writer.discard()


def _large_rows(batch: ObjectBatch) -> dict[Digest, int]:
    """Digest -> row of each large object of ``batch`` (once each: a batch may repeat one)."""
    return {batch.digest(i): i for i in np.flatnonzero(batch.sizes >= LARGE_THRESHOLD).tolist()}


def _pack_name() -> str:
    """Pack names start with their creation time (ms), so gc can tell their age."""
    return f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:16]}"


def _pack_age(name: str, now: float) -> float:
    head = name.split("-", 1)[0]
    return now - int(head) / 1000 if head.isdigit() and len(head) == 13 else float("inf")
