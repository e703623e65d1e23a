"""Record cache entries of a big write in one file (a bundle) instead of one file each.

A first commit of a million rows writes 4,096 shards, and so 4,096 record cache entries.
Creating that many small files cost 0.1 s of system time on a quiet machine and up to 1 s
while other processes wrote to the same disk; one file of the same bytes takes a few ms.
So a write of :data:`BUNDLE_MIN` shards or more (as git packs objects from ``PACK_MIN``
on) appends its entries to one bundle; fewer stay one file each.

A bundle is ``HGRECB01``, its entries back to back (each the bytes of a one-shard entry
file, checked by its own CRC-32 when read), its index (a row per entry: raw blob id,
20 bytes; offset, u64; length, u32; little-endian, sorted by blob id), then the trailer
``<index offset u64><count u32><index crc u32>`` and ``HGRECB01`` again. It is written
under a temporary name and appears, complete, under a random 40-hex-digit name in its own
folder. Like single entries, bundles are derived data: a damaged one is ignored (its
shards are read from git and cached one file each), and gc keeps only the entries whose
blob git still has (a bundle none of whose blobs is left is removed).
"""
from __future__ import annotations

import os
import struct
import threading
import time
import zlib
from contextlib import ExitStack
from typing import IO, Callable, Optional, Sequence

import numpy as np

from ..fileio import atomic_open
from ..storage.identity import hex_of, raw_of

BUNDLE_MIN = 100
"""Shards from which a write puts its record cache entries in one bundle."""
MAGIC = b"HGRECB01"
_TRAILER = struct.Struct("<QII")
_ROW = np.dtype([("oid", "S20"), ("offset", "<u8"), ("length", "<u4")])
_OID_SIZE = 20


class BundleWriter:
    """A new bundle, written an entry at a time; :meth:`close` indexes it and puts it in
    place. A failed write only costs speed: the bundle is dropped and nothing is raised."""

    def __init__(self, folder: str, on_close: Callable[[str], None]) -> None:
        self.folder, self.on_close = folder, on_close
        self._stack: Optional[ExitStack] = None
        self._fh: Optional[IO[bytes]] = None
        self._rows: list[tuple[bytes, int, int]] = []
        self._offset = len(MAGIC)
        self._failed = False
        self._name = hex_of(os.urandom(20))  # a random name

    def add(self, oid: str, parts: Sequence[bytes]) -> None:
        """Append the entry (its bytes, in parts) of the shard blob ``oid``."""
        if self._failed:
            return
        try:
            fh = self._fh if self._fh is not None else self._open()
            length = 0
            for part in parts:
                fh.write(part)
                length += len(part)
        except OSError:
            self.abort()
            return
        self._rows.append((raw_of(oid), self._offset, length))
        self._offset += length

    def close(self) -> Optional[str]:
        """Write the index and put the bundle in place; returns its name (None when it has
        no entry or could not be written)."""
        if self._failed or self._fh is None or self._stack is None:
            return None
        index = np.array(sorted(self._rows), dtype=_ROW).tobytes()
        name = self._name
        try:
            self._fh.write(index)
            self._fh.write(_TRAILER.pack(self._offset, len(self._rows), zlib.crc32(index)) + MAGIC)
            self._fh.flush()
            stack, self._stack, self._fh = self._stack, None, None
            stack.close()  # renamed into place
        except OSError:
            self.abort()
            return None
        self.on_close(name)
        return name

    def abort(self) -> None:
        """Drop the bundle (its temporary file is removed)."""
        self._failed = True
        stack, self._stack, self._fh = self._stack, None, None
        if stack is not None:
            try:
                stack.__exit__(OSError, OSError("bundle dropped"), None)
            except OSError:
                pass

    def _open(self) -> IO[bytes]:
        os.makedirs(self.folder, exist_ok=True)
        stack = ExitStack()
        self._fh = stack.enter_context(atomic_open(os.path.join(self.folder, self._name), "wb"))
        self._stack = stack
        self._fh.write(MAGIC)
        return self._fh


