"""Pack index: which chunk of which pack data file holds each object.

RECORD FORMAT IS PERMANENT (``HGPACK02``). One index file is written per
store flush, after the data file it describes (the index is what makes a
flush visible); all object arrays are sorted by digest so lookups are
binary searches and batch lookups are vectorised. An index may name chunks
of several data files (merged indexes, and objects a flush found already
stored: it names their existing chunks, which keeps them fresh for gc).

Layout: magic, u64 header length, JSON header (counts, metas, data file
names), then the arrays in the order of ``_OBJECT_FIELDS`` and
``_CHUNK_FIELDS``, then the SHA-256 of everything before it.
"""
from __future__ import annotations

import hashlib
import json
import struct
import time
import random
from dataclasses import dataclass, field
from typing import Union

import numpy as np

from ..errors import IntegrityError
from ..heap import drop_mapped_pages

Buffer = Union[bytes, bytearray, memoryview]
MAGIC = b"HGPACK02"
LARGE = np.uint32(0xFFFFFFFF)
"""Chunk number of an object stored as its own file (the large tier)."""

_OBJECT_FIELDS = (("digests", "S32"), ("chunk", "<u4"), ("offset", "<u8"),
                  ("nbytes", "<u8"), ("meta", "<u4"))
_CHUNK_FIELDS = (("chunk_file", "<u4"), ("chunk_start", "<u8"), ("chunk_clen", "<u8"),
                 ("chunk_ulen", "<u8"), ("chunk_sum", "S16"))
_OBJECT_ROW = sum(np.dtype(dt).itemsize for _, dt in _OBJECT_FIELDS)
_CHUNK_ROW = sum(np.dtype(dt).itemsize for _, dt in _CHUNK_FIELDS)


def checksum_ok(blob: Buffer) -> bool:
    """True when an index file's trailing SHA-256 matches the rest of it."""
    view = memoryview(blob)
    return len(view) >= 32 and hashlib.sha256(view[:-32]).digest() == view[-32:]


