"""A column's sorted key index: key -> digest of one records tree, memory-mapped.

Random reads in a fresh process (every DataLoader worker) would otherwise
read the shard of each key they touch: 10,000 random reads of a million-row
column load nearly every shard. This file answers any key with a binary
search over a memory-mapped array, loading nothing else.

It is derived data, private to one machine (shared by the worktrees of a
repository): named by the column's ``samples`` tree id, so every commit,
branch and staging area whose column holds the same records shares one file,
and a file can never describe other records. Written at flush for columns of
``MIN_DIGITS`` shard levels and more (derived from the base state's index
when there is one), else on a reader's first scan of many shards; written
atomically (:func:`~hangar_git.fileio.write_atomic`), so several processes
may build the same file at once; checked on open by a 64-bit sum of its
words (a damaged file is ignored and rebuilt); pruned by ``gc`` once git no
longer has the tree; audited by ``fsck``.

A file is ``HGKEY001`` + header ``<kind u8><pad 7><count u64><key_bytes u64><sum u64>``,
then, all little-endian and 8-byte aligned:

- kind 0 (every key an int): ``count`` sorted ``int64`` keys, ``count`` raw
  32-byte digests in the same order;
- kind 1 (any key a str): ``count`` sorted ``int64`` key hashes (the first 8
  bytes of the BLAKE2b of the encoded key), the digests, ``count + 1`` ``u64``
  offsets of the encoded keys in the key bytes, the key bytes (UTF-8),
  zero-padded to 8 bytes.

``sum`` is the sum modulo 2**64 of every u64 word after the header.
"""
from __future__ import annotations

import hashlib
import mmap
import os
import struct
from bisect import bisect_left
from typing import Any, Callable, Iterable, Mapping, Optional

import numpy as np

from ..heap import drop_mapped_pages
from ..storage.objects import digests_to_raw, raw_to_digest, raws_to_digests
from .derivedfiles import DerivedFiles
from .recordcache import ShardBlock
from .records import KEY_INDEX_DIGITS, encode_key

MAGIC = b"HGKEY001"
_HEADER = struct.Struct("<B7xQQQ")
HEAD = len(MAGIC) + _HEADER.size
MIN_DIGITS = KEY_INDEX_DIGITS
INT, TEXT = 0, 1
_DIGEST = np.dtype("S32")
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
"""Mapped files are read at random: their pages are mapped at once (one fault each costs more)."""


def key_hash(enc: str) -> int:
    """The signed 64-bit hash of an encoded key that kind-1 files sort by."""
    return int.from_bytes(hashlib.blake2b(enc.encode(), digest_size=8).digest(), "little", signed=True)


class KeyIndex:
    """One index file, mapped: ``find`` gives the raw digest of a key, or None."""

    def __init__(self, buf: mmap.mmap, kind: int, count: int, key_bytes: int) -> None:
        self._buf = buf
        self.kind, self.count = kind, count
        self.is_int = kind == INT
        view = memoryview(buf)
        n8 = 8 * count
        self._keys = view[HEAD:HEAD + n8].cast("q")
        self._dstart = HEAD + n8
        self.digests = np.frombuffer(buf, dtype=_DIGEST, count=count, offset=self._dstart)
        """Raw digests, in key order (kind 0) or key-hash order (kind 1)."""
        self._first = self._keys[0] if count else 0
        self._dense = kind == INT and count > 0 and self._keys[count - 1] - self._first == count - 1
        """Sorted distinct int keys spanning ``count`` values: every key of the span is there."""
        if kind == TEXT:
            ostart = self._dstart + 32 * count
            self._offsets = view[ostart:ostart + 8 * (count + 1)].cast("Q")
            self._kstart = ostart + 8 * (count + 1)
            self._view = view

    def release_pages(self) -> None:
        """Drop the pages of the file this process has read from its resident size: a walk
        over every digest (a locations file's look-ups) would otherwise keep all 40 MB of a
        million rows' index resident. They stay in the page cache; a later read maps them
        back in."""
        drop_mapped_pages(self._buf)

    @property
    def int_keys(self) -> Optional[np.ndarray]:
        """Every key, sorted, as ``int64`` when every key is an int (kind 0), else None."""
        if self.kind != INT:
            return None
        return np.frombuffer(self._buf, dtype="<i8", count=self.count, offset=HEAD)

    def row_of_int(self, key: int) -> int:
        """Row of an int key, or -1 (kind 0 only)."""
        keys = self._keys
        pos = key - self._first
        if 0 <= pos < self.count and keys[pos] == key:  # dense keys: no search at all
            return pos
        pos = bisect_left(keys, key)
        return pos if pos < self.count and keys[pos] == key else -1

    def int_row(self, key: int) -> int:
        """Row of an int key, or -1 (kind 0 only; dense keys cost no look at the keys)."""
        pos = key - self._first
        if self._dense and 0 <= pos < self.count:
            return pos
        return self.row_of_int(key)

    def raw_at(self, row: int) -> bytes:
        """The raw (32-byte) digest of row ``row``."""
        at = self._dstart + 32 * row
        return self._buf[at:at + 32]

    def find(self, enc: str) -> Optional[str]:
        """The (hex) digest recorded for an encoded key, or None."""
        if self.kind == INT:
            if enc[0] != "i":
                return None
            row = self.row_of_int(int(enc[1:]))
        else:
            row = self._row_of_text(enc)
        if row < 0:
            return None
        at = self._dstart + 32 * row
        return raw_to_digest(self._buf[at:at + 32])

    def _row_of_text(self, enc: str) -> int:
        h, want = key_hash(enc), enc.encode()
        keys, offsets, base = self._keys, self._offsets, self._kstart
        pos = bisect_left(keys, h)
        while pos < self.count and keys[pos] == h:  # equal hashes: compare the keys
            if self._view[base + offsets[pos]:base + offsets[pos + 1]] == want:
                return pos
            pos += 1
        return -1

    def records(self) -> dict[str, str]:
        """Every encoded key -> hex digest (for audits)."""
        raws = raws_to_digests(self.digests)
        if self.kind == INT:
            return {f"i{k}": d for k, d in zip(self.int_keys.tolist(), raws)}  # type: ignore[union-attr]
        off, base = self._offsets, self._kstart
        return {bytes(self._view[base + off[i]:base + off[i + 1]]).decode(): raws[i] for i in range(self.count)}


