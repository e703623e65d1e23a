"""Batch encodings shared by both ends: git objects and sample data in frames.

PROTOCOL FORMAT IS PERMANENT (protocol 2: digests are BLAKE3, stated as
``"digest": "blake3"`` in both ends' ``hello``). A batch frame's header lists
what its payload holds, in order; the payload is the concatenation:

* ``objects`` frames: ``{"oids": [...], "types": [...], "sizes": [...]}``
* ``data`` frames: ``{"count": n, "metas": [distinct metas], "meta_index":
  [per object, only when there are several metas], "size": s | "sizes":
  [...]}``; the payload starts with the ``n`` raw 32-byte digests, then the
  objects' bytes. Binary digests keep headers small, so one frame carries
  up to ``MAX_DATA_ITEMS`` small samples (one verified, durable batch).
* ``part`` frames: one piece of an object too big for one frame:
  ``{"digest": hex, "meta": m, "size": total, "offset": o}``, the payload its
  bytes from ``o``. Only objects over ``LARGE_OBJECT`` go in parts; an
  object's parts come in order, back to back, none empty, of any length
  (the receiver feeds each to the digest as it arrives). Sent only to
  peers that say they take them
  (``"data_parts": 1`` in a server's ``hello``, ``"parts": 1`` in a client's
  ``get_data``).
* ``get_data`` requests: ``{"count": n}`` with ``n`` raw digests as payload.

Receivers check counts, sizes against the payload, and every id against
its content before keeping anything.
"""
from __future__ import annotations

import re
from typing import Any, Iterator, NamedTuple, Sequence

import numpy as np

from ..errors import HangarError, ProtocolError
from ..storage import Digest, Meta, ObjectBatch, digests_to_raw, parse_meta, raws_to_digests
from .framing import DEFAULT_MAX_PAYLOAD

MAX_BATCH_ITEMS = 8192
MAX_DATA_ITEMS = 65536
MAX_METAS = 1024
BATCH_BYTES = 8 << 20
PUSH_OBJECTS_BYTES = 1 << 20
"""Frames of a push's git objects, to a server that packs them as they arrive (its hello's
``"objects_stream"``): what it has left to pack once the client has sent everything."""
LARGE_OBJECT = 1 << 20
LARGE_BATCH_BYTES = 16 << 20
"""Frames of large objects carry several, so the receiver writes them in parallel."""
PART_BYTES = 16 << 20
"""Objects bigger than this travel in parts of this size (to peers that take parts)."""
MAX_PART_OBJECT = 1 << 40
"""The biggest object a receiver takes in parts."""
MAX_WHOLE_OBJECT = DEFAULT_MAX_PAYLOAD - 32
"""The biggest object one ``data`` frame can carry (with its digest)."""
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX_RUN = re.compile(r"[0-9a-f]*")
_META = re.compile(r"^(str|bytes|nd:[<>|=]?[a-zA-Z]\d*(\[\w+\])?:[\d,]*)$")


def check_oids(values: Any, what: str = "oids") -> list[str]:
    if not isinstance(values, list) or len(values) > 4 * MAX_BATCH_ITEMS:
        raise ProtocolError(f"bad {what} list")
    if not _all_hex(values, 40):
        bad = next(v for v in values if not (isinstance(v, str) and _HEX40.match(v)))
        raise ProtocolError(f"bad git object id in {what}: {bad!r:.80}")
    return values


def _all_hex(values: list[Any], width: int) -> bool:
    """True when every value is a str of ``width`` lowercase hex digits (one regex pass)."""
    if not all(type(v) is str and len(v) == width for v in values):
        return False
    return _HEX_RUN.fullmatch("".join(values)) is not None


def check_digests(values: Any) -> list[str]:
    if not isinstance(values, list) or len(values) > 4 * MAX_BATCH_ITEMS:
        raise ProtocolError("bad digest list")
    if not _all_hex(values, 64):
        bad = next(v for v in values if not (isinstance(v, str) and _HEX64.match(v)))
        raise ProtocolError(f"bad digest: {bad!r:.80}")
    return values


def check_metas(values: Any, count: int) -> list[str]:
    if not isinstance(values, list) or len(values) != count:
        raise ProtocolError("bad meta list")
    for v in values:
        if not isinstance(v, str):
            raise ProtocolError(f"bad object meta: {v!r:.80}")
    for v in set(values):  # a batch mostly repeats one meta: check each distinct one once
        if len(v) > 300 or not _META.match(v):
            raise ProtocolError(f"bad object meta: {v!r:.80}")
    return values


