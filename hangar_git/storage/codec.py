"""How the store encodes bytes on disk: blosc2 compression and chunk checksums."""
from __future__ import annotations

import hashlib
import struct

import blosc2
import numpy as np

from .objects import Buffer

UNDECODABLE = (RuntimeError, ValueError, SystemError, struct.error)
"""How blosc2 and struct report damaged input."""


def compress(data: Buffer, typesize: int) -> bytes:
    """blosc2 (LZ4, bit-shuffle by item size for multi-byte items)."""
    if memoryview(data).nbytes % typesize:  # blosc2 takes whole items only (mixed chunks, probes)
        typesize = 1
    return blosc2.compress(data, typesize=typesize, clevel=5, codec=blosc2.Codec.LZ4,
                           filter=blosc2.Filter.BITSHUFFLE if typesize > 1 else blosc2.Filter.NOFILTER)


def typesize(meta: str) -> int:
    """The item size blosc2 should shuffle by for objects of this meta."""
    if meta.startswith("nd:"):
        dt = np.dtype(meta.split(":")[1])
        return dt.itemsize if dt.itemsize <= 16 else 1
    return 1


def checksum(data: Buffer) -> bytes:
    """A chunk's checksum (the first 16 bytes of its SHA-256)."""
    return hashlib.sha256(data).digest()[:16]
