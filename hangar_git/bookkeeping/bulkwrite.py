"""Write a column's whole records from arrays: the first flush of a big column.

:func:`write_samples` turns a :class:`~.changes.Run` (sorted keys, raw digests, delete
marks) into a samples tree without a Python object per record: the shard of each key
comes from its CRC-32, shard text is cut out of one byte buffer per block of records,
and the shards go to git as one pack per ``PACK_BYTES`` of text. The shards are
byte-identical to :func:`~.records.encode_shard`'s (the format is permanent; a test
compares them).
"""
from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from ..heap import release_freed
from ..storage.identity import hex_of
from .bulkkeys import encoded_keys, shard_numbers
from .changes import Run, Table, sorted_table
from .gitrepo import BLOB, GitRepo, Oid
from .packwriter import COMPRESS_THREADS, PACK_MIN, deflate_text, write_objects
from .recordcache import BundledEntries, RecordCache, ShardBlock
from .records import KEY_INDEX_DIGITS, shard_digits_for, shard_path

BLOCK = 1 << 14
"""Records turned into shard text at a time, by one task of the packing threads (a task's
temporaries are about 300 bytes a record: 65,536-record blocks, two ahead, took a big
commit's peak from 245 to 293 MB)."""
PACK_BYTES = 8 << 20
"""Shard text written to git as one pack."""
BLOCKS_AHEAD = 2
"""Blocks of shards made on the packing threads while the main thread hands over the last."""
_HEX_PAIRS = np.array([b"%02x" % i for i in range(256)], dtype="S2").view(np.uint16)
"""Each byte's two hex digits, as the ``uint16`` whose bytes they are."""


def write_samples(git: GitRepo, run: Run) -> tuple[Optional[Oid], int, int]:
    """The samples tree of exactly the live records of ``run`` (deletes dropped), its
    record count and shard level; writes its record cache entries and key index too."""
    int_keys, int_raws = _live(run.ints)
    text_keys, text_raws = _live(run.texts)
    count = len(int_keys) + len(text_keys)
    if not count:
        return None, 0, 0
    encs = encoded_keys(int_keys, text_keys)
    raws = np.concatenate([int_raws, text_raws]) if len(text_keys) and len(int_keys) else \
        (int_raws if len(int_keys) else text_raws)
    digits = shard_digits_for(count)
    prefixes = shard_numbers(encs, digits).astype(np.uint32)  # (at most 8 hex digits)
    order = np.lexsort((encs, prefixes)).astype(np.int32 if count < 1 << 31 else np.int64)
    encs, prefixes = encs[order], prefixes[order]  # by shard, then by encoded key: each shard's order
    release_freed()  # the sort's temporaries and the unsorted copies (raws stay: taken by block)
    bounds = np.flatnonzero(np.diff(prefixes)) + 1
    starts = np.concatenate([[0], bounds]).tolist()
    ends = np.concatenate([bounds, [count]]).tolist()
    look = len(starts) < PACK_MIN  # a few shards: loose objects, unless git has them
    ints = None if len(text_keys) else int_keys
    with git.record_cache.writing(len(starts)) as cache, \
            ThreadPoolExecutor(1, thread_name_prefix="hangar-records") as writer, \
            ThreadPoolExecutor(COMPRESS_THREADS, thread_name_prefix="hangar-pack") as pool:
        packer = _Packer(git, look, writer, cache)
        made = (pool.submit(_block_shards, encs, raws, order, ints, starts[a:b], ends[a:b])
                for a, b in _blocks(starts, ends))
        for block in _in_order(made, BLOCKS_AHEAD):
            for lo, oid, blob, packed, entry in block:
                prefix = f"{int(prefixes[lo]):0{digits}x}" if digits else ""
                packer.add(shard_path(prefix), oid, blob, packed, entry)
        shards = packer.finish()
    del encs, raws, prefixes, order, packer
    release_freed()  # the shards' texts, packs and sort arrays: before the trees and key index
    samples = git.update_tree(None, shards, blobs={o for o in shards.values() if o})
    if samples is not None and digits >= KEY_INDEX_DIGITS:
        _key_index(git, samples, int_keys, int_raws, text_keys, text_raws)
    return samples, count, digits