# -- files ------------------------------------------------------------------------
def encode(keys: list, digests: np.ndarray) -> bytes:
    """An index file of keys (decoded: ints and strs) and their raw digests (``S32``), any order."""
    digests = np.ascontiguousarray(digests, dtype=_DIGEST)
    if all(type(k) is int for k in keys):
        ints = np.array(keys, dtype="<i8")
        order = np.argsort(ints, kind="stable")
        return _pack(INT, [ints[order].tobytes(), digests[order].tobytes()], 0)
    return _encode_text([encode_key(k) for k in keys], digests)


def encode_ints(keys: np.ndarray, digests: np.ndarray) -> list:
    """The parts (buffers, to be written one after the other) of an index file of int keys
    already sorted ascending and their raw digests (``S32``)."""
    return _parts(INT, [np.ascontiguousarray(keys, dtype="<i8"), np.ascontiguousarray(digests, dtype=_DIGEST)], 0)


def _encode_text(encs: list[str], digests: np.ndarray) -> bytes:
    hashes = np.array([key_hash(e) for e in encs], dtype="<i8")
    order = np.argsort(hashes, kind="stable")
    blobs = [encs[i].encode() for i in order.tolist()]
    offsets = np.zeros(len(blobs) + 1, dtype="<u8")
    np.cumsum([len(b) for b in blobs], out=offsets[1:])
    text = b"".join(blobs)
    return _pack(TEXT, [hashes[order].tobytes(), digests[order].tobytes(), offsets.tobytes(),
                        text + b"\0" * (-len(text) % 8)], len(text))


def derive(base: KeyIndex, changes: Mapping[str, Optional[str]]) -> Optional[bytes]:
    """The file of ``base``'s records with ``changes`` (encoded key -> hex digest, None
    deletes) applied, without reading any shard; None when it must be built afresh
    (a kind-1 base, or a str key joining an int index)."""
    if base.kind != INT or any(e[0] != "i" for e in changes):
        return None
    keys = base.int_keys
    assert keys is not None
    digests = base.digests
    ck = np.array([int(e[1:]) for e in changes], dtype="<i8")
    new = list(changes.values())
    at = np.searchsorted(keys, ck)
    held = (at < len(keys)) & (keys[np.minimum(at, max(len(keys) - 1, 0))] == ck) if len(keys) else \
        np.zeros(len(ck), dtype=bool)
    gone = np.array([new[i] is None for i in range(len(new))], dtype=bool)
    digests = digests.copy()
    upd = np.flatnonzero(held & ~gone)
    if len(upd):
        digests[at[upd]] = digests_to_raw([str(new[i]) for i in upd.tolist()])
    drop = at[held & gone]
    keys, digests = np.delete(keys, drop), np.delete(digests, drop)
    add = np.flatnonzero(~held & ~gone)
    if len(add):
        order = add[np.argsort(ck[add], kind="stable")]
        where = np.searchsorted(keys, ck[order])
        keys = np.insert(keys, where, ck[order])
        digests = np.insert(digests, where, digests_to_raw([str(new[i]) for i in order.tolist()]))
    return _pack(INT, [keys.astype("<i8").tobytes(), np.ascontiguousarray(digests, dtype=_DIGEST).tobytes()], 0)


def _pack(kind: int, parts: list, key_bytes: int) -> bytes:
    """The file of ``parts`` (buffers of whole u8 words: bytes or contiguous arrays), joined once."""
    return b"".join(_parts(kind, parts, key_bytes))