def read_index(path: str) -> Optional[np.ndarray]:
    """The index rows of the bundle at ``path`` (None when it is missing or damaged)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            tail = _TRAILER.size + len(MAGIC)
            if size < len(MAGIC) + tail:
                return None
            fh.seek(size - tail)
            trailer = fh.read(tail)
            start, count, crc = _TRAILER.unpack_from(trailer)
            if not trailer.endswith(MAGIC) or start + count * _ROW.itemsize != size - tail:
                return None
            fh.seek(start)
            index = fh.read(count * _ROW.itemsize)
    except OSError:
        return None
    if len(index) != count * _ROW.itemsize or zlib.crc32(index) != crc:
        return None
    rows = np.frombuffer(index, dtype=_ROW)
    if count and ((rows["offset"] < len(MAGIC)).any() or (rows["offset"] + rows["length"] > start).any()):
        return None
    return rows


class Bundles:
    """The bundles of one record cache: which holds a shard's entry, its bytes, and upkeep."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._stamp: Optional[int] = None  # the folder's mtime at the last listing
        self._indexes: dict[str, np.ndarray] = {}  # bundle name -> index rows
        self._lookup = _Lookup({})  # replaced whole (readers on other threads see one or the other)
        self._lock = threading.Lock()

    def writer(self) -> BundleWriter:
        return BundleWriter(self.folder, self._loaded)

    def in_use(self) -> bool:
        return os.path.isdir(self.folder)

    def read(self, oid: str) -> Optional[bytes]:
        """The entry bytes of shard blob ``oid`` from the bundle holding it (None: none does,
        or its bundle has gone)."""
        self._refresh()
        found = self._find(raw_of(oid))
        if found is None:
            return None
        name, offset, length = found
        try:
            fd = os.open(os.path.join(self.folder, name), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    def oids(self) -> list[str]:
        """The blob id of every bundled entry."""
        self._refresh()
        return [hex_of(bytes(o).ljust(_OID_SIZE, b"\0")) for o in self._lookup.oids.tolist()]

    def names(self) -> list[str]:
        """Every bundle's file name (temporary files excluded)."""
        try:
            return sorted(n for n in os.listdir(self.folder) if not n.startswith("."))
        except OSError:
            return []

    def entries(self, name: str) -> Optional[list[tuple[str, bytes]]]:
        """(blob id, entry bytes) of each entry of bundle ``name``; None when it is damaged."""
        rows = read_index(os.path.join(self.folder, name))
        if rows is None:
            return None
        with open(os.path.join(self.folder, name), "rb") as fh:
            data = fh.read()
        return [(hex_of(bytes(r["oid"]).ljust(_OID_SIZE, b"\0")), data[int(r["offset"]):int(r["offset"] + r["length"])])
                for r in rows]

    def keep_only(self, name: str, keep: Callable[[str], bool]) -> int:
        """Rewrite bundle ``name`` with only the entries ``keep`` accepts (remove it when none
        is left, or when it is damaged); returns how many entries it lost."""
        try:
            rows = read_index(os.path.join(self.folder, name))
            if rows is None:
                self._remove(name)
                return 0
            oids = [hex_of(bytes(o).ljust(_OID_SIZE, b"\0")) for o in rows["oid"].tolist()]
            kept = [i for i, oid in enumerate(oids) if keep(oid)]
            if len(kept) == len(oids):
                return 0
            if kept:
                self._rewrite(name, rows, oids, kept)
            self._remove(name)
        except OSError:
            return 0
        return len(oids) - len(kept)

    def remove_temps(self, tmp_age: float) -> int:
        """Remove temporary files older than ``tmp_age`` seconds (left by a killed writer)."""
        removed, cutoff = 0, time.time() - tmp_age
        try:
            listing = os.listdir(self.folder)
        except OSError:
            return 0
        for name in listing:
            path = os.path.join(self.folder, name)
            try:
                if name.startswith(".") and os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
            except OSError:
                pass
        return removed

    def _rewrite(self, name: str, rows: np.ndarray, oids: list[str], kept: list[int]) -> None:
        writer = self.writer()
        with open(os.path.join(self.folder, name), "rb") as fh:
            for i in kept:
                fh.seek(int(rows[i]["offset"]))
                writer.add(oids[i], [fh.read(int(rows[i]["length"]))])
        writer.close()

    def _remove(self, name: str) -> None:
        try:
            os.unlink(os.path.join(self.folder, name))
        except FileNotFoundError:
            pass
        self._stamp = None

    def _find(self, raw: bytes) -> Optional[tuple[str, int, int]]:
        lookup = self._lookup
        at = int(np.searchsorted(lookup.oids, np.array([raw], dtype="S20"))[0])
        if at >= len(lookup.oids) or bytes(lookup.oids[at]).ljust(_OID_SIZE, b"\0") != raw:
            return None
        return lookup.names[int(lookup.bundle[at])], int(lookup.offset[at]), int(lookup.length[at])

    def _refresh(self) -> None:
        """Read the indexes of bundles new since the last listing, and forget those gone."""
        try:
            stamp = os.stat(self.folder).st_mtime_ns
        except OSError:
            stamp = -1
        if stamp == self._stamp:
            return
        with self._lock:
            self._stamp = stamp
            names = set(self.names())
            indexes = {n: rows for n, rows in self._indexes.items() if n in names}
            for name in names - set(indexes):
                rows = read_index(os.path.join(self.folder, name))
                if rows is not None:
                    indexes[name] = rows
            self._indexes, self._lookup = indexes, _Lookup(indexes)

    def _loaded(self, name: str) -> None:
        """A bundle this process just wrote: indexed at once (the folder's time may not show it)."""
        rows = read_index(os.path.join(self.folder, name))
        if rows is not None:
            with self._lock:
                indexes = dict(self._indexes)
                indexes[name] = rows
                self._indexes, self._lookup = indexes, _Lookup(indexes)


class _Lookup:
    """Every bundled blob id, sorted, with the bundle, offset and length of its entry."""

    def __init__(self, indexes: dict[str, np.ndarray]) -> None:
        self.names = sorted(indexes)
        parts = [indexes[n] for n in self.names]
        rows = np.concatenate(parts) if parts else np.zeros(0, dtype=_ROW)
        bundle = np.concatenate([np.full(len(p), i, dtype=np.int32) for i, p in enumerate(parts)]) if parts \
            else np.zeros(0, dtype=np.int32)
        order = np.argsort(rows["oid"], kind="stable")
        self.oids = rows["oid"][order]
        self.offset, self.length, self.bundle = rows["offset"][order], rows["length"][order], bundle[order]
