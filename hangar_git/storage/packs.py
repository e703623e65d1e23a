"""Pack data files: small objects packed into checksummed, compressed chunks.

One flush writes one data file (``data/<name>.pack``: its chunks back to
back, nothing else) under a name no other writer can pick, then the index
naming it (:mod:`.packindex`). Writers never share a position, so no lock
is needed, and a flush of N bytes adds about N bytes (compressed), never a
padded tile. Chunks end on object edges and hold about ``CHUNK_TARGET``
bytes: a damaged byte costs at most one chunk's objects (those whose bytes
still hash to their digest are served even then).
"""
from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..errors import IntegrityError
from .codec import UNDECODABLE, checksum, compress, decompress, typesize
from .objects import Buffer, digests_to_raw
from .packindex import LARGE, PackIndex, build_index_arrays

CHUNK_TARGET = 1 << 18
"""Uncompressed bytes per chunk: the unit of reading, caching and damage."""
COALESCE_GAP = 1 << 16
"""Ranges of one file closer than this are fetched as one read (remote stores)."""


@dataclass(frozen=True)
class SmallObjects:
    """Objects for one pack: raw digests, meta indexes into ``metas``, sizes, bytes back to back."""

    raws: np.ndarray
    meta_index: np.ndarray
    metas: list[str]
    sizes: np.ndarray
    data: Buffer

    @classmethod
    def of(cls, items: Sequence[tuple[str, str, Buffer]]) -> "SmallObjects":
        """From ``(hex digest, meta, bytes)`` items."""
        if not items:
            return cls(digests_to_raw([]), np.zeros(0, np.int64), [], np.zeros(0, np.int64), b"")
        digests, item_metas, blobs = zip(*items)
        metas = list(dict.fromkeys(item_metas))
        if len(metas) == 1:  # the usual flush: samples of one column
            meta_index = np.zeros(len(items), dtype=np.int64)
        else:
            number = {m: i for i, m in enumerate(metas)}
            meta_index = np.array([number[m] for m in item_metas], dtype=np.int64)
        return cls(digests_to_raw(digests), meta_index, metas,
                   np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)), b"".join(blobs))


@dataclass(frozen=True)
class EncodedPack:
    """A pack's data file bytes (its compressed chunks, in order: written one after another,
    never joined) and where each object and chunk landed in it."""

    blobs: list[bytes]
    chunk_ids: np.ndarray
    """Chunk of each object (in the order given)."""
    offsets: np.ndarray
    """Offset of each object in its (uncompressed) chunk."""
    chunks: list[tuple[int, int, int, bytes]]
    """``(start in file, compressed length, length, checksum)`` of each chunk."""


