"""TileDB-VFS object store: immutable, uniquely named packs that many writers share.

Layout under the store URI (any TileDB VFS URI: a local folder, a network
file system, ``s3://bucket/prefix``)::

    hangar-store.json      format marker
    data/<name>.pack       small objects, packed into compressed chunks (:mod:`.packs`)
    index/<name>.idx       which chunk of which data file holds each object (:mod:`.packindex`)
    large/<aa>/<digest>    objects of ``LARGE_THRESHOLD`` bytes and more, one file each (:mod:`.files`)
    damaged/<digest>       objects a read or fsck found damaged: absent until received again
    checked/<name>         local stores: index files whose checksum was verified (see StoreFiles.read_index)
    condemned/<name>       files a gc found unneeded, removed by a later gc (see :mod:`.maintenance`)
    tmp/                   large objects being written (local stores)

Every flush writes a new data file and then a new index, both under a name
no other writer can pick: writers never coordinate on a shared position,
so clones, processes and machines may write one store at once without a
lock. Readers list ``index/`` and pick up what others wrote on a miss.
Local files are read and written with plain file I/O, anything else
through TileDB's VFS (reads of one file coalesced, several files in
parallel). Writing is in :mod:`.writes`, maintenance (index merging, gc,
verify) in :mod:`.maintenance`.
"""
from __future__ import annotations

import json
import os
import weakref
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from ..errors import IntegrityError, StoreFormatError
from .base import ObjectInfo, ObjectStore
from .chunks import ChunkCache
from .files import StoreFiles, reaching
from .indexrepair import corrupt_index_error, names_digest, unverified
from .location import local_path
from .objects import Digest, Meta, digest_to_raw, digests_to_raw, raw_to_digest, raws_to_digests
from .packindex import LARGE, PackIndex, Probe
from .batchreads import MEMO_MAX, BatchReads
from .rawreads import RawReads
from .runtime import tiledb_vfs
from .writes import FRESH_SECONDS, LARGE_THRESHOLD, Writes

_LARGE = int(LARGE)
_INDEXES: "weakref.WeakValueDictionary[tuple[str, str], PackIndex]" = weakref.WeakValueDictionary()
"""Pack indexes decoded in this process, by (store, name): an index never changes once
written (names are unique), so every open store of one location shares one copy (a server
opens the store once per connection; a million objects' index is ~60 MB)."""
STORE_FORMAT = {"format": 2, "layout": "packs", "digest": "blake3"}
LAYOUT_DIRS = ("index", "data", "large", "tmp", "damaged", "condemned")