_Shard = tuple[int, str, bytes, bytes, tuple]
"""(first record, git blob id, text, text compressed for a pack, record cache entry arrays)."""
_Blob = tuple[str, bytes, bytes, tuple]
"""A shard to write: (git blob id, text, text compressed for a pack, record cache entry arrays)."""


class _Packer:
    """Shards written to git as one pack per ``PACK_BYTES`` of text, each pack then its
    shards' record cache entries on the writer's thread (a pack waits for the one before)."""

    def __init__(self, git: GitRepo, look: bool, writer: ThreadPoolExecutor,
                 cache: Union[RecordCache, BundledEntries]) -> None:
        self.git, self.look, self.writer, self.cache = git, look, writer, cache
        self.pending: list[_Blob] = []
        self.writing: Optional[Future] = None
        self.shards: dict[tuple[str, ...], Optional[str]] = {}
        self.size = 0

    def add(self, path: tuple[str, ...], oid: str, blob: bytes, packed: bytes, entry: tuple) -> None:
        self.pending.append((oid, blob, packed, entry))
        self.shards[path] = oid
        self.size += len(blob)
        if self.size >= PACK_BYTES:
            self._write()

    def _write(self) -> None:
        if self.writing is not None:
            self.writing.result()  # (its texts are let go before more pile up)
            self.writing = None
        if self.pending:
            self.writing = self.writer.submit(_store, self.git, self.look, self.cache, self.pending)
        self.pending, self.size = [], 0

    def finish(self) -> dict[tuple[str, ...], Optional[str]]:
        """Write the rest; returns each shard's path and blob id once every write is done."""
        self._write()
        if self.writing is not None:
            self.writing.result()
        return self.shards


def _store(git: GitRepo, look: bool, cache: Union[RecordCache, BundledEntries], shards: list[_Blob]) -> None:
    """Shards to git as one pack, then their record cache entries."""
    write_objects(git, [(oid, BLOB, blob) for oid, blob, _, _ in shards], look=look,
                  packed=[packed for _, _, packed, _ in shards])
    for oid, _, _, (encs, raws, ints) in shards:
        _cache(cache, oid, encs, raws, ints)


def _blocks(starts: list[int], ends: list[int]) -> Iterator[tuple[int, int]]:
    """Runs of whole shards (first, end) of at most ``BLOCK`` records (or one bigger shard)."""
    shard = 0
    while shard < len(starts):
        last = shard
        while last + 1 < len(starts) and ends[last + 1] - starts[shard] <= BLOCK:
            last += 1
        yield shard, last + 1
        shard = last + 1


def _in_order(futures: Iterator[Future], ahead: int) -> Iterator:
    """The results of ``futures`` in order, with at most ``ahead`` more submitted meanwhile."""
    waiting: deque[Future] = deque()
    for future in futures:
        waiting.append(future)
        if len(waiting) > ahead:
            yield waiting.popleft().result()
    while waiting:
        yield waiting.popleft().result()


def _block_shards(encs: np.ndarray, raws: np.ndarray, order: np.ndarray, ints: Optional[np.ndarray],
                  starts: list[int], ends: list[int]) -> list[_Shard]:
    """The shards starting at ``starts`` (``encs`` in shard order; ``raws[order]`` in shard
    order; ``ints``: the int keys when every key is one): text cut from one buffer, blob id
    and compressed text (numpy, hashlib and zlib let go of the GIL: runs on the packing threads)."""
    lo, hi = starts[0], ends[-1]
    block_raws = raws[order[lo:hi]]
    text, lens = _lines(encs[lo:hi], block_raws)
    offsets = np.concatenate([[0], np.cumsum(lens)]).tolist()
    out = []
    for start, end in zip(starts, ends):
        blob = text[offsets[start - lo]:offsets[end - lo]].tobytes()
        oid = hashlib.sha1(b"blob %d\0" % len(blob))
        oid.update(blob)
        entry = (encs[start:end], block_raws[start - lo:end - lo], None if ints is None else ints[order[start:end]])
        out.append((start, hex_of(oid.digest()), blob, deflate_text(blob), entry))
    return out


