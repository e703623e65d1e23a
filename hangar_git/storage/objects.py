"""Content addressing: how a sample becomes (meta, bytes) and gets its digest.

RECORD FORMAT IS PERMANENT. A digest names an object forever, in every
clone. It is the SHA-256 of the object's *meta string* (kind, dtype and
shape), a NUL byte, and then either the raw bytes (objects up to
``BLOCK_SIZE``) or the concatenated SHA-256 of each ``BLOCK_SIZE`` block
(larger objects: a one-level hash tree, so big arrays hash on all cores).
The meta string fixes the byte length, so the two forms never collide.

Meta strings:
  ``nd:<numpy dtype.str>:<d0,d1,...>``   C-ordered array bytes
  ``str``                                 UTF-8 text
  ``bytes``                               raw bytes
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import NewType, Sequence, Union

import numpy as np

from ..errors import IntegrityError, SchemaError

Digest = NewType("Digest", str)
"""64 lowercase hex digits of a content digest."""

Meta = NewType("Meta", str)
Value = Union[np.ndarray, str, bytes]
Buffer = Union[bytes, bytearray, memoryview]

BLOCK_SIZE = 1 << 20
_sha256 = hashlib.sha256
_pool: ThreadPoolExecutor | None = None


def hash_pool() -> ThreadPoolExecutor:
    """Threads for hashing big objects (hashlib releases the GIL)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hangar-hash")
    return _pool


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
    """Digest of an object's meta string and bytes."""
    view = memoryview(data).cast("B")
    if view.nbytes <= BLOCK_SIZE:
        h = _sha256(meta.encode())
        h.update(b"\0")
        h.update(view)
        return Digest(h.hexdigest())
    return digest_of_blocks(meta, block_hashes(view))


def block_hashes(data: Buffer) -> list[bytes]:
    """SHA-256 of each ``BLOCK_SIZE`` block of ``data`` (on all cores when there are several)."""
    view = memoryview(data).cast("B")
    blocks = [view[i:i + BLOCK_SIZE] for i in range(0, view.nbytes, BLOCK_SIZE)]
    if len(blocks) > 1:
        return list(hash_pool().map(lambda b: _sha256(b).digest(), blocks))
    return [_sha256(b).digest() for b in blocks]


def digest_of_blocks(meta: str, hashes: Sequence[bytes]) -> Digest:
    """Digest of an object over ``BLOCK_SIZE`` from its meta and its blocks' hashes, in order."""
    h = _sha256(meta.encode())
    h.update(b"\0")
    for part in hashes:
        h.update(part)
    return Digest(h.hexdigest())


_HEX = np.zeros(256, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i


def digests_to_raw(digests: Sequence[str]) -> np.ndarray:
    """Hex digests as one ``S32`` array of raw digests (vectorised)."""
    if not digests:
        return np.zeros(0, dtype="S32")
    nib = _HEX[np.frombuffer("".join(digests).encode("ascii"), dtype=np.uint8).reshape(-1, 64)]
    raw = (nib[:, 0::2] << 4) | nib[:, 1::2]
    return np.ascontiguousarray(raw).view("S32").ravel()


def raw_to_digest(raw: Union[bytes, np.bytes_]) -> Digest:
    """One raw digest as hex (numpy ``S32`` scalars drop trailing zero bytes: padded back)."""
    return Digest(bytes(raw).ljust(32, b"\0").hex())


def raws_to_digests(raws: np.ndarray) -> list[Digest]:
    """An ``S32`` array of raw digests as hex digests."""
    text = np.ascontiguousarray(raws, dtype="S32").tobytes().hex()
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
        return Digest(self.raws[i:i + 1].tobytes().hex())

    def digests(self) -> list[Digest]:
        """Every digest (hex), in order."""
        text = self.raws.tobytes().hex()
        return [Digest(text[i:i + 64]) for i in range(0, len(text), 64)]

    def meta(self, i: int) -> Meta:
        """Object ``i``'s meta string."""
        return Meta(self.metas[int(self.meta_index[i])])

    def part(self, i: int) -> memoryview:
        """Object ``i``'s bytes (a view into ``data``)."""
        start = int(self.starts[i])
        return self.data[start:start + int(self.sizes[i])]


def verify_batch(batch: ObjectBatch) -> None:
    """Verify every object of a batch (IntegrityError on the first mismatch)."""
    prefixes = [_sha256(m.encode() + b"\0") for m in batch.metas]
    expected, data = batch.raws.tobytes(), batch.data
    for i, (start, size, m) in enumerate(zip(batch.starts.tolist(), batch.sizes.tolist(),
                                             batch.meta_index.tolist())):
        part = data[start:start + size]
        if size > BLOCK_SIZE:
            verify(batch.digest(i), batch.metas[m], part)
            continue
        h = prefixes[m].copy()
        h.update(part)
        if h.digest() != expected[32 * i:32 * i + 32]:
            verify(batch.digest(i), batch.metas[m], part)  # raises with the facts


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
            f"object {digest} is corrupt: its bytes hash to {got}. Run "
            f"`git hangar fsck` and fetch the object again from a remote",
            expected=digest, got=got)


SUPPORTED_DTYPE_KINDS = frozenset("biufcmMSU")


def check_dtype_supported(dtype: np.dtype) -> None:
    """Reject dtypes that cannot be stored as plain bytes (object, structured)."""
    if dtype.kind not in SUPPORTED_DTYPE_KINDS or dtype.fields is not None:
        raise SchemaError(
            f"dtype {dtype} cannot be stored: use a numeric, bool, datetime, "
            f"fixed-width bytes or fixed-width str dtype",
            expected="numeric/bool/datetime/S/U dtype", given=str(dtype))
