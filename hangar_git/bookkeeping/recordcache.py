"""A local binary copy of shard records, for whole-column scans.

Shards live in git as text (see ``records``), which is what makes them
readable by git tools and comparable by id; inflating and parsing that text
costs about 60 ms per 100,000 records, most of a cold column scan. This cache
keeps each shard, keyed by its immutable blob id, as arrays: the raw 32-byte
digests and the keys (an ``int64`` array when every key is an int).

It is derived data, private to one machine: written beside each shard blob
at commit and on the first scan that misses it, checked by a CRC-32 on every
load (a damaged or torn file is ignored and rewritten from git), safe to
delete at any time, and pruned by ``gc`` once git no longer has the blob. A big write
puts its entries in one bundle file instead of one file each (:mod:`.recordbundles`).

A file is ``HGREC001`` + header ``<count u32><int_keys u8><crc u32><keys_len u64>``
+ ``count`` raw digests + the keys (``count`` little-endian int64, or the
encoded keys joined by ``\\n`` in UTF-8). The CRC covers everything after
the header.
"""
from __future__ import annotations

import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Union

import numpy as np

from ..storage.objects import digests_to_raw
from .derivedfiles import DerivedFiles
from .recordbundles import BUNDLE_MIN, BundleWriter, Bundles
from .records import Key, decode_shard

MAGIC = b"HGREC001"
_HEADER = struct.Struct("<IBIQ")
_DIGEST = np.dtype("S32")


@dataclass(frozen=True)
class ShardBlock:
    """The records of one shard, in shard order: decoded keys and raw digests (``S32``)."""

    keys: list[Key]
    digests: np.ndarray


def block_of(records: dict[str, str]) -> ShardBlock:
    """A block from parsed shard records (encoded key -> hex digest), keeping their order."""
    return _decode(*_encode(records))


def _encode(records: dict[str, str]) -> tuple[int, bool, bytes, bytes]:
    return _encode_arrays(list(records), digests_to_raw(list(records.values())))


def _encode_arrays(encs: list[str], raws: np.ndarray) -> tuple[int, bool, bytes, bytes]:
    digests = np.ascontiguousarray(raws, dtype=_DIGEST).tobytes()
    int_keys = all(e[0] == "i" for e in encs)
    if int_keys:
        keys = np.array([int(e[1:]) for e in encs], dtype="<i8").tobytes()
    else:
        keys = "\n".join(encs).encode()
    return len(encs), int_keys, digests, keys


def _entry_parts(count: int, int_keys: bool, digests: bytes, keys: bytes) -> list[bytes]:
    """The bytes of an entry (one file's, or one in a bundle), in parts."""
    crc = zlib.crc32(keys, zlib.crc32(digests))
    return [MAGIC + _HEADER.pack(count, int_keys, crc, len(keys)), digests, keys]


def _parse(data: bytes) -> Optional[ShardBlock]:
    """The block of an entry's bytes, or None when they are damaged."""
    head = len(MAGIC) + _HEADER.size
    if len(data) < head or not data.startswith(MAGIC):
        return None
    count, int_keys, crc, keys_len = _HEADER.unpack_from(data, len(MAGIC))
    split = head + 32 * count
    if len(data) != split + keys_len or zlib.crc32(memoryview(data)[head:]) != crc:
        return None
    body = memoryview(data)
    return _decode(count, bool(int_keys), body[head:split], body[split:])  # type: ignore[arg-type]


def _decode(count: int, int_keys: bool, digests: bytes, keys: bytes) -> ShardBlock:
    raw = np.frombuffer(digests, dtype=_DIGEST, count=count)
    if int_keys:
        decoded: list[Key] = np.frombuffer(keys, dtype="<i8", count=count).tolist()
    else:
        decoded = [int(e[1:]) if e[0] == "i" else e[1:] for e in bytes(keys).decode().split("\n")] if count else []
    return ShardBlock(decoded, raw)