class TileDBStore(Writes, RawReads, BatchReads, ObjectStore):
    """Object store rooted at a TileDB VFS URI."""

    def __init__(self, uri: str, *, read_only: bool = False, durable: bool = False,
                 cache_bytes: Optional[int] = None) -> None:
        self.uri = uri.rstrip("/")
        self.read_only = read_only
        self._files = StoreFiles(self.uri, durable=durable)
        self._packs: list[PackIndex] = []
        self._pack_names: set[str] = set()
        self._damaged: set[str] = set()
        self._corrupt: dict[str, Optional[PackIndex]] = {}
        """Corrupt indexes (not loaded), as decoded without their checksums (see :mod:`.indexrepair`)."""
        self._pending: dict[str, tuple[str, bytes]] = {}
        self._pending_large: dict[str, tuple[str, int]] = {}
        self._chunks = ChunkCache(self.uri, self._files, cache_bytes)
        self._loaded = False
        # digest -> (chunk key, pack, chunk number, start, end, meta): where a small object lives
        self._memo: dict[str, tuple[tuple[str, int], PackIndex, int, int, int, str]] = {}

    # -- layout --------------------------------------------------------------
    @classmethod
    def create(cls, uri: str, **kwargs: object) -> "TileDBStore":
        """Create an empty store at ``uri`` (idempotent) and open it."""
        uri = uri.rstrip("/")
        vfs = tiledb_vfs(uri)
        with reaching(uri):
            if vfs.is_dir(f"{uri}/bytelog"):
                raise StoreFormatError(uri)
            for sub in ("",) + LAYOUT_DIRS:
                if not vfs.is_dir(f"{uri}/{sub}".rstrip("/")):
                    vfs.create_dir(f"{uri}/{sub}".rstrip("/"))
            marker = f"{uri}/hangar-store.json"
            if not vfs.is_file(marker):
                StoreFiles(uri).write_small(marker, (json.dumps(STORE_FORMAT) + "\n").encode())
        return cls(uri, **kwargs)  # type: ignore[arg-type]

    @staticmethod
    def exists(uri: str) -> bool:
        """True when a store of this format is at ``uri``."""
        uri = uri.rstrip("/")
        path = local_path(uri)
        if path is not None:  # no TileDB to load for a local store
            if os.path.isdir(f"{path}/bytelog"):
                raise StoreFormatError(uri)
            return os.path.isfile(f"{path}/hangar-store.json")
        vfs = tiledb_vfs(uri)
        with reaching(uri):
            if vfs.is_dir(f"{uri}/bytelog"):
                raise StoreFormatError(uri)
            return bool(vfs.is_file(f"{uri}/hangar-store.json"))

    # -- index ---------------------------------------------------------------
    def _load_packs(self) -> bool:
        """Load pack indexes not yet seen (and forget removed ones); True if any were new."""
        names = {p.rsplit("/", 1)[-1][:-4] for p in self._files.list("index") if p.endswith(".idx")}
        new = False
        for gone in set(self._corrupt) - names:
            del self._corrupt[gone]
        for name in sorted(names - self._pack_names - set(self._corrupt)):
            index = _INDEXES.get((self.uri, name))
            if index is None:
                try:
                    index = self._files.read_index(name)
                except FileNotFoundError:
                    continue  # merged or collected away by another process since we listed
                except IntegrityError:  # its objects are damaged until fsck rebuilds it
                    self._corrupt[name] = unverified(self._files, self.uri, name)
                    continue
                _INDEXES[(self.uri, name)] = index
            self._packs.append(index)
            self._pack_names.add(name)
            new = True
        if new:
            self._packs.sort(key=lambda p: p.name)
        if self._pack_names - names:
            self._packs = [p for p in self._packs if p.name in names]
            self._pack_names &= names
            self._memo.clear()
        self._damaged = {p.rsplit("/", 1)[-1] for p in self._files.list("damaged")}
        self._loaded = True
        return new

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._load_packs()

    def _locate(self, digest: str) -> tuple[PackIndex, int] | None:
        """The newest index row naming ``digest`` (None if absent or damaged)."""
        if not self._loaded:
            self._load_packs()
        if self._damaged and digest in self._damaged:
            self._load_packs()  # another process may have received it again since
            if digest in self._damaged:
                return None
        raw = digest_to_raw(digest)
        for pack in reversed(self._packs):
            row = pack.find(raw)
            if row >= 0:
                return pack, row
        if self._load_packs():
            return self._locate(digest)
        return None

    def _pack_hits(self, raws: np.ndarray,
                   taken: np.ndarray) -> Iterator[tuple[PackIndex, np.ndarray, np.ndarray]]:
        """Per pack, newest first: positions of ``raws`` it holds that ``taken`` does not mark
        yet, and their rows. Callers mark in ``taken`` (in place) what they used."""
        self._ensure_loaded()
        probe = Probe(raws) if len(self._packs) > 1 else None
        for pack in reversed(self._packs):
            rows = pack.find_many(raws, probe)
            hit = np.flatnonzero((rows >= 0) & ~taken)
            if len(hit):
                yield pack, hit, rows[hit]

    def _present_mask(self, raws: np.ndarray) -> np.ndarray:
        found = np.zeros(len(raws), dtype=bool)
        for _, hit, _ in self._pack_hits(raws, found):
            found[hit] = True
        if self._damaged and found.any():
            found &= np.array([d not in self._damaged for d in raws_to_digests(raws)], dtype=bool)
        return found

    def _is_pending(self, digest: str) -> bool:
        return digest in self._pending or digest in self._pending_large

    def _newest_in(self, pack: PackIndex, digests: Sequence[str]) -> list[str]:
        """Those of ``digests`` whose newest stored copy is in ``pack``: a damaged copy that a
        newer one (received again) shadows is no damage of the object."""
        if not digests:
            return []
        self._load_packs()  # damage is rare: look for copies other processes wrote since
        raws = digests_to_raw(list(digests))
        taken = np.zeros(len(raws), dtype=bool)
        here = np.zeros(len(raws), dtype=bool)
        for other, hit, _ in self._pack_hits(raws, taken):
            taken[hit] = True
            here[hit] = other.name == pack.name
        return [digests[i] for i in np.flatnonzero(here).tolist() if not self._is_pending(digests[i])]

    # -- queries -------------------------------------------------------------
    def damaged(self, digests: Iterable[Digest]) -> list[Digest]:
        self._load_packs()
        wanted = list(dict.fromkeys(digests))
        absent = set(self.missing(wanted))
        return [d for d in wanted if d in absent and (d in self._damaged or self._corrupt_naming(d))]

    def _corrupt_naming(self, digest: str) -> str:
        """The corrupt index that may name ``digest`` ("" if none)."""
        raw = digest_to_raw(digest)
        return next((name for name, index in self._corrupt.items() if names_digest(index, raw)), "")

    def contains(self, digest: Digest) -> bool:
        return self._is_pending(digest) or self._locate(digest) is not None

    def missing(self, digests: Iterable[Digest]) -> list[Digest]:
        wanted = list(dict.fromkeys(digests))
        if self._pending or self._pending_large:  # one look-up per digest only when some are buffered
            wanted = [d for d in wanted if not self._is_pending(d)]
        if not wanted:
            return []
        return [wanted[i] for i in np.flatnonzero(self.absent(digests_to_raw(wanted))).tolist()]

    def absent(self, raws: np.ndarray) -> np.ndarray:
        present = self._present_mask(raws)
        if not present.all() and self._load_packs():
            present = self._present_mask(raws)
        if (self._pending or self._pending_large) and not present.all():
            for i in np.flatnonzero(~present).tolist():
                present[i] = self._is_pending(raw_to_digest(raws[i]))
        return ~present

    def describe(self, digests: Sequence[Digest]) -> tuple[list[Optional[Meta]], np.ndarray]:
        table, index, sizes = self.describe_raws(digests_to_raw(list(digests)))
        return [Meta(table[i]) if i >= 0 else None for i in index.tolist()], sizes

    def describe_raws(self, raws: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        n = len(raws)
        sizes = np.full(n, -1, dtype=np.int64)
        index = np.full(n, -1, dtype=np.int64)
        table: dict[str, int] = {}
        if not n:
            return [], index, sizes
        for attempt in range(2):
            found = np.zeros(n, dtype=bool)
            for pack, hit, r in self._pack_hits(raws, found):
                found[hit] = True
                sizes[hit] = pack.nbytes[r]
                ours = np.array([table.setdefault(m, len(table)) for m in pack.metas], dtype=np.int64)
                index[hit] = ours[pack.meta[r]]
            if (sizes >= 0).all() or attempt or not self._load_packs():
                break
        if self._damaged:
            for i in np.flatnonzero(sizes >= 0).tolist():
                if raw_to_digest(raws[i]) in self._damaged:
                    index[i], sizes[i] = -1, -1
        if self._pending or self._pending_large:
            for i in np.flatnonzero(sizes < 0).tolist():
                try:
                    info = self._pending_info(raw_to_digest(raws[i]))
                except KeyError:
                    continue
                index[i], sizes[i] = table.setdefault(info.meta, len(table)), info.nbytes
        return list(table), index, sizes

    def _pending_info(self, digest: Digest) -> ObjectInfo:
        if digest in self._pending:
            meta, data = self._pending[digest]
            return ObjectInfo(digest, Meta(meta), len(data))
        meta, n = self._pending_large[digest]
        return ObjectInfo(digest, Meta(meta), n)

    def info(self, digest: Digest) -> ObjectInfo:
        if self._is_pending(digest):
            return self._pending_info(digest)
        loc = self._locate(digest)
        if loc is None:
            raise KeyError(digest)
        pack, row = loc
        return ObjectInfo(digest, Meta(pack.metas[pack.meta[row]]), int(pack.nbytes[row]))

    def iter_objects(self) -> Iterator[ObjectInfo]:
        self._load_packs()
        seen: set[bytes] = set()
        for pack in reversed(self._packs):
            for raw, d, nb, mi in zip(pack.digests.tolist(), raws_to_digests(pack.digests),
                                      pack.nbytes.tolist(), pack.meta.tolist()):
                if raw not in seen and d not in self._damaged:
                    seen.add(raw)
                    yield ObjectInfo(d, Meta(pack.metas[mi]), nb)
        for digest in list(self._pending) + list(self._pending_large):
            yield self._pending_info(Digest(digest))

    # -- reads ---------------------------------------------------------------
    def read(self, digest: Digest) -> tuple[Meta, memoryview]:
        hit = self._memo.get(digest)  # the hot path: a known location in a cached chunk
        if hit is not None:
            data = self._chunks.get(hit[0])
            if data is not None:
                return hit[5], data[hit[3]:hit[4]]  # type: ignore[return-value]  # memo metas are Meta strings
        try:
            return self._read(digest)
        except FileNotFoundError:  # a data file collected away by another process's gc
            self._reload()
            return self._read(digest)

    def _reload(self) -> None:
        """Forget every loaded index and cached chunk, then list the indexes afresh."""
        self._packs, self._pack_names = [], set()
        self._memo.clear()
        self._chunks.clear()
        self._load_packs()

    def _read(self, digest: Digest) -> tuple[Meta, memoryview]:
        pending = self._pending.get(digest)
        if pending is not None:
            return Meta(pending[0]), memoryview(pending[1])
        if digest in self._pending_large:
            return self._files.read_object(digest, self._pending_large[digest][0])
        loc = self._locate(digest)
        if loc is None:
            if digest in self._damaged:
                raise IntegrityError(f"object {digest} in store {self.uri} is damaged (marked so: fetch-data "
                                     f"fetches it again)", expected=digest)
            corrupt = self._corrupt_naming(digest) if self._corrupt else ""
            if corrupt:
                raise corrupt_index_error(self.uri, corrupt, digest)
            raise KeyError(digest)
        pack, row = loc
        meta = pack.metas[pack.meta.item(row)]
        chunk_no = pack.chunk.item(row)
        if chunk_no == _LARGE:
            return self._read_large(digest, meta)
        off = pack.offset.item(row)
        end = off + pack.nbytes.item(row)
        key = self._chunks.keys(pack)[chunk_no]
        chunk = self._chunks.get(key)
        if chunk is None:
            chunk = self._chunks.chunk(pack, chunk_no, lambda: self._damage(digest, meta, pack, chunk_no, off, end))
        if len(self._memo) >= MEMO_MAX:
            self._memo.clear()
        self._memo[digest] = (key, pack, chunk_no, off, end, meta)
        return Meta(meta), chunk[off:end]

    def _read_large(self, digest: str, meta: str, *, verify: bool = True) -> tuple[Meta, memoryview]:
        try:
            return self._files.read_object(digest, meta, verify=verify)
        except IntegrityError:
            self.mark_damaged([digest])
            raise

    def _damage(self, digest: str, meta: str, pack: PackIndex, chunk_no: int, off: int, end: int) -> None:
        """A chunk failed its checksum: mark the objects in it whose bytes no longer hash to
        their digest as damaged (fetch-data brings them back) and raise if ``digest`` is one."""
        bad = self._newest_in(pack, self._chunks.salvage(pack, chunk_no))
        self.mark_damaged(bad)
        if digest in bad:
            raise IntegrityError(f"object {digest} is damaged (chunk {chunk_no} of pack {pack.name} in "
                                 f"store {self.uri} fails its checksum; marked so: fetch-data fetches it "
                                 f"again, and `git hangar fsck` lists all damage)", expected=digest)

    def mark_damaged(self, digests: Iterable[str]) -> None:
        """Record objects found damaged: absent from now on, so fetch-data fetches them again."""
        for d in digests:
            if d not in self._damaged and not self.read_only:
                self._files.write_small(f"{self.uri}/damaged/{d}", b"")
            self._damaged.add(d)
            self._memo.pop(d, None)

    def read_parts(self, digest: Digest, part_size: int) -> Iterator[tuple[int, memoryview]]:
        """Large objects a part at a time from their file (not re-hashed), others as read."""
        meta = self._pending_large.get(digest, (None, 0))[0]
        if meta is None:
            loc = self._locate(digest)
            if loc is None or int(loc[0].chunk[loc[1]]) != int(LARGE):
                return super().read_parts(digest, part_size)
            meta = loc[0].metas[loc[0].meta[loc[1]]]
        return self._files.read_object_parts(digest, meta, part_size)

    def close(self) -> None:
        self._chunks.close()
        self._memo.clear()


__all__ = ["FRESH_SECONDS", "LARGE_THRESHOLD", "TileDBStore"]