def encode_data(digests: Sequence[str], metas: Sequence[str], sizes: Sequence[int],
                body: Any) -> tuple[dict[str, Any], bytes]:
    """Header and payload of a ``data`` frame.

    ``body`` is the objects' bytes in order: one buffer, or a list of
    buffers (joined once, with the digests, into the payload).
    """
    header, parts = encode_data_parts(digests, metas, sizes, body)
    return header, b"".join(parts)


def encode_data_parts(digests: Sequence[str], metas: Sequence[str], sizes: Sequence[int],
                      body: Any) -> tuple[dict[str, Any], list[Any]]:
    """Like :func:`encode_data`, the payload left as a list of buffers (sent without a join)."""
    table = list(dict.fromkeys(metas))
    header: dict[str, Any] = {"count": len(digests), "metas": table}
    if len(table) > 1:
        position = {m: i for i, m in enumerate(table)}
        header["meta_index"] = [position[m] for m in metas]
    if sizes and all(s == sizes[0] for s in sizes):
        header["size"] = int(sizes[0])
    else:
        header["sizes"] = [int(s) for s in sizes]
    parts = body if isinstance(body, list) else [body]
    return header, [digests_to_raw(digests).tobytes(), *parts]


def encode_data_table(raws: np.ndarray, table: Sequence[str], meta_index: np.ndarray, sizes: np.ndarray,
                      body: Any) -> tuple[dict[str, Any], list[Any]]:
    """Like :func:`encode_data_parts`, from raw digests (``S32``) and metas as a table
    (object ``i``'s is ``table[meta_index[i]]``): no per-object Python on the common path
    of one meta and one size."""
    used, local = np.unique(meta_index, return_inverse=True)
    header: dict[str, Any] = {"count": len(raws), "metas": [table[i] for i in used.tolist()]}
    if len(used) > 1:
        header["meta_index"] = local.reshape(-1).tolist()
    if len(sizes) and (sizes == sizes[0]).all():
        header["size"] = int(sizes[0])
    else:
        header["sizes"] = sizes.tolist()
    parts = body if isinstance(body, list) else [body]
    return header, [np.ascontiguousarray(raws, dtype="S32").tobytes(), *parts]


def encode_digest_list(digests: Sequence[str]) -> tuple[dict[str, Any], bytes]:
    """A request naming many objects: ``{"count": n}`` and their raw digests."""
    return {"count": len(digests)}, digests_to_raw(digests).tobytes()


def decode_raw_digests(header: dict[str, Any], payload: Any, limit: int = MAX_DATA_ITEMS) -> np.ndarray:
    """The raw digests (``S32``) of a binary digest list (of at most ``limit``)."""
    count = header.get("count")
    if type(count) is not int or not 0 <= count <= limit or len(payload) != 32 * count:
        raise ProtocolError("bad digest list: count does not match the payload")
    return np.frombuffer(payload, dtype="S32") if count else np.zeros(0, dtype="S32")


def decode_digest_list(header: dict[str, Any], payload: Any) -> list[Digest]:
    """The hex digests of a binary digest list."""
    return raws_to_digests(decode_raw_digests(header, payload))


class Part(NamedTuple):
    """One piece of an object sent in parts (validated, not yet verified)."""

    digest: Digest
    meta: Meta
    size: int
    offset: int
    data: memoryview

    @property
    def last(self) -> bool:
        return self.offset + len(self.data) == self.size


def encode_part(digest: str, meta: str, size: int, offset: int) -> dict[str, Any]:
    """The header of a ``part`` frame."""
    return {"digest": digest, "meta": meta, "size": size, "offset": offset}


