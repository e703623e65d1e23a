"""Where the objects of a column's rows lie in a local store's data files: hints for reads.

A random read by digest costs a binary search of a pack index and four more
lookups in it, each a likely cache miss on a big index. A locations file
answers it with one 16-byte record per row of a column's key index (same
order): where the object's bytes lie in which data file, when its chunk was
stored uncompressed. The object is then sliced from the mapped file and
verified against its BLAKE3 digest, like every direct read; so a hint may be
stale (a gc rewrote the store), damaged or missing without ever giving wrong
bytes: such a read simply takes the store's usual path.

A file is ``HGLOC001`` + ``<count u64><trailer u64>``, then ``count`` records
``<position u64><size u32><file u16><meta u16>`` (little-endian; file
``NOWHERE``: no direct location), then a JSON trailer ``{"files": [...],
"metas": [...]}`` naming data files and metas by number.
"""
from __future__ import annotations

import json
import mmap
import struct
from typing import Any, Callable, Optional

import numpy as np

from .objects import Buffer, Meta, digest_hasher

MAGIC = b"HGLOC001"
_HEADER = struct.Struct("<QQ")
HEAD = len(MAGIC) + _HEADER.size
RECORD = struct.Struct("<QIHH")
NOWHERE = 0xFFFF
"""File number of a row with no direct location (compressed chunk, large object, absent)."""
_DTYPE = np.dtype([("pos", "<u8"), ("size", "<u4"), ("file", "<u2"), ("meta", "<u2")])


def records(count: int) -> np.ndarray:
    """The rows of a locations file to fill in (``file``: ``NOWHERE`` until set)."""
    recs = np.zeros(count, dtype=_DTYPE)
    recs["file"] = NOWHERE
    return recs


def encode_parts(recs: np.ndarray, files: list[str], metas: list[str]) -> list[Buffer]:
    """A locations file of rows from :func:`records`, as buffers to write one after the
    other (the rows are not copied: a million of them are 16 MB)."""
    trailer = json.dumps({"files": files, "metas": metas}).encode()
    return [MAGIC + _HEADER.pack(len(recs), len(trailer)), recs.view(np.uint8).data, trailer]


class Locations:
    """One mapped locations file: :meth:`read` gives a row's verified object, or None."""

    def __init__(self, buf: Any, count: int, files: list[Optional[Any]], metas: list[str]) -> None:
        self._buf, self.count = buf, count
        self._files = files
        self._metas = [Meta(m) for m in metas]
        self._hashers = [digest_hasher(m) for m in metas]
        """Per meta, a hasher fed the meta (copied for each object: the hot path makes no other call)."""

    def read(self, row: int, raw: bytes) -> Optional[tuple[Meta, Buffer]]:
        """Meta and bytes of row ``row`` when its hint holds and they hash to ``raw``, else None."""
        if not 0 <= row < self.count:
            return None
        pos, size, file_no, meta_no = RECORD.unpack_from(self._buf, HEAD + 16 * row)
        if file_no >= len(self._files) or meta_no >= len(self._metas):
            return None
        whole = self._files[file_no]
        if whole is None:
            return None
        data = whole[pos:pos + size]
        h = self._hashers[meta_no].copy()
        h.update(data)
        if h.digest() != raw:
            return None
        return self._metas[meta_no], data


def open_locations(path: str, count: int, mapped: Callable[[str], Optional[Any]]) -> Optional[Locations]:
    """The locations file at ``path`` if it holds ``count`` rows (None if it is missing or
    unreadable); ``mapped(name)`` maps a data file of the store by name (None if it cannot)."""
    try:
        with open(path, "rb") as fh:
            buf = mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return None
    try:
        if buf[:len(MAGIC)] != MAGIC or len(buf) < HEAD:
            return None
        rows, tlen = _HEADER.unpack_from(buf, len(MAGIC))
        if rows != count or len(buf) != HEAD + 16 * rows + tlen:
            return None
        trailer = json.loads(buf[HEAD + 16 * rows:])
        files, metas = list(trailer["files"]), [str(m) for m in trailer["metas"]]
    except (ValueError, KeyError, TypeError):
        return None
    return Locations(buf, count, [mapped(str(name)) for name in files], metas)
