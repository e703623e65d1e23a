"""The object store interface every backend implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, TypeVar

import numpy as np

from ..faults import checkpoint
from .incoming import IncomingObject
from .objects import (Buffer, Digest, Meta, ObjectBatch, digest_of, digest_rows, raw_to_digest,
                      raws_to_digests, verify_batch)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store knows of one object without reading it."""

    digest: Digest
    meta: Meta
    nbytes: int


class ObjectStore(ABC):
    """Content-addressed store of sample bytes, named by digest.

    Writes are buffered and become durable on :meth:`flush`; reads of
    buffered objects work before that.
    """

    read_only: bool = False

    @abstractmethod
    def contains(self, digest: Digest) -> bool: ...

    @abstractmethod
    def missing(self, digests: Iterable[Digest]) -> list[Digest]:
        """The given digests that this store does not hold, in order."""

    def damaged(self, digests: Iterable[Digest]) -> list[Digest]:
        """The given digests this store holds no good copy of because the copy it held was
        found damaged (absent to :meth:`missing` too, until received again), in order."""
        return []

    @abstractmethod
    def info(self, digest: Digest) -> ObjectInfo: ...

    @abstractmethod
    def read(self, digest: Digest) -> tuple[Meta, memoryview]:
        """Meta and bytes of an object (verified); KeyError if absent."""

    def read_raw(self, raw: bytes) -> tuple[Meta, Buffer]:
        """:meth:`read` of a raw (32-byte) digest: verified bytes; KeyError if absent."""
        return self.read(raw_to_digest(raw))

    def locations_of(self, raws: np.ndarray,
                      after_block: Optional[Callable[[], None]] = None) -> Optional[list[Buffer]]:
        """A locations file (:mod:`.locations`) for raw digests in row order, as buffers to
        write one after the other, or None when this store's reads are not sliced from local
        files (the default). ``after_block`` is called after each block of ``raws`` is looked
        up (a caller whose ``raws`` are a mapped file drops the pages read so far)."""
        return None

    def open_locations(self, path: str, count: int) -> Any:
        """The locations file at ``path`` for ``count`` rows (a :class:`.locations.Locations`),
        or None (the default: this store does not slice reads)."""
        return None

    @abstractmethod
    def read_many(self, digests: Iterable[Digest], *,
                  verify: bool = True) -> Iterator[tuple[Digest, Meta, memoryview]]:
        """Objects in the order asked, fetching storage in large batches.

        ``verify=False`` skips re-hashing large objects against their digests:
        for bytes on their way to a receiver that verifies them itself.
        """

    @abstractmethod
    def put(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        """Add an object whose digest the caller computed from ``data``."""

    @abstractmethod
    def put_verified(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        """Add an object received from elsewhere, checking its digest first."""

    def put_new(self, meta: Meta, data: Buffer) -> Digest:
        """Hash and add an object; returns its digest."""
        digest = digest_of(meta, data)
        self.put(digest, meta, data)
        return digest

    @abstractmethod
    def flush(self) -> None:
        """Make every buffered object durable (one write, one index)."""

    def release_pages(self) -> None:
        """Give memory a big write read and let go of back to the system (stores that map
        their files do); nothing to give back by default."""

    def gather(self, raws: np.ndarray, itemsize: int) -> tuple[np.ndarray, np.ndarray]:
        """Many same-sized objects as rows of one array, plus a found-mask.

        Backends without a batch path serve nothing here; callers then read
        each object with :meth:`read`.
        """
        return np.empty((len(raws), itemsize), dtype=np.uint8), np.zeros(len(raws), dtype=bool)

    def describe(self, digests: Sequence[Digest]) -> tuple[list[Optional[Meta]], np.ndarray]:
        """Metas and sizes of many objects (None / -1 where absent)."""
        metas: list[Optional[Meta]] = []
        sizes = np.full(len(digests), -1, dtype=np.int64)
        for i, d in enumerate(digests):
            try:
                info = self.info(d)
            except KeyError:
                metas.append(None)
                continue
            metas.append(info.meta)
            sizes[i] = info.nbytes
        return metas, sizes

    def describe_raws(self, raws: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """:meth:`describe` of raw digests (``S32``), metas as a table: ``(metas, meta_index,
        sizes)`` where object ``i``'s meta is ``metas[meta_index[i]]``; -1 / -1 where absent."""
        metas, sizes = self.describe(raws_to_digests(raws))
        table: dict[str, int] = {}
        index = np.array([-1 if m is None else table.setdefault(m, len(table)) for m in metas], dtype=np.int64)
        return list(table), index, sizes

    def warm(self, digests: Iterable[str]) -> None:
        """Hint that these objects will be read soon (backends may look them up in bulk)."""

    def read_ahead(self, items: Iterable[T], digests_of: Callable[[T], Any]) -> Iterator[T]:
        """``items`` unchanged; a hint that each one's objects (``digests_of(item)``: hex digests
        or raw ``S32`` digests) are read in this order, so a store that fetches from far away
        (a streaming checkout's) may fetch the next item's while one is read."""
        return iter(items)

    def put_rows(self, meta: Meta, rows: np.ndarray) -> np.ndarray:
        """Hash and add many objects of one ``meta`` at once: the rows of a C-contiguous 2-D
        ``uint8`` array, one object each (a big import's fast path); returns their raw
        digests (``S32``)."""
        raws = digest_rows(meta, rows)
        view = np.ascontiguousarray(rows).data.cast("B")
        width = rows.shape[1]
        for i, digest in enumerate(raws_to_digests(raws)):
            self.put(digest, meta, view[i * width:(i + 1) * width])
        return raws

    def put_batch(self, batch: ObjectBatch) -> None:
        """Verify a received batch and make it durable (one flush); nothing of it is kept
        unless every object matches its digest (IntegrityError)."""
        self.commit_batch(self.stage_batch(batch))

    def stage_batch(self, batch: ObjectBatch, *, uncached: bool = False) -> Any:
        """The first half of :meth:`put_batch`: verify ``batch`` (IntegrityError) and do
        whatever can be done before keeping it. Touches no shared state, so several
        batches may be staged on several threads at once. ``uncached``: its bytes are
        not about to be read here (a server receiving a push), so backends may write
        them around the page cache."""
        verify_batch(batch)
        return batch

    def commit_batch(self, staged: Any) -> None:
        """The second half of :meth:`put_batch`: keep a staged batch. One thread, in order."""
        checkpoint("store.batch.verified")
        batch: ObjectBatch = staged
        for i in range(len(batch)):
            self.put(batch.digest(i), batch.meta(i), batch.part(i))
        self.flush()

    def discard_staged(self, staged: Any) -> None:
        """Drop a staged batch that will not be committed (a batch before it failed)."""

    def receive_object(self, digest: Digest, meta: Meta, size: int) -> IncomingObject:
        """Start receiving an object in parts (a sample too big for one frame); its
        ``finish()`` result goes to :meth:`commit_batch`."""
        return IncomingObject(digest, meta, size)

    def read_parts(self, digest: Digest, part_size: int) -> Iterator[tuple[int, memoryview]]:
        """(offset, bytes) of consecutive parts of an object, ``part_size`` bytes each but
        the last: how an object too big for one frame is sent (stores may skip re-hashing
        it: its receiver checks every part). KeyError if absent."""
        _, data = self.read(digest)
        for offset in range(0, len(data), part_size):
            yield offset, data[offset:offset + part_size]

    def absent(self, raws: np.ndarray) -> np.ndarray:
        """Per raw digest (``S32``): True where this store does not hold the object."""
        digests = raws_to_digests(raws)
        missing = set(self.missing(digests))
        return np.array([d in missing for d in digests], dtype=bool)

    @abstractmethod
    def iter_objects(self) -> Iterator[ObjectInfo]: ...

    @abstractmethod
    def close(self) -> None: ...