def decode_part(header: dict[str, Any], payload: Any) -> Part:
    """A ``part`` frame, checked against what the protocol allows."""
    digest, meta, size, offset = (header.get(k) for k in ("digest", "meta", "size", "offset"))
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise ProtocolError("bad digest in a part frame")
    meta = check_metas([meta], 1)[0]
    if type(size) is not int or not LARGE_OBJECT < size <= MAX_PART_OBJECT:
        raise ProtocolError(f"bad object size in a part frame: {size!r:.40}")
    try:
        _, dtype, shape = parse_meta(meta)
    except (HangarError, TypeError, ValueError):
        raise ProtocolError(f"bad object meta in a part frame: {meta!r:.80}") from None
    if dtype is not None and int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != size:
        raise ProtocolError(f"a part frame's size {size} does not fit its meta {meta!r}")
    data = memoryview(payload)
    if type(offset) is not int or not 0 <= offset < size or not 0 < len(data) <= size - offset:
        raise ProtocolError("a part frame's offset and length do not fit in its object")
    return Part(Digest(digest), Meta(meta), size, offset, data)


def decode_data(header: dict[str, Any], payload: Any) -> ObjectBatch:
    """The objects of a ``data`` frame (validated against its header, not yet verified)."""
    count = header.get("count")
    if type(count) is not int or not 0 <= count <= MAX_DATA_ITEMS:
        raise ProtocolError("bad data frame count")
    table = header.get("metas")
    if not isinstance(table, list) or not (0 < len(table) or count == 0) or len(table) > MAX_METAS:
        raise ProtocolError("bad meta table")
    check_metas(table, len(table))
    index = header.get("meta_index")
    if count == 0 or index is None:
        if count and len(table) != 1:
            raise ProtocolError("several metas need a meta_index")
        meta_index = np.zeros(count, dtype=np.int64)
    else:
        if (not isinstance(index, list) or len(index) != count
                or not all(type(i) is int and 0 <= i < len(table) for i in index)):
            raise ProtocolError("bad meta_index")
        meta_index = np.array(index, dtype=np.int64)
    size = header.get("size")
    if type(size) is int:
        if size < 0:
            raise ProtocolError("batch sizes do not match its payload")
        sizes = np.full(count, size, dtype=np.int64)
    else:
        sizes = _sizes(header.get("sizes"), count)
    view = memoryview(payload)
    head = 32 * count
    if len(view) < head:
        raise ProtocolError("data frame shorter than its digests")
    if int(sizes.sum()) != len(view) - head:
        raise ProtocolError("batch sizes do not match its payload")
    raws = np.frombuffer(view[:head], dtype="S32") if count else np.zeros(0, dtype="S32")
    return ObjectBatch(raws, table, meta_index, sizes, view[head:])


def _sizes(sizes: Any, count: int) -> np.ndarray:
    if not isinstance(sizes, list) or len(sizes) != count or not all(type(s) is int for s in sizes):
        raise ProtocolError("batch sizes do not match its payload")
    lengths = np.array(sizes, dtype=np.int64) if sizes else np.zeros(0, dtype=np.int64)
    if (lengths < 0).any():
        raise ProtocolError("batch sizes do not match its payload")
    return lengths


def split_payload(sizes: Any, payload: memoryview | bytes, count: int) -> list[memoryview]:
    """Cut a payload by the sizes its header announced (validated)."""
    lengths = _sizes(sizes, count)
    if int(lengths.sum()) != len(payload):
        raise ProtocolError("batch sizes do not match its payload")
    ends = np.cumsum(lengths).tolist()
    view = memoryview(payload)
    return [view[end - n:end] for end, n in zip(ends, sizes)]


def batch_bounds(sizes: Sequence[int] | np.ndarray, max_items: int, max_bytes: int,
                 first_bytes: int = 0) -> list[tuple[int, int]]:
    """(start, end) index ranges of consecutive items within the count and byte limits (an
    item bigger than the byte limit alone in its range); one step per range, not per item.
    With ``first_bytes``, the first range's byte limit is that, and each next one's twice
    the one before, up to ``max_bytes``."""
    ends = np.cumsum(np.asarray(sizes, dtype=np.int64))
    bounds, start, n = [], 0, len(ends)
    limit = min(first_bytes, max_bytes) if first_bytes > 0 else max_bytes
    while start < n:
        before = int(ends[start - 1]) if start else 0
        end = int(np.searchsorted(ends, before + limit, side="right"))
        end = max(start + 1, min(end, start + max_items))
        bounds.append((start, end))
        start = end
        limit = min(2 * limit, max_bytes)
    return bounds


def chunked(seq: Sequence[Any], n: int = MAX_BATCH_ITEMS) -> Iterator[list[Any]]:
    seq = list(seq)
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