class RecordCache(DerivedFiles):
    """Shard blocks by blob id under one directory (``<git dir>/hangar/records``)."""

    def __init__(self, root: str, bundles: str) -> None:
        super().__init__(root)
        self.bundles = Bundles(bundles)

    def get(self, oid: str) -> Optional[ShardBlock]:
        """The cached block of a shard blob (from its file, else from a bundle), or None when
        absent or damaged."""
        data: Optional[bytes]
        try:
            with open(self.path(oid), "rb") as fh:
                data = fh.read()
        except OSError:
            data = self.bundles.read(oid)
        return None if data is None else _parse(data)

    def in_use(self) -> bool:
        return super().in_use() or self.bundles.in_use()

    def names(self) -> list[str]:
        """The blob id of every entry, in a file of its own or in a bundle."""
        return sorted(set(super().names()) | set(self.bundles.oids()))

    @contextmanager
    def writing(self, shards: int) -> Iterator[Union["RecordCache", "BundledEntries"]]:
        """Where to put the entries of a write of ``shards`` shards (``put_ints``,
        ``put_arrays``): one bundle from :data:`~.recordbundles.BUNDLE_MIN` shards on, put in
        place when the block succeeds (dropped when it fails), else a file each."""
        if shards < BUNDLE_MIN:
            yield self
            return
        entries = BundledEntries(self.bundles.writer())
        try:
            yield entries
        except BaseException:
            entries.writer.abort()
            raise
        entries.writer.close()

    def put(self, oid: str, records: dict[str, str]) -> ShardBlock:
        """Cache a shard's parsed records; returns its block. A failed write only costs speed."""
        return self._put(oid, *_encode(records))

    def put_arrays(self, oid: str, encs: list[str], raws: np.ndarray) -> ShardBlock:
        """:meth:`put` of a shard's encoded keys and raw digests (``S32``), in shard order."""
        return self._put(oid, *_encode_arrays(encs, raws))

    def put_ints(self, oid: str, keys: np.ndarray, raws: np.ndarray) -> None:
        """Cache a shard of int keys from arrays (its keys and raw digests, in shard order):
        what a big first commit writes, without a Python object per record."""
        self._write_entry(oid, len(keys), True, np.ascontiguousarray(raws, dtype=_DIGEST).tobytes(),
                          np.ascontiguousarray(keys, dtype="<i8").tobytes())

    def _put(self, oid: str, count: int, int_keys: bool, digests: bytes, keys: bytes) -> ShardBlock:
        self._write_entry(oid, count, int_keys, digests, keys)
        return _decode(count, int_keys, digests, keys)

    def _write_entry(self, oid: str, count: int, int_keys: bool, digests: bytes, keys: bytes) -> None:
        self.write(oid, *_entry_parts(count, int_keys, digests, keys))

    def prune(self, keep: Callable[[str], bool], tmp_age: float = 3600.0) -> int:
        """Remove entries ``keep`` rejects (bundles are rewritten without them, or removed
        when none is left) and old temporary files; returns how many were removed."""
        removed = super().prune(keep, tmp_age) + self.bundles.remove_temps(tmp_age)
        return removed + sum(self.bundles.keep_only(name, keep) for name in self.bundles.names())

    def audit(self, read_blob: Callable[[str], Optional[bytes]]) -> list[str]:
        """Compare every entry with its shard blob; remove (and return the ids of) damaged or
        disagreeing ones (a bundle whose index is damaged is removed and named by its file:
        ``bundle <name>``). Entries whose blob git no longer has are left to :meth:`prune`."""
        bad = []
        for oid in super().names():
            try:
                with open(self.path(oid), "rb") as fh:
                    data = fh.read()
            except OSError:
                continue  # removed meanwhile
            if _disagrees(oid, data, read_blob):
                self.remove(oid)
                bad.append(oid)
        for name in self.bundles.names():
            entries = self.bundles.entries(name)
            if entries is None:
                self.bundles.keep_only(name, lambda oid: False)
                bad.append(f"bundle {name}")
                continue
            wrong = {oid for oid, data in entries if _disagrees(oid, data, read_blob)}
            if wrong:
                self.bundles.keep_only(name, lambda oid: oid not in wrong)
                bad += sorted(wrong)
        return bad


def _disagrees(oid: str, data: bytes, read_blob: Callable[[str], Optional[bytes]]) -> bool:
    """Whether an entry's bytes are damaged or disagree with its shard blob (False when git
    no longer has the blob)."""
    blob = read_blob(oid)
    if blob is None:
        return False
    block, truth = _parse(data), block_of(decode_shard(blob))
    return block is None or block.keys != truth.keys or not np.array_equal(block.digests, truth.digests)


class BundledEntries:
    """The entries of one big write, appended to one bundle (:meth:`RecordCache.writing`)."""

    def __init__(self, writer: BundleWriter) -> None:
        self.writer = writer

    def put_ints(self, oid: str, keys: np.ndarray, raws: np.ndarray) -> None:
        """:meth:`RecordCache.put_ints`, into the bundle."""
        self.writer.add(oid, _entry_parts(len(keys), True, np.ascontiguousarray(raws, dtype=_DIGEST).tobytes(),
                                          np.ascontiguousarray(keys, dtype="<i8").tobytes()))

    def put_arrays(self, oid: str, encs: list[str], raws: np.ndarray) -> None:
        """:meth:`RecordCache.put_arrays`, into the bundle."""
        self.writer.add(oid, _entry_parts(*_encode_arrays(encs, raws)))
