"""How the store encodes bytes on disk: blosc2 compression and chunk checksums.

blosc2 loads on the first compression or decompression (it costs about 0.2 s to
import, which commands that never touch sample bytes, such as ``status``, skip).
"""
from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np

from .objects import Buffer

UNDECODABLE = (RuntimeError, ValueError, SystemError, struct.error)
"""How blosc2 and struct report damaged input."""


def _blosc2() -> Any:
    import blosc2
    return blosc2


def compress(data: Buffer, typesize: int) -> bytes:
    """blosc2 (LZ4, bit-shuffle by item size for multi-byte items)."""
    if memoryview(data).nbytes % typesize:  # blosc2 takes whole items only (mixed chunks, probes)
        typesize = 1
    blosc2 = _blosc2()
    return blosc2.compress(data, typesize=typesize, clevel=5, codec=blosc2.Codec.LZ4,
                           filter=blosc2.Filter.BITSHUFFLE if typesize > 1 else blosc2.Filter.NOFILTER)


def decompress(data: Buffer) -> bytes:
    """What :func:`compress` made, back (one of :data:`UNDECODABLE` if it is damaged)."""
    return _blosc2().decompress(data)


_MEMCPYED, _SHUFFLE_BITS = 0x02, 0x05
"""blosc2 header flags: the bytes follow the header as they are; both shuffles set: a 32-byte header."""


def stored_plain(header: Buffer, clen: int, ulen: int) -> int:
    """Where the bytes of a stored chunk of ``clen`` bytes (``ulen`` once decompressed)
    start in it when blosc2 kept them as they are (incompressible data), else -1.

    Read from the chunk's blosc2 header (its first 16 bytes: version, flags,
    lengths); bytes read this way must still be verified against their digests.
    """
    head = memoryview(header)
    if len(head) < 16 or not head[2] & _MEMCPYED:
        return -1
    nbytes, cbytes = struct.unpack_from("<I4xI", head, 4)
    start = 32 if head[2] & _SHUFFLE_BITS == _SHUFFLE_BITS else 16
    return start if nbytes == ulen and cbytes == clen == ulen + start else -1


def typesize(meta: str) -> int:
    """The item size blosc2 should shuffle by for objects of this meta."""
    if meta.startswith("nd:"):
        dt = np.dtype(meta.split(":")[1])
        return dt.itemsize if dt.itemsize <= 16 else 1
    return 1


def checksum(data: Buffer) -> bytes:
    """A chunk's checksum (the first 16 bytes of its SHA-256)."""
    return hashlib.sha256(data).digest()[:16]
