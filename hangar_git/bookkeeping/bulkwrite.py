"""Write a column's whole records from arrays: the first flush of a big column.

:func:`write_samples` turns a :class:`~.changes.Run` (sorted keys, raw digests, delete
marks) into a samples tree without a Python object per record: the shard of each key
comes from its CRC-32, shard text is cut out of one byte buffer per block of records,
and the shards go to git as one pack per ``PACK_BYTES`` of text. The shards are
byte-identical to :func:`~.records.encode_shard`'s (the format is permanent; a test
compares them).
"""
from __future__ import annotations

from typing import Iterator, Optional
from zlib import crc32

import numpy as np

from .changes import Run
from .gitrepo import BLOB, GitRepo, Oid
from .packwriter import write_objects
from .records import KEY_INDEX_DIGITS, shard_digits_for, shard_path

BLOCK = 1 << 16
"""Records turned into shard text at a time."""
PACK_BYTES = 16 << 20
"""Shard text written to git as one pack."""
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def write_samples(git: GitRepo, run: Run) -> tuple[Optional[Oid], int, int]:
    """The samples tree of exactly the live records of ``run`` (deletes dropped), its
    record count and shard level; writes its record cache entries and key index too."""
    ints = ~run.ints.gone
    texts = ~run.texts.gone
    int_keys, int_raws = run.ints.keys[ints], run.ints.raws[ints]
    text_keys, text_raws = run.texts.keys[texts], run.texts.raws[texts]
    encs = np.array([b"i%d" % k for k in int_keys.tolist()] + [b"s" + k for k in text_keys.tolist()],
                    dtype="S") if len(int_keys) + len(text_keys) else np.zeros(0, "S1")
    raws = np.concatenate([int_raws, text_raws])
    count = len(encs)
    if not count:
        return None, 0, 0
    digits = shard_digits_for(count)
    prefixes = _prefixes(encs, digits)
    order = np.lexsort((encs, prefixes))  # by shard, then by encoded key: each shard's order
    encs, raws, prefixes = encs[order], raws[order], prefixes[order]
    bounds = np.flatnonzero(np.diff(prefixes)) + 1
    starts = np.concatenate([[0], bounds]).tolist()
    ends = np.concatenate([bounds, [count]]).tolist()
    shards: dict[tuple[str, ...], Optional[str]] = {}
    pending: list[tuple[str, int, bytes]] = []
    size = 0
    for lo, hi, blob in _shard_texts(encs, raws, starts, ends):
        oid = git.blob_id(blob)
        pending.append((oid, BLOB, blob))
        size += len(blob)
        prefix = f"{int(prefixes[lo]):0{digits}x}" if digits else ""
        shards[shard_path(prefix)] = oid
        _cache(git, oid, encs[lo:hi], raws[lo:hi])
        if size >= PACK_BYTES:
            write_objects(git, pending)
            pending, size = [], 0
    write_objects(git, pending)
    samples = git.update_tree(None, shards)
    if samples is not None and digits >= KEY_INDEX_DIGITS:
        _key_index(git, samples, run, int_keys, int_raws)
    return samples, count, digits


def _prefixes(encs: np.ndarray, digits: int) -> np.ndarray:
    """The shard number of each encoded key (its CRC-32's first ``digits`` hex digits)."""
    if digits == 0:
        return np.zeros(len(encs), dtype=np.int64)
    shift = 32 - 4 * digits
    out = np.empty(len(encs), dtype=np.int64)
    for lo in range(0, len(encs), BLOCK):
        out[lo:lo + BLOCK] = [crc32(e) >> shift for e in encs[lo:lo + BLOCK].tolist()]
    return out


def _lines(encs: np.ndarray, raws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shard lines ``<hex digest> <encoded key>\\n`` of a block of records, back to back,
    and the length of each line."""
    n, width = len(encs), encs.dtype.itemsize
    grid = np.zeros((n, 66 + width), dtype=np.uint8)
    digest = raws.view(np.uint8).reshape(n, 32)
    grid[:, 0:64:2] = _HEX[digest >> 4]
    grid[:, 1:64:2] = _HEX[digest & 15]
    grid[:, 64] = ord(" ")
    keys = np.frombuffer(encs.tobytes(), dtype=np.uint8).reshape(n, width)
    grid[:, 65:65 + width] = keys
    key_lens = (keys != 0).sum(axis=1)  # keys hold no NUL: 'S' pads with them
    grid[np.arange(n), 65 + key_lens] = ord("\n")
    return grid[grid != 0], 66 + key_lens


def _shard_texts(encs: np.ndarray, raws: np.ndarray, starts: list[int],
                 ends: list[int]) -> Iterator[tuple[int, int, bytes]]:
    """(first record, end, text) of each shard, built a block of records at a time."""
    shard = 0
    while shard < len(starts):
        lo = starts[shard]
        last = shard
        while last + 1 < len(starts) and ends[last + 1] - lo <= BLOCK:
            last += 1
        hi = ends[last]
        text, lens = _lines(encs[lo:hi], raws[lo:hi])
        offsets = np.concatenate([[0], np.cumsum(lens)]).tolist()
        for s in range(shard, last + 1):
            yield starts[s], ends[s], text[offsets[starts[s] - lo]:offsets[ends[s] - lo]].tobytes()
        shard = last + 1


def _cache(git: GitRepo, oid: str, encs: np.ndarray, raws: np.ndarray) -> None:
    """The record cache entry of a shard just written (for scans)."""
    texts = [e.decode() for e in encs.tolist()]
    git.record_cache.put_arrays(oid, texts, raws)


def _key_index(git: GitRepo, samples: Oid, run: Run, int_keys: np.ndarray, int_raws: np.ndarray) -> None:
    from .keyindex import encode, encode_ints
    if not len(run.texts.keys[~run.texts.gone]):
        git.key_indexes.put(samples, encode_ints(int_keys, int_raws))  # sorted already
        return
    live = ~run.texts.gone
    keys = int_keys.tolist() + [k.decode() for k in run.texts.keys[live].tolist()]
    git.key_indexes.put(samples, encode(keys, np.concatenate([int_raws, run.texts.raws[live]])))
