"""Bounded caches of verified objects, apart from the store: what a streaming checkout reads
through (a memory LRU, and optionally a directory with its own byte budget).

Nothing here ever enters the store. Both caches hold only objects already verified
against their digest; the directory cache verifies again as it reads (a file on disk
may have been damaged since), and treats a damaged or vanished file as a miss.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Optional, Sequence

from ..errors import IntegrityError
from ..fileio import write_atomic
from .objects import Digest, Meta, verify

ENTRY_OVERHEAD = 160
"""Bytes of bookkeeping counted for each cached object besides its bytes (dict slot, key, tuple)."""
DEFAULT_CACHE_BYTES = 512 << 20
Entry = tuple[Meta, bytes]


class MemoryCache:
    """Objects by digest in memory, least recently used dropped first once over ``budget`` bytes.

    Thread-safe. An object bigger than the whole budget is not kept at all.
    """

    def __init__(self, budget: int = DEFAULT_CACHE_BYTES) -> None:
        self.budget = budget
        self.nbytes = 0
        self.evicted = 0
        self._items: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Optional[Entry]:
        with self._lock:
            entry = self._items.get(digest)
            if entry is not None:
                self._items.move_to_end(digest)
            return entry

    def get_many(self, digests: Sequence[str]) -> list[Optional[Entry]]:
        """:meth:`get` of each digest, under one lock."""
        items, out = self._items, []
        with self._lock:
            for d in digests:
                entry = items.get(d)
                if entry is not None:
                    items.move_to_end(d)
                out.append(entry)
        return out

    def __contains__(self, digest: object) -> bool:
        return digest in self._items

    def __len__(self) -> int:
        return len(self._items)

    def put(self, digest: str, meta: Meta, data: bytes) -> None:
        size = len(data) + ENTRY_OVERHEAD
        if size > self.budget:
            return
        with self._lock:
            old = self._items.pop(digest, None)
            if old is not None:
                self.nbytes -= len(old[1]) + ENTRY_OVERHEAD
            self._items[digest] = (meta, data)
            self.nbytes += size
            while self.nbytes > self.budget:
                _, (_, dropped) = self._items.popitem(last=False)
                self.nbytes -= len(dropped) + ENTRY_OVERHEAD
                self.evicted += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0


class DiskCache:
    """Objects as files ``<dir>/<aa>/<digest>`` (``meta``, newline, bytes), within ``budget`` bytes.

    Several processes (DataLoader workers) may share one directory: files are
    written atomically under their digest, and each process trims the oldest
    files (by modification time, refreshed on every hit) once its running
    estimate passes the budget. Reads verify the bytes; a damaged file is removed.
    """

    TRIM_TO = 0.8

    def __init__(self, path: str, budget: int) -> None:
        self.path = os.path.abspath(path)
        self.budget = budget
        os.makedirs(self.path, exist_ok=True)
        self.nbytes = self._scan_total()
        self._lock = threading.Lock()

    def _file(self, digest: str) -> str:
        return os.path.join(self.path, digest[:2], digest)

    def get(self, digest: str) -> Optional[Entry]:
        path = self._file(digest)
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
            os.utime(path)
        except OSError:
            return None
        meta, sep, data = raw.partition(b"\n")
        try:
            if not sep:
                raise IntegrityError(f"cache file {path} has no header", expected=digest)
            verify(digest, meta.decode("ascii"), data)
        except (IntegrityError, UnicodeDecodeError):
            self._remove(path)
            return None
        return Meta(meta.decode("ascii")), data

    def put(self, digest: str, meta: Meta, data: bytes) -> None:
        size = len(data) + len(meta) + 1
        if size > self.budget:
            return
        path = self._file(digest)
        if os.path.exists(path):
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, meta.encode("ascii") + b"\n", data)
        with self._lock:
            self.nbytes += size
            over = self.nbytes > self.budget
        if over:
            self.trim()

    def trim(self) -> None:
        """Remove the least recently used files until the directory holds ``TRIM_TO`` of the budget."""
        files = []
        for sub in _subdirs(self.path):
            with os.scandir(sub) as it:
                for entry in it:
                    if entry.is_file() and not entry.name.startswith("."):
                        try:
                            st = entry.stat()
                        except OSError:
                            continue
                        files.append((st.st_mtime, st.st_size, entry.path))
        files.sort()
        total = sum(size for _, size, _ in files)
        goal = int(self.budget * self.TRIM_TO)
        for _, size, path in files:
            if total <= goal:
                break
            self._remove(path)
            total -= size
        with self._lock:
            self.nbytes = total

    def _scan_total(self) -> int:
        total = 0
        for sub in _subdirs(self.path):
            with os.scandir(sub) as it:
                total += sum(e.stat().st_size for e in it if e.is_file())
        return total

    @staticmethod
    def _remove(path: str) -> None:
        try:
            os.remove(path)
        except OSError:
            pass


def _subdirs(path: str) -> list[str]:
    with os.scandir(path) as it:
        return [e.path for e in it if e.is_dir() and len(e.name) == 2]


__all__ = ["DEFAULT_CACHE_BYTES", "DiskCache", "MemoryCache", "Digest"]
