"""An object store in memory: a test double, and the shape of a cache in front of another store.

Durable objects live in a plain dict that several :class:`MemoryStore` objects
may share (pass one store's :attr:`~MemoryStore.objects` to the next), the way
several stores opened on one URI share what is on disk; a store's writes join
it on :meth:`~MemoryStore.flush`. Nothing crosses processes.
"""
from __future__ import annotations

from typing import Iterable, Iterator, MutableMapping, Optional

import numpy as np

from ..errors import IntegrityError, PermissionDeniedError
from .base import ObjectInfo, ObjectStore
from .objects import Buffer, Digest, Meta, raws_to_digests, verify


class MemoryStore(ObjectStore):
    """Content-addressed objects in a dict. Reads of flushed objects are verified (``read_many``
    unless ``verify=False``); an object found damaged is dropped, so it can be received again."""

    def __init__(self, objects: Optional[MutableMapping[Digest, tuple[Meta, bytes]]] = None, *,
                 read_only: bool = False) -> None:
        self.objects: MutableMapping[Digest, tuple[Meta, bytes]] = {} if objects is None else objects
        """The durable objects (shareable): digest -> (meta, bytes)."""
        self.read_only = read_only
        self._pending: dict[Digest, tuple[Meta, bytes]] = {}

    def _get(self, digest: Digest) -> Optional[tuple[Meta, bytes]]:
        return self._pending.get(digest) or self.objects.get(digest)

    # -- queries -------------------------------------------------------------
    def contains(self, digest: Digest) -> bool:
        return digest in self._pending or digest in self.objects

    def missing(self, digests: Iterable[Digest]) -> list[Digest]:
        return [d for d in dict.fromkeys(digests) if not self.contains(d)]

    def info(self, digest: Digest) -> ObjectInfo:
        found = self._get(digest)
        if found is None:
            raise KeyError(digest)
        return ObjectInfo(digest, found[0], len(found[1]))

    def iter_objects(self) -> Iterator[ObjectInfo]:
        for digest, (meta, data) in list(self.objects.items()):
            yield ObjectInfo(digest, meta, len(data))
        for digest, (meta, data) in list(self._pending.items()):
            if digest not in self.objects:
                yield ObjectInfo(digest, meta, len(data))

    # -- reads ---------------------------------------------------------------
    def read(self, digest: Digest) -> tuple[Meta, memoryview]:
        return self._read(digest, verify_bytes=True)

    def _read(self, digest: Digest, verify_bytes: bool) -> tuple[Meta, memoryview]:
        pending = self._pending.get(digest)
        if pending is not None:
            return pending[0], memoryview(pending[1])
        meta, data = self.objects[digest]
        if verify_bytes:
            try:
                verify(digest, meta, data)
            except IntegrityError:
                del self.objects[digest]      # damaged: absent until received again
                raise
        return meta, memoryview(data)

    def read_many(self, digests: Iterable[Digest], *,
                  verify: bool = True) -> Iterator[tuple[Digest, Meta, memoryview]]:
        for d in digests:
            meta, data = self._read(d, verify_bytes=verify)
            yield d, meta, data

    def gather(self, raws: np.ndarray, itemsize: int) -> tuple[np.ndarray, np.ndarray]:
        out = np.empty((len(raws), itemsize), dtype=np.uint8)
        found = np.zeros(len(raws), dtype=bool)
        for i, digest in enumerate(raws_to_digests(raws)):
            hit = self._get(digest)
            if hit is not None and len(hit[1]) == itemsize:
                out[i] = np.frombuffer(hit[1], dtype=np.uint8)
                found[i] = True
        return out, found

    # -- writes --------------------------------------------------------------
    def put(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        if self.read_only:
            raise PermissionDeniedError("this memory store is read-only")
        if not self.contains(digest):
            self._pending[digest] = (meta, bytes(memoryview(data)))

    def put_verified(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        verify(digest, meta, data)
        self.put(digest, meta, data)

    def flush(self) -> None:
        self.objects.update(self._pending)
        self._pending.clear()

    def close(self) -> None:
        """Drop unflushed writes (as a store on disk loses them with its process)."""
        self._pending.clear()

