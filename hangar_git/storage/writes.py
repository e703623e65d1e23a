"""Writing to a TileDB-VFS store: buffered puts, flushes into new packs, received batches."""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

from ..errors import IntegrityError, PermissionDeniedError
from ..faults import checkpoint
from .files import MAP_MIN, TmpWriter
from .incoming import IncomingObject
from .maintenance import Maintenance
from .objects import (Buffer, Digest, Meta, ObjectBatch, digest_of, digest_rows, raws_to_digests, verify,
                      verify_batch)
from .packindex import PackIndex, first_occurrences, new_name
from .packs import SmallObjects, encode_pack, index_for
from .runtime import hash_pool, io_pool

LARGE_THRESHOLD = 1 << 20
"""Objects of this many bytes or more are stored as files of their own."""
FRESH_SECONDS = 600.0
"""A write finding its object already stored reuses it only if an index younger than this
names it; older objects are written again, so a concurrent gc (grace period longer than
this) can never delete an object a flush is about to reference."""
PENDING_OBJECTS = 1 << 16
PENDING_BYTES = 32 << 20
"""Small objects held before they are written as a pack of their own: a bulk write of a
million samples stays in bounded memory (objects written early that end up unreferenced,
as by an interrupted add, are left to ``gc``)."""


class Writes(Maintenance):
    """The write half of :class:`~.tiledb_store.TileDBStore` (which provides what is declared here)."""

    read_only: bool
    _pending: dict[str, tuple[str, bytes]]
    _pending_large: dict[str, tuple[str, int]]
    _loaded: bool
    _pending_bytes = 0

    def _is_pending(self, digest: str) -> bool: raise NotImplementedError
    def _locate(self, digest: str) -> Optional[tuple[PackIndex, int]]: raise NotImplementedError
    def _pack_hits(self, raws: np.ndarray,
                   taken: np.ndarray) -> Iterator[tuple[PackIndex, np.ndarray, np.ndarray]]: raise NotImplementedError

    def _check_writable(self) -> None:
        if self.read_only:
            raise PermissionDeniedError(f"store {self.uri} is open read-only")

    def _fresh(self, digest: str) -> bool:
        """True if an index young enough to reuse names ``digest`` (see ``FRESH_SECONDS``)."""
        loc = self._locate(digest)
        return loc is not None and loc[0].age() < FRESH_SECONDS

    def put_new(self, meta: Meta, data: Buffer) -> Digest:
        """Hash and add an object; a large one on a local store is hashed while its file is written."""
        self._check_writable()
        view = memoryview(data)
        if view.nbytes < LARGE_THRESHOLD:  # the hot path of many small samples, kept short
            digest = digest_of(meta, view)
            if digest not in self._pending and digest not in self._pending_large:
                self._pending[digest] = (meta, view.tobytes())  # tobytes(): a 0-d array's bytes too
                self._pending_bytes += view.nbytes
                if self._pending_bytes >= PENDING_BYTES or len(self._pending) >= PENDING_OBJECTS:
                    self.flush()
            return digest
        view = view.cast("B")
        if not self._files.local:
            digest = digest_of(meta, view)
            self.put(digest, meta, view)
            return digest
        future = hash_pool().submit(digest_of, meta, view)
        tmp = self._files.write_tmp(meta, view)
        digest = future.result()
        if self._is_pending(digest) or self._fresh(digest):
            self._files.remove(tmp)
            return digest
        self._files.publish(tmp, digest)
        self._pending_large[digest] = (meta, view.nbytes)
        return digest

    def put(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        self._check_writable()
        if self._is_pending(digest):
            return
        nbytes = memoryview(data).nbytes
        if nbytes >= LARGE_THRESHOLD:
            if not self._fresh(digest):
                self._files.publish(self._files.write_tmp(meta, data, digest=digest), digest)
                self._pending_large[digest] = (meta, nbytes)
        else:
            # bytes(memoryview): bytes() of a 0-d integer array would be bytes(int)
            self._pending[digest] = (meta, bytes(memoryview(data)))
            self._pending_bytes += nbytes
            if self._pending_bytes >= PENDING_BYTES or len(self._pending) >= PENDING_OBJECTS:
                self.flush()

    def put_verified(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        verify(digest, meta, data)
        self.put(digest, meta, data)

    @property
    def pending_count(self) -> int:
        return len(self._pending) + len(self._pending_large)

    def stage_batch(self, batch: ObjectBatch, *, uncached: bool = False) -> "_StagedBatch":
        """Verify a received batch, its large objects written while they are hashed (local
        stores: to temporary files, ``uncached`` with O_DIRECT; remote stores: to their final
        names once verified). Nothing is indexed yet, and no store state is read: batches are
        staged on several threads at once, then committed in order by :meth:`commit_batch`."""
        self._check_writable()
        large = _large_rows(batch)
        if not self._files.local:
            verify_batch(batch)
        writing = [io_pool().submit(self._files.write_tmp, batch.meta(i), batch.part(i), uncached=uncached,
                                    digest=Digest(d)) for d, i in large.items()]
        try:
            if self._files.local:
                verify_batch(batch)
            temps = [w.result() for w in writing]
        except BaseException:
            for w in writing:
                if w.exception() is None:
                    self._files.remove(w.result())
            raise
        return _StagedBatch(batch, dict(zip(large, temps)))

    def put_rows(self, meta: Meta, rows: np.ndarray) -> np.ndarray:
        """Hash the rows of a 2-D ``uint8`` array (an object each) and write those not stored
        yet as one pack straight from the array's buffer; returns their raw digests."""
        self._check_writable()
        n, width = rows.shape
        if width >= LARGE_THRESHOLD:
            return super().put_rows(meta, rows)  # type: ignore[misc]
        rows = np.ascontiguousarray(rows)
        raws = digest_rows(meta, rows)
        batch = ObjectBatch(raws, [meta], np.zeros(n, np.int64), np.full(n, width, np.int64),
                            rows.data.cast("B"))
        self._keep_small(batch)
        self.flush()
        return raws

    def commit_batch(self, staged: "_StagedBatch") -> None:
        """Keep a staged batch: publish its large objects, write its small ones as one pack
        straight from the batch's buffer, index all."""
        checkpoint("store.batch.verified")
        batch = staged.batch
        rows = _large_rows(batch)
        for digest, tmp in staged.temps.items():
            if self._is_pending(digest) or self._fresh(digest):
                if tmp != self._files.object_path(digest):
                    self._files.remove(tmp)
            else:
                self._files.publish(tmp, digest)
                self._pending_large[digest] = (batch.meta(rows[digest]), int(batch.sizes[rows[digest]]))
        self._keep_small(batch)
        self.flush()

    def _keep_small(self, batch: ObjectBatch) -> None:
        """Write the small objects of ``batch`` not pending here as one pack (once each)."""
        small = np.flatnonzero(batch.sizes < LARGE_THRESHOLD)
        if len(small):
            new = small[first_occurrences(batch.raws[small])]  # a batch may repeat an object
            if self._pending:  # objects buffered by put() are flushed with them: not twice
                new = np.array([i for i, d in zip(new.tolist(), raws_to_digests(batch.raws[new]))
                                if not self._is_pending(d)], dtype=np.int64)
            data: Buffer = batch.data if len(new) == len(batch) else b"".join(batch.part(i) for i in new.tolist())
            self._write_flush(SmallObjects(batch.raws[new], batch.meta_index[new], batch.metas,
                                           batch.sizes[new], data), self._take_pending_large())

    def discard_staged(self, staged: "_StagedBatch") -> None:
        for tmp in staged.temps.values():
            self._files.remove(tmp)

    def receive_object(self, digest: Digest, meta: Meta, size: int) -> IncomingObject:
        """An object arriving in parts, written in order to a file as they come (a temporary
        one locally, its final name elsewhere) and kept only once it matches its digest."""
        self._check_writable()
        return _IncomingFile(self._files.tmp_writer(size, digest), digest, meta, size)

    def _take_pending_large(self) -> list[tuple[str, tuple[str, int]]]:
        large = list(self._pending_large.items())
        self._pending_large.clear()
        return large

    def flush(self) -> None:
        if not self._pending and not self._pending_large:
            return
        small = SmallObjects.of([(d, m, b) for d, (m, b) in self._pending.items()])
        self._write_flush(small, self._take_pending_large())
        self._pending.clear()
        self._pending_bytes = 0
        self.merge_if_needed()

    def _write_flush(self, small: SmallObjects, large: list[tuple[str, tuple[str, int]]]) -> None:
        """One flush: the small objects not freshly stored go to a new pack (older copies are
        written again: see ``FRESH_SECONDS``), indexed with the large ones."""
        if len(small.raws):
            stale = ~self._fresh_mask(small.raws)
            if not stale.all():
                starts = np.cumsum(small.sizes) - small.sizes
                data = b"".join(memoryview(small.data)[s:s + n] for s, n in
                                zip(starts[stale].tolist(), small.sizes[stale].tolist()))
                small = SmallObjects(small.raws[stale], small.meta_index[stale], small.metas,
                                     small.sizes[stale], data)
        if len(small.raws) or large:
            self.write_pack(small, large)
            checkpoint("store.flush.after_index")

    def _fresh_mask(self, raws: np.ndarray) -> np.ndarray:
        """Per raw digest: True where an index young enough to rely on names it (undamaged)."""
        fresh = np.zeros(len(raws), dtype=bool)
        taken = np.zeros(len(raws), dtype=bool)
        for pack, hit, _ in self._pack_hits(raws, taken):
            taken[hit] = True  # the newest copy decides
            if pack.age() < FRESH_SECONDS:
                fresh[hit] = True
        if self._damaged and fresh.any():
            fresh &= np.array([d not in self._damaged for d in raws_to_digests(raws)], dtype=bool)
        return fresh

    def write_pack(self, small: SmallObjects, large: Sequence[tuple[str, tuple[str, int]]],
                   name: Optional[str] = None) -> PackIndex:
        """Write ``small`` as a new data file, then the index naming it and the ``large``
        objects; returns the index. Objects marked damaged that it names are whole again."""
        name = name or new_name()
        enc = encode_pack(small)
        if enc.chunks:
            self._files.write_small(f"{self.uri}/data/{name}.pack", *enc.blobs, sync=True)
            checkpoint("store.flush.after_log")
        index = self.mapped_index(index_for(name, small, enc, large))
        if self._loaded:
            self._packs.append(index)
            self._pack_names.add(name)
        if self._damaged:
            for d in self._damaged.intersection(raws_to_digests(index.digests)):
                self._files.remove(f"{self.uri}/damaged/{d}")
                self._damaged.discard(d)
        return index

    def mapped_index(self, index: PackIndex) -> PackIndex:
        """Publish ``index`` and return it as its file mapped (local stores, indexes of
        ``MAP_MIN`` bytes and more), its prefixes carried over: the arrays built in memory
        (56 bytes an object) go, and only the pages looked at stay resident (a million rows
        written held 64 MB of indexes to the end of the add)."""
        self._files.write_index(index)
        if not self._files.local or index.digests.nbytes + index.offset.nbytes < MAP_MIN:
            return index  # (a small index is read whole anyway: kept as it is)
        try:
            mapped = self._files.read_index(index.name)
        except (OSError, IntegrityError):
            return index
        mapped.take_prefixes(index.prefixes)
        return mapped


class _StagedBatch:
    """A verified batch whose large objects wait in files (digest -> file name)."""

    def __init__(self, batch: ObjectBatch, temps: dict[Digest, str]) -> None:
        self.batch, self.temps = batch, temps


class _IncomingFile(IncomingObject):
    """An object arriving in parts, kept in a large-object file until it is verified."""

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
    return {d: i for d, i in zip(raws_to_digests(batch.raws[batch.sizes >= LARGE_THRESHOLD]),
                                 np.flatnonzero(batch.sizes >= LARGE_THRESHOLD).tolist())}
