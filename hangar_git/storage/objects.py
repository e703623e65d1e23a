"""Content addressing: how a sample becomes (meta, bytes) and gets its digest.

RECORD FORMAT IS PERMANENT. A digest names an object forever, in every
clone. It is the BLAKE3-256 hash of the object's *meta string* (kind,
dtype and shape), a NUL byte, and the object's bytes: one form for every
size (BLAKE3 is a tree hash inside, so there is no block form to choose).
Commit trees name the algorithm (``hangar.json``, see
:mod:`hangar_git.bookkeeping.records`); so does the protocol's ``hello``.
Hashing is single-threaded: BLAKE3's multithreaded mode runs on a native
thread pool that a forked child inherits without its threads.

Meta strings:
  ``nd:<numpy dtype.str>:<d0,d1,...>``   C-ordered array bytes
  ``str``                                 UTF-8 text
  ``bytes``                               raw bytes

Raw digests (32 bytes; ``S32`` arrays) and hex digests are converted here
and nowhere else: :func:`digests_to_raw`, :func:`raw_to_digest`,
:func:`raws_to_digests`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NewType, Sequence, Union

import numpy as np
from blake3 import blake3

from ..errors import IntegrityError, SchemaError
from .identity import DIGEST_SIZE, Digest, hex_of, raw_of
from .rowhash import BLOCK_LEN, line_digests

Meta = NewType("Meta", str)
Value = Union[np.ndarray, str, bytes]
Buffer = Union[bytes, bytearray, memoryview]


ROW_LINE_MAX = 4096
"""Rows up to this many bytes are copied behind their meta prefix and hashed one line each
(the copy costs less than a second hasher call per row; :func:`digest_rows`)."""
ROW_BLOCK_BYTES = 4 << 20
"""How many bytes of prefixed lines :func:`digest_rows` lays out at a time."""
SHORT_ROWS_BLOCK = 1 << 14
"""Rows hashed at a time in numpy when their prefixed lines fit one BLAKE3 block (the
state's arrays stay in the cache)."""


@lru_cache(maxsize=1024)
def _prefix(meta: str) -> blake3:
    """A hasher fed ``meta`` and its NUL (never updated: callers copy it)."""
    return blake3(meta.encode() + b"\0")


def digest_hasher(meta: str) -> blake3:
    """An incremental hasher of an object with this meta: feed its bytes in order,
    then ``raw_to_digest(h.digest())``."""
    return _prefix(meta).copy()


def ndarray_meta(dtype: np.dtype, shape: tuple[int, ...]) -> Meta:
    """Meta string of an array with this dtype and shape."""
    return Meta(f"nd:{dtype.str}:{','.join(map(str, shape))}")


def parse_meta(meta: str) -> tuple[str, np.dtype | None, tuple[int, ...]]:
    """Split a meta string into (kind, dtype, shape)."""
    if meta == "str" or meta == "bytes":
        return meta, None, ()
    kind, dtype, shape = meta.split(":")
    if kind != "nd":
        raise IntegrityError(f"unknown object kind in meta {meta!r}")
    dims = tuple(int(d) for d in shape.split(",")) if shape else ()
    return kind, np.dtype(dtype), dims


def digest_of(meta: str, data: Buffer) -> Digest:
    """Digest of an object's meta string and bytes (any C-contiguous buffer, e.g. an array)."""
    h = _prefix(meta).copy()
    try:
        h.update(data)
    except BufferError:  # an array's buffer: its bytes (a view with a zero in its shape cannot cast)
        view = memoryview(data)
        h.update(view.cast("B") if view.nbytes else b"")
    return Digest(h.digest().hex())  # inline (hex_of costs a call per sample); twice blake3's hexdigest()


def matches(meta: str, data: Buffer, raw: bytes) -> bool:
    """True when an object's meta and bytes hash to the raw digest ``raw``."""
    h = _prefix(meta).copy()
    h.update(data)
    return h.digest() == raw


def digest_rows(meta: str, rows: np.ndarray) -> np.ndarray:
    """Raw digests (``S32``) of each row of a C-contiguous 2-D ``uint8`` array, each row the
    bytes of one object of ``meta`` (the same digests :func:`digest_of` gives one by one)."""
    count, width = rows.shape
    if not count:
        return np.zeros(0, dtype="S32")
    if width > ROW_LINE_MAX:
        view = np.ascontiguousarray(rows).reshape(-1).data
        return np.frombuffer(_wide_row_digests(meta, view, count, width), dtype="S32")
    head = np.frombuffer(meta.encode() + b"\0", dtype=np.uint8)
    line = len(head) + width
    if line <= BLOCK_LEN:
        return _short_row_digests(head, rows)
    step = max(1, ROW_BLOCK_BYTES // line)
    parts = []
    for lo in range(0, count, step):
        block = rows[lo:lo + step]
        grid = np.empty((len(block), line), dtype=np.uint8)
        grid[:, :len(head)] = head
        grid[:, len(head):] = block
        parts.append(_line_digests(grid.reshape(-1).data, line))
    return np.frombuffer(b"".join(parts), dtype="S32")


def _short_row_digests(head: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """:func:`digest_rows` of rows whose prefixed lines fit one BLAKE3 block: hashed in numpy
    (:mod:`.rowhash`), :data:`SHORT_ROWS_BLOCK` at a time."""
    count, width = rows.shape
    line = len(head) + width
    out = np.empty(count, dtype="S32")
    grid = np.zeros((min(count, SHORT_ROWS_BLOCK), BLOCK_LEN), dtype=np.uint8)
    grid[:, :len(head)] = head
    for lo in range(0, count, SHORT_ROWS_BLOCK):
        block = rows[lo:lo + SHORT_ROWS_BLOCK]
        lines = grid[:len(block)]
        lines[:, len(head):line] = block
        got = line_digests(lines, line)
        if got is None:  # (never seen: the numpy BLAKE3 disagreed with the library)
            got = np.frombuffer(_line_digests(np.ascontiguousarray(lines[:, :line]).reshape(-1).data, line), "S32")
        out[lo:lo + len(block)] = got
    return out


def _line_digests(text: memoryview, line: int) -> bytes:
    """The raw digests, back to back, of each ``line`` bytes of ``text``: the hot loop of
    receiving small rows, kept to three calls per row on one reused hasher."""
    hasher = blake3()
    update, digest, reset = hasher.update, hasher.digest, hasher.reset
    out: list[bytes] = []
    append = out.append
    for start in range(0, len(text), line):
        update(text[start:start + line])
        append(digest())
        reset()
    return b"".join(out)


def _wide_row_digests(meta: str, view: memoryview, count: int, width: int) -> bytes:
    """The raw digests of ``count`` rows of ``width`` bytes back to back in ``view``, each
    hashed in place after its meta prefix (rows this wide are not worth copying)."""
    prefix = meta.encode() + b"\0"
    hasher = blake3()
    update, digest, reset = hasher.update, hasher.digest, hasher.reset
    out: list[bytes] = []
    for start in range(0, count * width, width):
        update(prefix)
        update(view[start:start + width])
        out.append(digest())
        reset()
    return b"".join(out)


def digests_to_raw(digests: Sequence[str]) -> np.ndarray:
    """Hex digests as one ``S32`` array of raw digests (ValueError if one is not hex)."""
    text = "".join(digests)
    if len(text) != 2 * DIGEST_SIZE * len(digests):
        raise ValueError(f"digests are {2 * DIGEST_SIZE} hex digits each; got {len(text)} for {len(digests)}")
    return np.frombuffer(raw_of(text), dtype="S32") if digests else np.zeros(0, dtype="S32")


def line_digests_to_raw(text: bytes) -> np.ndarray:
    """The hex digests that begin the lines of ``text`` (``<64 hex digits>...`` per line, as
    record shards hold them; empty lines skipped) as one ``S32`` array: the digits are picked
    out in one vectorised gather and converted at once (ValueError if a line does not begin
    with 64 hex digits)."""
    buf = np.frombuffer(text, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if len(buf) and buf[-1] != 10:
        ends = np.append(ends, len(buf))
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
    starts, ends = starts[ends > starts], ends[ends > starts]
    if (ends - starts < 2 * DIGEST_SIZE).any():
        raise ValueError("a line is shorter than a hex digest")
    rows = np.lib.stride_tricks.sliding_window_view(buf, 2 * DIGEST_SIZE)[starts] if len(starts) else buf[:0]
    digits = rows.tobytes()  # each line's first 64 bytes, back to back
    raw = raw_of(digits.decode("ascii"))
    if len(raw) != DIGEST_SIZE * len(starts):  # fromhex skips spaces: a digest that held one
        raise ValueError("a line does not begin with a hex digest")
    return np.frombuffer(raw, dtype="S32") if len(starts) else np.zeros(0, dtype="S32")


def digest_to_raw(digest: str) -> bytes:
    """One hex digest as its 32 raw bytes (ValueError if it is not hex)."""
    return bytes.fromhex(digest)


def raw_to_digest(raw: Union[bytes, np.bytes_]) -> Digest:
    """One raw digest as hex (numpy ``S32`` scalars drop trailing zero bytes: padded back)."""
    return Digest(hex_of(bytes(raw).ljust(DIGEST_SIZE, b"\0")))


def raws_to_digests(raws: np.ndarray) -> list[Digest]:
    """An ``S32`` array of raw digests as hex digests."""
    text = hex_of(np.ascontiguousarray(raws, dtype="S32").tobytes())
    return [Digest(text[i:i + 64]) for i in range(0, len(text), 64)]


@dataclass(frozen=True)
class ObjectBatch:
    """Many objects in one buffer, as a data frame carries them.

    ``raws`` are the raw digests (``S32``), ``metas[meta_index[i]]`` is
    object ``i``'s meta, ``sizes[i]`` its length; ``data`` holds the
    objects' bytes back to back. Nothing here is verified yet.
    """

    raws: np.ndarray
    metas: list[str]
    meta_index: np.ndarray
    sizes: np.ndarray
    data: memoryview

    def __len__(self) -> int:
        return len(self.raws)

    @cached_property
    def starts(self) -> np.ndarray:
        """Offset of each object's bytes in ``data``."""
        return np.cumsum(self.sizes) - self.sizes

    def digest(self, i: int) -> Digest:
        """Object ``i``'s digest (hex)."""
        return raw_to_digest(self.raws[i])

    def digests(self) -> list[Digest]:
        """Every digest (hex), in order."""
        return raws_to_digests(self.raws)

    def meta(self, i: int) -> Meta:
        """Object ``i``'s meta string."""
        return Meta(self.metas[int(self.meta_index[i])])

    def part(self, i: int) -> memoryview:
        """Object ``i``'s bytes (a view into ``data``)."""
        start = int(self.starts[i])
        return self.data[start:start + int(self.sizes[i])]


def verify_batch(batch: ObjectBatch) -> None:
    """Verify every object of a batch (IntegrityError on the first mismatch).

    Every object is hashed first, then all digests are compared at once; a batch of one
    meta and one size (a frame of rows) is hashed in the shortest loop.
    """
    n = len(batch)
    if not n:
        return
    sizes = batch.sizes
    if len(batch.metas) == 1 and (sizes == sizes[0]).all():
        width = int(sizes[0])
        rows = np.frombuffer(batch.data, dtype=np.uint8, count=n * width).reshape(n, width)
        got = digest_rows(batch.metas[0], rows).tobytes()
    else:
        got = _mixed_digests(batch)
    expected = np.ascontiguousarray(batch.raws, dtype="S32").view(np.uint64).reshape(n, 4)
    bad = np.flatnonzero((np.frombuffer(got, dtype=np.uint64).reshape(n, 4) != expected).any(axis=1))
    if len(bad):
        i = int(bad[0])
        verify(batch.digest(i), batch.meta(i), batch.part(i))  # raises, with the facts
        raise IntegrityError(f"object {batch.digest(i)} does not match its digest", expected=batch.digest(i))


def _mixed_digests(batch: ObjectBatch) -> bytes:
    """The raw digests, back to back, of a batch's objects under their own metas and sizes."""
    prefixes = [m.encode() + b"\0" for m in batch.metas]
    data = batch.data
    hasher = blake3()
    update, digest, reset = hasher.update, hasher.digest, hasher.reset
    out: list[bytes] = []
    for start, size, m in zip(batch.starts.tolist(), batch.sizes.tolist(), batch.meta_index.tolist()):
        update(prefixes[m])
        update(data[start:start + size])
        out.append(digest())
        reset()
    return b"".join(out)


def decode_value(meta: str, data: Union[bytes, memoryview, np.ndarray]) -> Value:
    """Turn stored bytes back into the sample value (arrays are fresh copies)."""
    if meta == "str":
        return bytes(data).decode("utf-8")
    if meta == "bytes":
        return bytes(data)
    _, dtype, shape = parse_meta(meta)
    assert dtype is not None
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def verify(digest: str, meta: str, data: Buffer) -> None:
    """Raise IntegrityError unless ``data`` hashes to ``digest``."""
    got = digest_of(meta, data)
    if got != digest:
        raise IntegrityError(
            f"object {digest} is corrupt: its bytes hash to {got} (`git hangar fsck` lists all damage)",
            expected=digest, got=got)


SUPPORTED_DTYPE_KINDS = frozenset("biufcmMSU")


def check_dtype_supported(dtype: np.dtype) -> None:
    """Reject dtypes that cannot be stored as plain bytes (object, structured)."""
    if dtype.kind not in SUPPORTED_DTYPE_KINDS or dtype.fields is not None:
        raise SchemaError(
            f"dtype {dtype} cannot be stored: use a numeric, bool, datetime, "
            f"fixed-width bytes or fixed-width str dtype",
            expected="numeric/bool/datetime/S/U dtype", given=str(dtype))
