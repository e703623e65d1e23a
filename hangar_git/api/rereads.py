"""Which rows this process has read before: rows a streaming checkout reads from the shared
directory cache are copied into its memory cache only once it reads them again.

Reading from the directory cache re-hashes every row (about twice a local read's cost), and
copying each row into memory on its first read costs a DataLoader's new workers, which read
each row once, more than it saves them. A process that reads the same rows again (a second
epoch in one process, persistent workers) is told apart by a bitmap over the digests' first
8 bytes: a row whose bit is set was (almost surely) read here before. 2^23 bits (1 MB) keep
false repeats rare (a million rows set 12% of them): a false one only costs a copy.
"""
from __future__ import annotations

import numpy as np

BITS = 1 << 23


class RereadMarks:
    """The rows (by raw digest) read before in this process, approximately (no misses)."""

    def __init__(self) -> None:
        self._bits = np.zeros(BITS // 8, dtype=np.uint8)

    def seen_before(self, raws: np.ndarray) -> np.ndarray:
        """For each raw digest (``S32``): whether it was marked before; all are marked now."""
        if not len(raws):
            return np.zeros(0, dtype=bool)
        slot = np.frombuffer(np.ascontiguousarray(raws).tobytes(), dtype="<u8")[::4] % BITS
        byte, bit = (slot >> 3).astype(np.int64), (slot & 7).astype(np.uint8)
        seen = (self._bits[byte] >> bit) & 1
        np.bitwise_or.at(self._bits, byte, np.left_shift(1, bit, dtype=np.uint8))
        return seen.astype(bool)
