"""Objects that arrive in parts: samples too big for one frame, kept as they come."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import IntegrityError, ProtocolError
from .objects import Buffer, Digest, Meta, ObjectBatch, digest_hasher, digests_to_raw, raw_to_digest


class IncomingObject:
    """A large object received part by part, in order.

    Each part goes to :meth:`hash` (the digest's incremental hasher, fed in
    order; callers may run it on another thread than :meth:`add`, one part
    at a time) and to :meth:`add`, which keeps it; :meth:`finish` checks the
    whole object against its digest and returns what the store's
    ``commit_batch`` keeps; nothing is kept before that. This one holds the
    parts in memory; stores override :meth:`_write`, :meth:`_staged` and
    :meth:`discard` to keep them elsewhere.
    """

    def __init__(self, digest: Digest, meta: Meta, size: int) -> None:
        self.digest, self.meta, self.size = digest, meta, size
        self.received = 0
        self.hashed = 0
        self.kept = False
        """True once :meth:`finish` found the object whole and matching its digest."""
        self._hasher = digest_hasher(meta)
        self._parts: list[bytes] = []

    def _check_next(self, done: int, offset: int, data: Buffer) -> int:
        n = memoryview(data).nbytes
        if offset != done or not 0 < n <= self.size - offset:
            raise ProtocolError(f"object {self.digest}: a part at byte {offset} of {n} bytes does not "
                                f"follow the {done} of {self.size} bytes received")
        return n

    def hash(self, offset: int, data: Buffer) -> None:
        """Feed the part at ``offset`` (the next one to hash) to the digest."""
        n = self._check_next(self.hashed, offset, data)
        self._hasher.update(data)
        self.hashed += n

    def add(self, offset: int, data: Buffer) -> bool:
        """Keep the part at ``offset`` (the next one); True once the object is complete."""
        n = self._check_next(self.received, offset, data)
        self._write(data)
        self.received += n
        return self.received == self.size

    def finish(self) -> Any:
        """Check the complete object's digest (IntegrityError, and it is dropped) and return
        what ``commit_batch`` keeps."""
        got = raw_to_digest(self._hasher.digest())
        if self.received != self.size or self.hashed != self.size or got != self.digest:
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