@dataclass(eq=False)
class PackIndex:
    """Sorted object table of one pack plus its chunk table."""

    name: str
    digests: np.ndarray
    chunk: np.ndarray
    offset: np.ndarray
    nbytes: np.ndarray
    meta: np.ndarray
    chunk_file: np.ndarray
    chunk_start: np.ndarray
    chunk_clen: np.ndarray
    chunk_ulen: np.ndarray
    chunk_sum: np.ndarray
    metas: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    """Names of the data files ``chunk_file`` points into."""

    def __len__(self) -> int:
        return len(self.digests)

    def find(self, raw: bytes) -> int:
        """Row of the object with this raw digest, or -1."""
        d = self.digests
        i = int(d.searchsorted(raw))
        # numpy drops trailing NULs of ``S`` items; digests are all 32 bytes,
        # so comparing stripped forms is exact.
        return i if i < len(d) and d.item(i) == raw.rstrip(b"\0") else -1

    def find_many(self, raws: np.ndarray, probe: "Probe | None" = None) -> np.ndarray:
        """Rows of many raw digests (``S32`` array); -1 where absent.

        Searches the 64-bit digest prefixes (integer compares are far cheaper
        than 32-byte string compares), then confirms on the full digest only
        where a prefix matched. ``probe``: :class:`Probe` of ``raws``, made once
        by a caller that asks many packs (it sorts the queries once).
        """
        d = self.digests
        if len(d) == 0 or len(raws) == 0:
            return np.full(len(raws), -1, dtype=np.int64)
        probe = probe if probe is not None else Probe(raws)
        prefixes = self.prefixes
        at = np.minimum(prefixes.searchsorted(probe.sorted_prefixes), len(d) - 1)
        matched = np.flatnonzero(prefixes[at] == probe.sorted_prefixes)  # in sorted query order
        out = np.full(len(raws), -1, dtype=np.int64)
        if len(matched):
            candidates, rows = probe.order[matched], at[matched]
            exact = d[rows] == raws[candidates]
            slow = candidates[~exact]  # equal prefixes of different digests: resolve exactly
            if len(slow):
                found = np.minimum(d.searchsorted(raws[slow]), len(d) - 1)
                rows[~exact] = np.where(d[found] == raws[slow], found, -1)
            out[candidates] = rows
        return out

    def fields(self, row: int) -> tuple[int, int, int, int]:
        """(chunk, offset, size, meta number) of one row: the hot path of single reads
        (indexing typed views of the arrays costs a fraction of ``ndarray.item``)."""
        cols = self.__dict__.get("_fields")
        if cols is None:
            cols = tuple(_native_view(a) for a in (self.chunk, self.offset, self.nbytes, self.meta))
            self.__dict__["_fields"] = cols
        return cols[0][row], cols[1][row], cols[2][row], cols[3][row]

    @property
    def chunk_keys(self) -> list[tuple[str, int]]:
        """``(pack name, chunk)`` cache keys, one tuple per chunk, built once."""
        cached = self.__dict__.get("_chunk_keys")
        if cached is None:
            cached = [(self.name, c) for c in range(len(self.chunk_start))]
            self.__dict__["_chunk_keys"] = cached
        return cached

    @property
    def prefixes(self) -> np.ndarray:
        """First 8 bytes of each digest as big-endian integers (sorted like the digests)."""
        cached = self.__dict__.get("_prefixes")
        if cached is None:
            cached = digest_prefixes(self.digests)
            self.__dict__["_prefixes"] = cached
        return cached

    def take_prefixes(self, prefixes: np.ndarray) -> None:
        """Use ``prefixes``, computed from these same digests elsewhere (the arrays this index
        was written from), as :attr:`prefixes`: a mapped file's digests then stay unread."""
        self.__dict__["_prefixes"] = prefixes

    def encode(self) -> bytes:
        return b"".join(self.encode_parts())

    def encode_parts(self) -> list[Buffer]:
        """The index file as buffers to write one after the other (views of the arrays where
        they have the file's types: a merged index of a million objects is not copied twice)."""
        header = json.dumps({"objects": len(self.digests), "chunks": len(self.chunk_start),
                             "metas": self.metas, "files": self.files}).encode()
        parts: list[Buffer] = [MAGIC, struct.pack("<Q", len(header)), header]
        for name, dt in _OBJECT_FIELDS + _CHUNK_FIELDS:
            parts.append(np.ascontiguousarray(getattr(self, name), dtype=dt).reshape(-1).view(np.uint8).data)
        checksum = hashlib.sha256()
        for part in parts:
            checksum.update(part)
        return parts + [checksum.digest()]

    @classmethod
    def decode(cls, name: str, blob: Buffer, *, verify: bool = True) -> "PackIndex":
        """The index in ``blob`` (bytes, or a mapped file: its arrays are views of it);
        ``verify=False`` skips the checksum (of a file checked before, see
        :meth:`.files.StoreFiles.read_index`), not the checks of its layout."""
        view = memoryview(blob)
        if len(view) < 48 or view[:8] != MAGIC:
            raise IntegrityError(f"pack index {name} is not a hangar pack index")
        body = view[:-32]
        if verify and not checksum_ok(view):
            raise IntegrityError(
                f"pack index {name} is corrupt (checksum mismatch): run `git hangar fsck`")
        (hlen,) = struct.unpack_from("<Q", body, 8)
        try:
            header = json.loads(bytes(body[16:16 + hlen]))
            objects, chunks = int(header["objects"]), int(header["chunks"])
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"pack index {name} is corrupt (bad header): run `git hangar fsck`") from None
        if 16 + hlen + objects * _OBJECT_ROW + chunks * _CHUNK_ROW != len(body):
            raise IntegrityError(f"pack index {name} is corrupt (wrong length): run `git hangar fsck`")
        pos, arrays = 16 + hlen, {}
        for fields, count in ((_OBJECT_FIELDS, objects), (_CHUNK_FIELDS, chunks)):
            for fname, dt in fields:
                arr = np.frombuffer(body, dtype=dt, count=count, offset=pos)
                arrays[fname] = arr
                pos += arr.nbytes
        return cls(name=name, metas=list(header["metas"]), files=list(header["files"]), **arrays)

    def release_pages(self) -> None:
        """Drop the pages of a mapped index file read so far from the process's resident
        size (they stay in the page cache; a later look-up maps them back in). In-memory
        indexes are left as they are."""
        base = self.digests.base
        drop_mapped_pages(getattr(base, "obj", base))

    def age(self) -> float:
        """Seconds since this index was written."""
        return time.time() - self.created

    @property
    def created(self) -> float:
        """When this index was written (seconds since the epoch), from its name."""
        return name_time(self.name)