def _parts(kind: int, parts: list, key_bytes: int) -> list:
    """The header, then ``parts``: a file's buffers in order."""
    count = memoryview(parts[0]).nbytes // 8
    total = sum(int(np.frombuffer(p, dtype="<u8").sum(dtype=np.uint64)) for p in parts
                if memoryview(p).nbytes) % (1 << 64)
    return [MAGIC + _HEADER.pack(kind, count, key_bytes, total), *parts]


def _stamp(st: os.stat_result) -> bytes:
    """What a checked marker holds: the verified file's size, time and inode."""
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ino}\n".encode()


def _open(path: str, checked: Optional[bytes] = None) -> tuple[Optional[KeyIndex], bytes]:
    """The index at ``path`` and its stamp; its sum is checked unless ``checked`` is the
    stamp the file has now (it was checked whole before and has not been written since)."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            stamp = _stamp(st)
            if st.st_size < HEAD:
                return None, stamp
            trusted = checked == stamp
            flags = _MAP_FLAGS if not trusted else mmap.MAP_SHARED  # a sum reads every page
            buf = mmap.mmap(fh.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return None, b""
    if buf[:len(MAGIC)] != MAGIC:
        return None, stamp
    kind, count, key_bytes, total = _HEADER.unpack_from(buf, len(MAGIC))
    expect = HEAD + 40 * count + (8 * (count + 1) + key_bytes + (-key_bytes % 8) if kind == TEXT else 0)
    if kind not in (INT, TEXT) or st.st_size != expect:
        return None, stamp
    if not trusted:
        body = np.frombuffer(buf, dtype="<u8", offset=HEAD)
        if (int(body.sum(dtype=np.uint64)) if len(body) else 0) != total:
            return None, stamp
    return KeyIndex(buf, kind, count, key_bytes), stamp


class KeyIndexes(DerivedFiles):
    """Index files by samples tree id under one directory (``<git dir>/hangar/keys``).

    A file's sum is checked whole the first time it is opened; a marker of the same
    name in ``keys-checked`` then holds its size, time and inode, so later processes
    (every DataLoader worker) skip reading 40 MB per million keys. A file written since
    (damage through the file system changes its time) is checked again; ``fsck``
    audits every file whole.
    """

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.checked = DerivedFiles(root + "-checked")

    def open(self, tree: str) -> Optional[KeyIndex]:
        """The index of a samples tree, or None when there is none (or it is damaged)."""
        try:
            with open(self.checked.path(tree), "rb") as fh:
                marker: Optional[bytes] = fh.read()
        except OSError:
            marker = None
        index, stamp = _open(self.path(tree), marker)
        if index is not None and marker != stamp:
            self.checked.write(tree, stamp)
        return index

    def put(self, tree: str, *parts: Any) -> Optional[KeyIndex]:
        """Write an index file (atomically; its bytes, or its buffers in order) and open it;
        None if it cannot be written (a read-only repository, a full disk: reads use shards
        instead). The file just written is marked checked without summing it again (a
        million rows' sum read 40 MB back into memory)."""
        if not self.write(tree, *parts):
            return None
        try:
            self.checked.write(tree, _stamp(os.stat(self.path(tree))))
        except OSError:
            pass  # opened below with its sum
        return self.open(tree)

    def remove(self, name: str) -> int:
        """Remove an index file and its checked marker (1 if the file was there)."""
        self.checked.remove(name)
        return super().remove(name)

    def prune(self, keep: Callable[[str], bool], tmp_age: float = 3600.0) -> int:
        """Remove the files (and markers) of trees ``keep`` rejects, and old temporary files."""
        self.checked.prune(lambda name: keep(name) and os.path.exists(self.path(name)), tmp_age)
        return super().prune(keep, tmp_age)

    def discard(self, tree: str) -> None:
        """Remove the index of a samples tree no longer needed (a process mapping it keeps it)."""
        self.remove(tree)

    def build(self, tree: str, blocks: Iterable[ShardBlock]) -> Optional[KeyIndex]:
        """Build, write and open the index of a samples tree from its shard blocks."""
        keys: list = []
        digests: list[np.ndarray] = []
        for block in blocks:
            keys += block.keys
            digests.append(block.digests)
        raws = np.concatenate(digests) if digests else np.zeros(0, _DIGEST)
        return self.put(tree, encode(keys, raws))

    def audit(self, truth: Callable[[str], Optional[dict[str, str]]]) -> list[str]:
        """Compare every file with the records of its tree (``truth``: encoded key -> hex
        digest, None when git no longer has the tree); remove (and return the trees of)
        damaged or disagreeing files."""
        bad = []
        for tree in self.names():
            records = truth(tree)
            if records is None:
                continue
            index = _open(self.path(tree))[0]  # whole: a marker spares readers, not the audit
            if index is None or index.records() != records:
                self.remove(tree)
                bad.append(tree)
        return bad
