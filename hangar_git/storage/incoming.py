"""Objects that arrive in parts: samples too big for one frame, kept as they come."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import IntegrityError, ProtocolError
from .objects import Buffer, Digest, Meta, ObjectBatch, digest_of_blocks, digests_to_raw


class IncomingObject:
    """A large object received part by part, in order.

    :meth:`add` keeps each part with its blocks' hashes (from
    :func:`~hangar_git.storage.objects.block_hashes`, which callers may run
    on any thread); :meth:`finish` checks the whole object against its
    digest and returns what the store's ``commit_batch`` keeps; nothing is
    kept before that. This one holds the parts in memory; stores override
    :meth:`_write`, :meth:`_staged` and :meth:`discard` to keep them elsewhere.
    """

    def __init__(self, digest: Digest, meta: Meta, size: int) -> None:
        self.digest, self.meta, self.size = digest, meta, size
        self.received = 0
        self.kept = False
        """True once :meth:`finish` found the object whole and matching its digest."""
        self._hashes: list[bytes] = []
        self._parts: list[bytes] = []

    def add(self, offset: int, data: Buffer, hashes: list[bytes]) -> bool:
        """Keep the part at ``offset`` (the next one); True once the object is complete."""
        n = memoryview(data).nbytes
        if offset != self.received or not 0 < n <= self.size - offset:
            raise ProtocolError(f"object {self.digest}: a part at byte {offset} of {n} bytes does not "
                                f"follow the {self.received} of {self.size} bytes received")
        self._write(data)
        self._hashes += hashes
        self.received += n
        return self.received == self.size

    def finish(self) -> Any:
        """Check the complete object's digest (IntegrityError, and it is dropped) and return
        what ``commit_batch`` keeps."""
        got = digest_of_blocks(self.meta, self._hashes)
        if self.received != self.size or got != self.digest:
            self.discard()
            raise IntegrityError(f"object {self.digest} is corrupt: its bytes hash to {got}",
                                 expected=self.digest, got=got)
        self.kept = True
        return self._staged()

    def batch(self, data: Buffer = b"") -> ObjectBatch:
        """This object as a batch of one (``data`` may be left empty when kept elsewhere)."""
        return ObjectBatch(digests_to_raw([self.digest]), [self.meta], np.zeros(1, dtype=np.int64),
                           np.array([self.size], dtype=np.int64), memoryview(data))

    def _write(self, data: Buffer) -> None:
        self._parts.append(bytes(data))

    def _staged(self) -> Any:
        return self.batch(b"".join(self._parts))

    def discard(self) -> None:
        """Drop what was received."""
        self._parts.clear()