def encode_pack(small: SmallObjects) -> EncodedPack:
    """Cut objects into chunks (an object goes to the chunk its first byte falls in, so
    chunks end on object edges), compress and checksum each."""
    sizes, data, n = small.sizes, memoryview(small.data), len(small.raws)
    if not n:
        return EncodedPack([], np.zeros(0, np.int64), np.zeros(0, np.int64), [])
    starts = np.cumsum(sizes) - sizes
    chunk_ids = np.unique(starts // CHUNK_TARGET, return_inverse=True)[1].reshape(-1)
    first_rows = np.flatnonzero(np.diff(chunk_ids, prepend=-1))
    bounds = starts[first_rows].tolist() + [len(data)]
    blobs: list[bytes] = []
    chunks: list[tuple[int, int, int, bytes]] = []
    pos = 0
    for k, meta_no in enumerate(small.meta_index[first_rows].tolist()):
        raw = data[bounds[k]:bounds[k + 1]]
        comp = compress(raw, typesize(small.metas[meta_no]))
        chunks.append((pos, len(comp), len(raw), checksum(raw)))
        blobs.append(comp)
        pos += len(comp)
    offsets = starts - np.array(bounds[:-1], dtype=np.int64)[chunk_ids]
    return EncodedPack(blobs, chunk_ids, offsets, chunks)


def index_for(name: str, small: SmallObjects, enc: EncodedPack,
              large: Sequence[tuple[str, tuple[str, int]]]) -> PackIndex:
    """The index of a new pack: its own chunks (in data file ``name``) and its ``large``
    objects (``(digest, (meta, size))``)."""
    metas = {m: i for i, m in enumerate(small.metas)}
    large_metas = np.array([metas.setdefault(m, len(metas)) for _, (m, _) in large], dtype=np.int64)
    n = len(large)
    return build_index_arrays(
        name, np.concatenate([small.raws, digests_to_raw([d for d, _ in large])]).astype("S32"),
        np.concatenate([enc.chunk_ids, np.full(n, int(LARGE), dtype=np.int64)]),
        np.concatenate([enc.offsets, np.zeros(n, dtype=np.int64)]),
        np.concatenate([small.sizes, np.array([s for _, (_, s) in large], dtype=np.int64)]),
        np.concatenate([small.meta_index, large_metas]), sorted(metas, key=metas.__getitem__),
        [(0, *c) for c in enc.chunks], [name] if enc.chunks else [])


def open_chunk(raw: Buffer, ulen: int, expected_sum: bytes) -> tuple[Optional[bytes], bool]:
    """A stored chunk decompressed, and whether it matches its checksum (None if undecodable)."""
    try:
        data = decompress(raw) if len(raw) else b""
    except UNDECODABLE:
        return None, False
    if len(data) != ulen:
        return None, False
    # ``S16`` items lose trailing NULs; compare the stripped forms
    return data, checksum(data).rstrip(b"\0") == expected_sum


def coalesce(ranges: list[tuple[int, int]], gap: int = COALESCE_GAP) -> list[tuple[int, int, list[int]]]:
    """Merge ``(start, length)`` ranges of one file into reads ``(start, length, members)``,
    joining ranges less than ``gap`` apart; ``members`` index ``ranges``."""
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    reads: list[tuple[int, int, list[int]]] = []
    for i in order:
        start, length = ranges[i]
        if reads and start - (reads[-1][0] + reads[-1][1]) <= gap:
            first, span, members = reads[-1]
            reads[-1] = (first, max(span, start + length - first), members + [i])
        else:
            reads.append((start, length, [i]))
    return reads


def short_file(path: str, got: int, length: int, start: int) -> IntegrityError:
    """The error for a store file that holds fewer bytes than its index says (damaged)."""
    return IntegrityError(f"{path} is shorter than its index says ({got} of {length} bytes at {start}): "
                          f"run `git hangar fsck`")


class LocalFiles:
    """Read ranges of local data files with ``pread``, keeping a few descriptors open
    (a file deleted by gc stays readable through an open descriptor)."""

    MAX_OPEN = 64

    def __init__(self) -> None:
        self._fds: dict[str, int] = {}
        self._maps: dict[str, Optional[mmap.mmap]] = {}
        self._pid = os.getpid()

    def mapped(self, path: str) -> Optional[mmap.mmap]:
        """The whole file mapped read-only (None if it cannot be: gone, empty). Only sliced
        (slices are copies), so a map is dropped at any time without a dangling view; data
        files never change once written, and one removed by gc stays readable through its map."""
        try:
            return self._maps[path]
        except KeyError:
            pass
        if len(self._maps) >= self.MAX_OPEN:
            self._maps.clear()
        try:
            with open(path, "rb") as fh:
                self._maps[path] = mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ)
        except (OSError, ValueError):
            self._maps[path] = None
        return self._maps[path]

    def read(self, path: str, start: int, length: int) -> bytes:
        """``length`` bytes at ``start`` (OSError if the file is gone; IntegrityError if it is
        shorter than that: damaged, as a remote store's file that short is)."""
        data = os.pread(self._fd(path), length, start)
        if len(data) != length:
            raise short_file(path, len(data), length, start)
        return data

    def _fd(self, path: str) -> int:
        if self._pid != os.getpid():  # forked: the parent's descriptors share its file offsets
            self._fds, self._pid = {}, os.getpid()
        fd = self._fds.get(path)
        if fd is None:
            if len(self._fds) >= self.MAX_OPEN:
                self.close()
            fd = self._fds[path] = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        return fd

    def forget(self, path: str) -> None:
        """Close the descriptor (and drop the map) of a file that was replaced or removed."""
        self._maps.pop(path, None)
        fd = self._fds.pop(path, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        """Close every descriptor."""
        if self._pid == os.getpid():
            for fd in self._fds.values():
                os.close(fd)
        self._fds = {}
        self._maps = {}
