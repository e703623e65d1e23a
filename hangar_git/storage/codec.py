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


def typesize(meta: str) -> int:
    """The item size blosc2 should shuffle by for objects of this meta."""
    if meta.startswith("nd:"):
        dt = np.dtype(meta.split(":")[1])
        return dt.itemsize if dt.itemsize <= 16 else 1
    return 1


def checksum(data: Buffer) -> bytes:
    """A chunk's checksum (the first 16 bytes of its SHA-256)."""
    return hashlib.sha256(data).digest()[:16]