def records_run(blocks: Iterable[ShardBlock]) -> Run:
    """A column's records (its shard blocks) as a run of arrays, a shard at a time."""
    ints: list[np.ndarray] = []
    int_raws: list[np.ndarray] = []
    texts: list[bytes] = []
    text_raws: list[np.ndarray] = []
    for block in blocks:
        is_int = np.fromiter((type(k) is int for k in block.keys), dtype=bool, count=len(block.keys))
        if is_int.all():
            ints.append(np.array(block.keys, dtype=np.int64))
            int_raws.append(block.digests)
            continue
        ints.append(np.array([k for k in block.keys if type(k) is int], dtype=np.int64))
        int_raws.append(block.digests[is_int])
        texts += [str(k).encode() for k in block.keys if type(k) is not int]
        text_raws.append(block.digests[~is_int])
    raws = np.zeros(0, "S32")
    return Run(sorted_table(np.concatenate(ints) if ints else np.zeros(0, np.int64),
                            np.concatenate(int_raws) if int_raws else raws),
               sorted_table(np.array(texts, dtype="S") if texts else np.zeros(0, "S1"),
                            np.concatenate(text_raws) if text_raws else raws))


def _live(table: Table) -> tuple[np.ndarray, np.ndarray]:
    """A table's keys and raw digests without its deletes (views when it has none)."""
    if not table.gone.any():
        return table.keys, table.raws
    live = ~table.gone
    return table.keys[live], table.raws[live]


def _lines(encs: np.ndarray, raws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shard lines ``<hex digest> <encoded key>\\n`` of a block of records, back to back,
    and the length of each line."""
    n, width = len(encs), encs.dtype.itemsize
    grid = np.empty((n, 66 + width), dtype=np.uint8)
    grid[:, :64].view(np.uint16)[:] = _HEX_PAIRS[raws.view(np.uint8).reshape(n, 32)]  # two digits a byte
    grid[:, 64] = ord(" ")
    keys = np.frombuffer(encs.tobytes(), dtype=np.uint8).reshape(n, width)
    grid[:, 65:65 + width] = keys
    grid[:, 65 + width] = 0
    key_lens = (keys != 0).sum(axis=1)  # keys hold no NUL: 'S' pads with them
    grid[np.arange(n), 65 + key_lens] = ord("\n")
    return grid[grid != 0], 66 + key_lens


def _cache(cache: Union[RecordCache, BundledEntries], oid: str, encs: np.ndarray, raws: np.ndarray,
           ints: Optional[np.ndarray]) -> None:
    """The record cache entry of a shard just written (for scans); ``ints``: its keys when
    every key is an int."""
    if ints is not None:
        cache.put_ints(oid, ints, raws)
        return
    texts = [e.decode() for e in encs.tolist()]
    cache.put_arrays(oid, texts, raws)


def _key_index(git: GitRepo, samples: Oid, int_keys: np.ndarray, int_raws: np.ndarray,
               text_keys: np.ndarray, text_raws: np.ndarray) -> None:
    from .keyindex import encode, encode_ints
    if not len(text_keys):
        git.key_indexes.put(samples, *encode_ints(int_keys, int_raws))  # sorted already
        return
    keys = int_keys.tolist() + [k.decode() for k in text_keys.tolist()]
    git.key_indexes.put(samples, encode(keys, np.concatenate([int_raws, text_raws])))
