"""The binary record cache behind whole-column scans: written at commit, checked, rebuilt, pruned."""
from __future__ import annotations

import os
import shutil
import struct
import zlib
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping.recordcache import MAGIC, block_of
from hangar_git.bookkeeping.records import decode_shard
from tests.repos import commit_rows, shard_oids as _shard_oids

N = 5000  # several shards

KEYS = {
    "int": list(range(N)),
    "str": [f"img-{i:05d}.png" for i in range(N)],
    "mixed": [i if i % 2 else f"k{i}" for i in range(N)],
    "unicode": [f"näme-{i}-\u00e9\u4e2d" for i in range(N)],
}


def _fill(repo: Repository, keys: list[Any]) -> dict[Any, np.ndarray]:
    return commit_rows(repo, keys, width=7, seed=1)


def _scan(repo: Repository) -> list[tuple[Any, bytes]]:
    with repo.checkout() as co:
        col = co["rows"]
        items = [(k, v.tobytes()) for k, v in col.items()]
        assert [k for k, _ in items] == list(col.keys())  # one order for keys, values, items
        assert [v for _, v in items] == [v.tobytes() for v in col.values()]
        return items


def _cache(repo: Repository):  # type: ignore[no-untyped-def]
    return repo.ctx.git.record_cache


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_commit_caches_each_shard_and_scans_agree_with_git(repo, kind):
    data = _fill(repo, KEYS[kind])
    oids = _shard_oids(repo)
    assert len(oids) > 1 and set(oids.values()) <= set(_cache(repo).names())
    git = repo.ctx.git
    for oid in oids.values():
        cached, truth = _cache(repo).get(oid), block_of(decode_shard(git.read_blob(oid)))
        assert cached is not None and cached.keys == truth.keys
        assert np.array_equal(cached.digests, truth.digests)
    assert dict(_scan(repo)) == {k: v.tobytes() for k, v in data.items()}


def _flip_byte(path: str) -> None:
    with open(path, "r+b") as fh:
        fh.seek(-5, os.SEEK_END)
        b = fh.read(1)
        fh.seek(-5, os.SEEK_END)
        fh.write(bytes([b[0] ^ 0xFF]))


def _truncate(path: str) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) // 2)


def _garbage(path: str) -> None:
    with open(path, "wb") as fh:
        fh.write(b"not a cache entry")


@pytest.mark.parametrize("damage", [_flip_byte, _truncate, _garbage, os.unlink])
def test_damaged_or_missing_entries_fall_back_to_git_and_are_rebuilt(repo, damage):
    data = _fill(repo, KEYS["mixed"])
    oid = next(iter(_shard_oids(repo).values()))
    path = _cache(repo).path(oid)
    damage(path)
    assert dict(_scan(repo)) == {k: v.tobytes() for k, v in data.items()}
    assert _cache(repo).get(oid) is not None  # rewritten by the scan
    assert repo.fsck(quick=True).ok


def test_whole_cache_removed_scans_still_work(repo):
    data = _fill(repo, KEYS["int"])
    shutil.rmtree(_cache(repo).root)
    assert dict(_scan(repo)) == {k: v.tobytes() for k, v in data.items()}
    assert set(_shard_oids(repo).values()) <= set(_cache(repo).names())


def _forge(path: str) -> None:
    """Rewrite an entry with a wrong digest but a valid CRC (a bug, not bit rot)."""
    with open(path, "rb") as fh:
        blob = bytearray(fh.read())
    head = len(MAGIC) + struct.calcsize("<IBIQ")
    blob[head] ^= 0xFF
    count, int_keys, _, keys_len = struct.unpack_from("<IBIQ", blob, len(MAGIC))
    struct.pack_into("<IBIQ", blob, len(MAGIC), count, int_keys, zlib.crc32(bytes(blob[head:])), keys_len)
    with open(path, "wb") as fh:
        fh.write(bytes(blob))


def test_fsck_finds_and_removes_an_entry_that_disagrees_with_git(repo):
    data = _fill(repo, KEYS["int"])
    oid = next(iter(_shard_oids(repo).values()))
    _forge(_cache(repo).path(oid))
    report = repo.fsck(quick=True)
    assert not report.ok and any(oid in p and "record cache" in p for p in report.problems)
    assert repo.fsck(quick=True).ok  # removed, so the next check is clean
    assert dict(_scan(repo)) == {k: v.tobytes() for k, v in data.items()}


def test_gc_prunes_entries_whose_shard_git_no_longer_has(repo):
    _fill(repo, KEYS["int"])
    cache = _cache(repo)
    stale = "ab" * 20
    cache.put(stale, {"i1": "00" * 32})
    assert stale in set(cache.names())
    repo.gc(grace_seconds=0)
    assert stale not in set(cache.names())
    assert set(_shard_oids(repo).values()) <= set(cache.names())


def test_staged_changes_are_applied_over_cached_records(repo):
    data = _fill(repo, KEYS["int"])
    with repo.checkout(write=True) as co:
        col = co["rows"]
        del col[0]
        col[1] = np.zeros(7, np.uint8)
        col[N] = np.ones(7, np.uint8)
        got = {k: v.tobytes() for k, v in col.items()}
    data.pop(0)
    data[1], data[N] = np.zeros(7, np.uint8), np.ones(7, np.uint8)
    assert got == {k: v.tobytes() for k, v in data.items()}
