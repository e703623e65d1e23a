"""A zip archive of stored (uncompressed) members, written straight to a file.

``zipfile`` costs some 35 µs a member (a file object, a header read back, a flush per
member): an .npz export of a million samples took a minute. Here a member is two
``struct`` packs, one CRC and the writes of its bytes; the central directory grows in one
``bytearray``. Archives of more than 65,535 members, or past 4 GiB, get zip64 records,
which ``zipfile`` (and so ``numpy.load``) reads.
"""
from __future__ import annotations

import struct
import zlib
from typing import IO, Union

Buffer = Union[bytes, bytearray, memoryview]

LIMIT = 0xFFFFFFFF
"""Offsets from this on are stored in zip64 extra fields (the classic field then holds
``_MARK``); lowered by tests."""
_MARK = 0xFFFFFFFF
_COUNT_LIMIT = 0xFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_ZIP64_EXTRA = struct.Struct("<HHQ")
_EOCD64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR = struct.Struct("<IIQI")
_EOCD = struct.Struct("<IHHHHIIH")
_UTF8 = 0x800
_DATE = (0 << 11) | (1 << 5) | 1  # 1980-01-01, as zipfile writes for a fixed time
_VERSION = 45  # zip64


class StoredZip:
    """Members added one after the other; :meth:`close` writes the central directory (the
    file itself is the caller's to close)."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.offset = 0
        self.count = 0
        self.central = bytearray()

    def add(self, name: str, head: bytes, head_crc: int, data: Buffer) -> None:
        """A member ``name`` holding ``head`` (whose CRC-32 is ``head_crc``) then ``data``."""
        encoded = name.encode()
        size = len(head) + memoryview(data).nbytes
        if size >= _MARK:
            raise ValueError(f"member {name!r} is 4 GiB or more: write it with zipfile")
        crc = zlib.crc32(data, head_crc)
        write = self.fh.write
        write(_LOCAL.pack(0x04034B50, _VERSION, _UTF8, 0, 0, _DATE, crc, size, size, len(encoded), 0))
        write(encoded)
        write(head)
        write(data)
        extra = b"" if self.offset < LIMIT else _ZIP64_EXTRA.pack(1, 8, self.offset)
        self.central += _CENTRAL.pack(0x02014B50, _VERSION, _VERSION, _UTF8, 0, 0, _DATE, crc, size, size,
                                      len(encoded), len(extra), 0, 0, 0, 0o644 << 16,
                                      self.offset if self.offset < LIMIT else _MARK)
        self.central += encoded
        self.central += extra
        self.offset += _LOCAL.size + len(encoded) + size
        self.count += 1

    def close(self) -> None:
        """Write the central directory and its end records."""
        start, size = self.offset, len(self.central)
        self.fh.write(self.central)
        self.central = bytearray()
        end = start + size
        if self.count >= _COUNT_LIMIT or start >= LIMIT or size >= LIMIT:
            self.fh.write(_EOCD64.pack(0x06064B50, _EOCD64.size - 12, _VERSION, _VERSION, 0, 0,
                                       self.count, self.count, size, start))
            self.fh.write(_LOCATOR.pack(0x07064B50, 0, end, 1))
            count = min(self.count, _COUNT_LIMIT)
            self.fh.write(_EOCD.pack(0x06054B50, 0, 0, count, count, min(size, _MARK), _MARK, 0))
            return
        self.fh.write(_EOCD.pack(0x06054B50, 0, 0, self.count, self.count, size, start, 0))
