"""One pack written as a peer's objects arrive, frame after frame.

A push brings its records in frames; a server that packed each frame on its own after
reading all of it left the last frame's packing (and, with large frames, most of a push's
objects) to be done after the client had sent everything, while it waited for the ref
update. Written as they arrive into one pack, the objects of small frames cost the same
as before and the work left at the end is the last frame and the index. Like
:func:`~.packwriter.write_pack`, the pack goes under a temporary name and is renamed into
``objects/pack/`` with its index last, so git never sees a partial pack; on any error
(:meth:`PackStream.abort`, or leaving the ``with`` block by an exception) nothing is kept.
"""
from __future__ import annotations

import hashlib
import os
import struct
import zlib
from types import TracebackType
from typing import Optional, Sequence

from ..fileio import move_into_place, temp_name, write_atomic
from ..storage.identity import hex_of, raw_of
from .packwriter import compress_all, encode_index, entry_header, maybe_gc

_REHASH_PIECE = 1 << 20


class PackStream:
    """A pack of ``count`` objects (the peer's word: a different number of objects is
    still packed correctly, at the cost of reading the pack again once), written as
    :meth:`add` receives them; :meth:`finish` publishes it."""

    def __init__(self, git_dir: str, count: int, level: int, durable: bool = False) -> None:
        self.git_dir, self.level, self.durable = git_dir, level, durable
        self.folder = os.path.join(git_dir, "objects", "pack")
        os.makedirs(self.folder, exist_ok=True)
        self.tmp = temp_name(os.path.join(self.folder, "incoming.pack"))
        self.expected = count
        self.entries: list[tuple[bytes, int, int]] = []
        self.seen: set[str] = set()
        self.sha = hashlib.sha1()
        self.fh = open(self.tmp, "wb")
        self.offset = 0
        self._write(b"PACK" + struct.pack(">II", 2, count))

    def __enter__(self) -> "PackStream":
        return self

    def __exit__(self, kind: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if exc is not None:
            self.abort()

    def _write(self, data: bytes) -> None:
        self.fh.write(data)
        self.sha.update(data)
        self.offset += len(data)

    def add(self, objects: Sequence[tuple[str, int, bytes]]) -> None:
        """Append checked ``(oid, type, data)`` objects (one already added is skipped)."""
        new = []
        for obj in objects:
            if obj[0] not in self.seen:
                self.seen.add(obj[0])
                new.append(obj)
        for (oid, obj_type, data), deflated in zip(new, compress_all([o[2] for o in new], self.level)):
            header = entry_header(obj_type, len(data))
            self.entries.append((raw_of(oid), zlib.crc32(deflated, zlib.crc32(header)), self.offset))
            self._write(header)
            self._write(deflated)

    def finish(self) -> Optional[str]:
        """Publish the pack; its path (without extension), or None when it holds no object."""
        if not self.entries:
            self.abort()
            return None
        if len(self.entries) != self.expected:
            self._recount()
        checksum = self.sha.digest()
        self.fh.write(checksum)
        self.fh.flush()
        if self.durable:
            os.fsync(self.fh.fileno())
        self.fh.close()
        base = os.path.join(self.folder, f"pack-{hex_of(checksum)}")
        index = encode_index(self.entries, self.offset, checksum)
        try:
            move_into_place(self.tmp, base + ".pack")
            # last: git finds packs by their index; durable, it fsyncs the folder (both renames)
            write_atomic(base + ".idx", index, durable=self.durable)
        except BaseException:
            self.abort()
            raise
        maybe_gc(self.git_dir, self.folder)
        return base

    def _recount(self) -> None:
        """Write the true object count into the header and hash the pack again."""
        self.fh.seek(8)
        self.fh.write(struct.pack(">I", len(self.entries)))
        self.fh.flush()
        self.sha = hashlib.sha1()
        with open(self.tmp, "rb") as fh:
            while piece := fh.read(_REHASH_PIECE):
                self.sha.update(piece)
        self.fh.seek(0, os.SEEK_END)

    def abort(self) -> None:
        """Drop what was written (nothing of it is seen by git)."""
        self.fh.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass
