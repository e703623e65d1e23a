"""A bounded memory cache of verified objects, apart from the store: what a streaming
checkout reads through first (the directory cache shared by processes is
:mod:`.packcache`). Nothing here ever enters the store.
"""
from __future__ import annotations

import threading
from collections import OrderedDict, deque
from itertools import compress
from typing import Optional, Sequence

from ..heap import release_freed
from .objects import Digest, Meta

ENTRY_OVERHEAD = 160
"""Bytes of bookkeeping counted for each cached object besides its bytes (dict slot, key, tuple)."""
DEFAULT_CACHE_BYTES = 512 << 20
RELEASE_EVERY = 8
RELEASE_AFTER = 256 << 10
"""The C heap's free memory is given back each time the cache has dropped 1/8 of its budget
(and at least this many bytes: a tiny cache does not trim the heap at every put)."""
Entry = tuple[Meta, bytes]


class MemoryCache:
    """Objects by digest in memory, least recently used dropped first once over ``budget`` bytes.

    Thread-safe. An object bigger than the whole budget is not kept at all.
    """

    def __init__(self, budget: int = DEFAULT_CACHE_BYTES) -> None:
        self.budget = budget
        self.nbytes = 0
        self.evicted = 0
        self.releases = 0
        self._dropped = 0  # bytes dropped since the heap's free memory was last given back
        self._items: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def after_fork_in_child(self) -> None:
        """A lock of this process's own (a parent's thread may have held the one copied); the
        entries stay (copied on write)."""
        self._lock = threading.Lock()

    def get(self, digest: str) -> Optional[Entry]:
        with self._lock:
            entry = self._items.get(digest)
            if entry is not None:
                self._items.move_to_end(digest)
            return entry

    def get_many(self, digests: Sequence[str]) -> list[Optional[Entry]]:
        """:meth:`get` of each digest, under one lock."""
        items = self._items
        with self._lock:
            out = list(map(items.get, digests))
            deque(map(items.move_to_end, compress(digests, out)), maxlen=0)  # the hits, most recent now
        return out

    def __contains__(self, digest: object) -> bool:
        return digest in self._items

    def __len__(self) -> int:
        return len(self._items)

    def put(self, digest: str, meta: Meta, data: bytes) -> None:
        if len(data) + ENTRY_OVERHEAD > self.budget:
            return
        with self._lock:
            self._put_locked(digest, meta, data)
        self._release()

    def put_many(self, entries: Sequence[tuple[str, Meta, bytes]]) -> None:
        """:meth:`put` of each (digest, meta, bytes), under one lock."""
        with self._lock:
            for digest, meta, data in entries:
                if len(data) + ENTRY_OVERHEAD <= self.budget:
                    self._put_locked(digest, meta, data)
        self._release()

    def _put_locked(self, digest: str, meta: Meta, data: bytes) -> None:
        """Keep one entry, evicting the least recently used as it goes (never over the budget
        by more than the entry being put); the caller holds the lock."""
        items = self._items
        old = items.pop(digest, None)
        if old is not None:
            self.nbytes -= len(old[1]) + ENTRY_OVERHEAD
        items[digest] = (meta, data)
        self.nbytes += len(data) + ENTRY_OVERHEAD
        while self.nbytes > self.budget:
            _, (_, dropped) = items.popitem(last=False)
            self.nbytes -= len(dropped) + ENTRY_OVERHEAD
            self._dropped += len(dropped) + ENTRY_OVERHEAD
            self.evicted += 1

    def _release(self) -> None:
        """Give the C heap's free memory back once 1/:data:`RELEASE_EVERY` of the budget was dropped
        since the last time: glibc keeps freed blocks of a few hundred KB for reuse (its mmap
        threshold rises once one is freed), so a cache that keeps turning over large objects grew
        the process by more than its budget (an RSS growth of 1.7x the budget in random reads
        of images, with 0.74x of it live)."""
        if self._dropped >= max(self.budget // RELEASE_EVERY, RELEASE_AFTER):
            self._dropped = 0
            self.releases += 1
            release_freed()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0


__all__ = ["DEFAULT_CACHE_BYTES", "MemoryCache", "Digest"]
