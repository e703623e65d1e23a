"""The index records of a directory cache's packs (:mod:`.packcache`): their format, how they
are parsed and made, and which cache a newly opened one starts its index from.

Each ``<name>.idx`` holds one :data:`RECORD` per object of ``<name>.pack``: its raw digest, its
offset in the pack, and the lengths of its meta and bytes. A cache opened on a folder in a
process that already has one open there, or whose parent had (a DataLoader worker that
reopens its checkout after the fork), starts from that one's index: it reads only what was
appended to the index files since, not every record again.
"""
from __future__ import annotations

import weakref
from itertools import repeat
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

import numpy as np

from .identity import hex_of, raw_of

if TYPE_CHECKING:
    from .packcache import PackCache

RECORD = np.dtype([("raw", "S32"), ("offset", "<u8"), ("meta", "<u4"), ("size", "<u8")])
"""One index record (52 bytes, packed)."""
Location = tuple[str, int, int, int]  # pack name, offset, meta length, data length
_LATEST: dict[str, "weakref.ref[PackCache]"] = {}
"""The cache last opened on each folder in this process (or in the parent it was forked from)."""


def parse(name: str, raw: bytes) -> tuple[list[str], Iterator[Location], int]:
    """(hex digests, their locations in pack ``name``, bytes taken) of the whole records at the
    start of ``raw`` (a record being written is left for the next look)."""
    whole = len(raw) - len(raw) % RECORD.itemsize
    records = np.frombuffer(raw[:whole], dtype=RECORD)
    text = hex_of(records["raw"].tobytes())
    digests = [text[i:i + 64] for i in range(0, len(text), 64)]
    return digests, zip(repeat(name), records["offset"].tolist(), records["meta"].tolist(),
                        records["size"].tolist()), whole


def make(digests: Sequence[str], starts: list[int], metas: list[int], sizes: list[int]) -> bytes:
    """The records of objects appended to a pack at ``starts``, with their meta and data lengths."""
    records = np.zeros(len(digests), dtype=RECORD)
    records["raw"] = np.frombuffer(raw_of("".join(digests)), dtype="S32")
    records["offset"], records["meta"], records["size"] = starts, metas, sizes
    return records.tobytes()


def latest(path: str, opened: "PackCache") -> Optional["PackCache"]:
    """The cache opened on folder ``path`` before ``opened`` (in this process or the parent it
    was forked from) if it is still alive; ``opened`` is the latest from now on."""
    known = _LATEST.get(path)
    _LATEST[path] = weakref.ref(opened)
    return known() if known is not None else None


__all__ = ["Location", "RECORD", "latest", "make", "parse"]