def _native_view(arr: np.ndarray) -> memoryview:
    """An unsigned integer array as a memoryview of native ints (a copy if it is not native)."""
    native = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    return memoryview(native.data).cast("B").cast("Q" if native.itemsize == 8 else "I")


class Probe:
    """Raw digests to look up in many pack indexes: their 64-bit prefixes sorted once
    (sorting a million queries per pack was most of a big write's freshness checks)."""

    __slots__ = ("prefixes", "order", "sorted_prefixes")

    def __init__(self, raws: np.ndarray) -> None:
        self.prefixes = digest_prefixes(raws)
        self.order = np.argsort(self.prefixes)
        self.sorted_prefixes = self.prefixes[self.order]


def digest_prefixes(raws: np.ndarray) -> np.ndarray:
    """The first 8 bytes of ``S32`` digests as big-endian ``uint64``."""
    as_bytes = np.ascontiguousarray(raws, dtype="S32").view(np.uint8).reshape(-1, 32)
    return np.ascontiguousarray(as_bytes[:, :8]).view(">u8").ravel().astype(np.uint64)


def digest_order(raws: np.ndarray) -> np.ndarray:
    """What ``np.argsort(raws, kind="stable")`` answers for ``S32`` digests, sorting their
    8-byte prefixes as integers (several times faster than comparing 32-byte strings); the
    full digests decide only when two prefixes are equal."""
    prefixes = digest_prefixes(raws)
    order = np.argsort(prefixes, kind="stable")
    if (prefixes[order][1:] == prefixes[order][:-1]).any():
        return np.argsort(raws, kind="stable")
    return order


def found_among(raws: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Which of ``raws`` (``S32``) are in ``among``: a binary search of their 8-byte prefixes,
    then the whole digest compared (an equal prefix hiding another digest reads as not found,
    which costs the caller only a look-up)."""
    if not len(among):
        return np.zeros(len(raws), dtype=bool)
    prefixes = digest_prefixes(among)
    order = np.argsort(prefixes)
    at = np.minimum(np.searchsorted(prefixes[order], digest_prefixes(raws)), len(among) - 1)
    return np.asarray(among[order[at]] == raws, dtype=bool)


def first_occurrences(raws: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each distinct digest of ``raws`` (``S32``), in
    order: all of them when no two share an 8-byte prefix (no repeats, told without
    comparing 32-byte strings)."""
    prefixes = np.sort(digest_prefixes(raws))
    if not (prefixes[1:] == prefixes[:-1]).any():
        return np.arange(len(raws))
    _, first = np.unique(raws, return_index=True)
    return np.sort(first)


def build_index_arrays(name: str, digests: np.ndarray, chunk: np.ndarray, offset: np.ndarray,
                       nbytes: np.ndarray, meta: np.ndarray, metas: list[str],
                       chunks: list[tuple[int, int, int, int, bytes]], files: list[str]) -> PackIndex:
    """A sorted index from column arrays (raw ``S32`` digests, chunk numbers, ...) and
    chunk rows ``(file number, start, compressed length, length, checksum)``."""
    order = digest_order(digests)
    return PackIndex(
        name=name, digests=np.ascontiguousarray(digests[order], dtype="S32"),
        chunk=chunk[order].astype("<u4"), offset=offset[order].astype("<u8"),
        nbytes=nbytes[order].astype("<u8"), meta=meta[order].astype("<u4"),
        chunk_file=np.array([c[0] for c in chunks], dtype="<u4"),
        chunk_start=np.array([c[1] for c in chunks], dtype="<u8"),
        chunk_clen=np.array([c[2] for c in chunks], dtype="<u8"),
        chunk_ulen=np.array([c[3] for c in chunks], dtype="<u8"),
        chunk_sum=np.array([c[4] for c in chunks], dtype="S16") if chunks else np.zeros(0, "S16"),
        metas=metas, files=files)


def merge_indexes(name: str, packs: list[PackIndex]) -> PackIndex:
    """One index equivalent to several (used to keep lookups to few packs)."""
    meta_pos: dict[str, int] = {}
    file_pos: dict[str, int] = {}
    parts: dict[str, list[np.ndarray]] = {f: [] for f, _ in _OBJECT_FIELDS + _CHUNK_FIELDS}
    chunk_base = 0
    for p in packs:
        remap = np.array([meta_pos.setdefault(m, len(meta_pos)) for m in p.metas] or [0], dtype="<u4")
        parts["digests"].append(p.digests)
        parts["chunk"].append(np.where(p.chunk == LARGE, LARGE, p.chunk + chunk_base).astype("<u4"))
        parts["offset"].append(p.offset)
        parts["nbytes"].append(p.nbytes)
        parts["meta"].append(remap[p.meta] if len(p.meta) else p.meta)
        files = np.array([file_pos.setdefault(f, len(file_pos)) for f in p.files] or [0], dtype="<u4")
        for f, _ in _CHUNK_FIELDS:
            parts[f].append(files[p.chunk_file] if f == "chunk_file" and len(p.chunk_file) else getattr(p, f))
        chunk_base += len(p.chunk_start)
    metas = sorted(meta_pos, key=meta_pos.__getitem__)
    arrays = {f: np.concatenate(v) if v else np.zeros(0, dt)
              for (f, dt), v in zip(_OBJECT_FIELDS + _CHUNK_FIELDS, parts.values())}
    del parts
    for p in packs:  # copied: the pages of mapped inputs need not stay resident through the sort
        p.release_pages()
    digests = arrays["digests"]
    order = digest_order(digests)
    keep = np.ones(len(order), dtype=bool)
    if len(order) > 1:  # repeats (the first kept) lie side by side; whole digests compared where prefixes are equal
        prefixes = digest_prefixes(digests)[order]
        same = np.flatnonzero(prefixes[1:] == prefixes[:-1])
        keep[same + 1] = digests[order[same + 1]] != digests[order[same]]
        del prefixes
    order = order[keep]
    for f, _ in _OBJECT_FIELDS:
        arrays[f] = arrays[f][order]
    return PackIndex(name=name, metas=metas, files=sorted(file_pos, key=file_pos.__getitem__), **arrays)


def new_name(at: float | None = None) -> str:
    """A fresh pack (or index) name: creation time in ms, then random hex, so names never
    collide between writers and gc can tell their age."""
    # ``random`` is seeded from the OS per process and re-seeded in forked children; an OS
    # read per name (uuid4) cost ~1 ms each under load here
    return f"{int((time.time() if at is None else at) * 1000):013d}-{random.getrandbits(64):016x}"


def name_time(name: str) -> float:
    """The creation time a name records (0.0, the distant past, if it records none)."""
    head = name.split("-", 1)[0]
    return int(head) / 1000 if head.isdigit() and len(head) == 13 else 0.0
