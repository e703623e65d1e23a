"""Record cache bundles: a big write's entries in one file, read, checked, pruned and
rebuilt like entries of their own (see hangar_git.bookkeeping.recordbundles)."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping.recordbundles import BUNDLE_MIN, MAGIC
from hangar_git.bookkeeping.recordcache import RecordCache, block_of
from hangar_git.bookkeeping.records import decode_shard
from tests.repos import commit_rows, shard_oids as _shard_oids

N = 20_000  # 256 shards: bundled


def _fill(repo: Repository, keys: list[Any]) -> dict[Any, np.ndarray]:
    return commit_rows(repo, keys, width=5, seed=2)


def _scan(repo: Repository) -> dict[Any, bytes]:
    with repo.checkout() as co:
        return {k: v.tobytes() for k, v in co["rows"].items()}


def _cache(repo: Repository) -> RecordCache:
    return repo.ctx.git.record_cache


def _bundle_path(cache: RecordCache) -> str:
    (name,) = cache.bundles.names()
    return os.path.join(cache.bundles.folder, name)


def _agrees_with_git(repo: Repository, oids: list[str]) -> None:
    git = repo.ctx.git
    for oid in oids:
        cached, truth = _cache(repo).get(oid), block_of(decode_shard(git.read_blob(oid)))
        assert cached is not None and cached.keys == truth.keys
        assert np.array_equal(cached.digests, truth.digests)


@pytest.mark.parametrize("kind", ["int", "str"])
def test_a_big_write_puts_its_entries_in_one_bundle(repo: Repository, kind: str) -> None:
    keys: list[Any] = list(range(N)) if kind == "int" else [f"k-{i}-é" for i in range(N)]
    data = _fill(repo, keys)
    cache, oids = _cache(repo), _shard_oids(repo)
    assert len(oids) >= BUNDLE_MIN and len(cache.bundles.names()) == 1
    assert not os.path.isdir(cache.root) or not os.listdir(cache.root)  # no file per shard
    assert set(cache.names()) == set(oids.values())
    _agrees_with_git(repo, list(oids.values()))
    assert cache.audit(repo.ctx.git.read_blob) == []
    assert _scan(repo) == {k: v.tobytes() for k, v in data.items()}


@pytest.mark.parametrize("shards, bundled", [(BUNDLE_MIN - 1, False), (BUNDLE_MIN, True), (BUNDLE_MIN + 1, True)])
def test_writes_of_bundle_min_shards_and_more_are_bundled(tmp_path: Any, shards: int, bundled: bool) -> None:
    cache = RecordCache(str(tmp_path / "records"), str(tmp_path / "bundles"))
    oids = ["%040x" % (i * 7919) for i in range(shards)]
    with cache.writing(shards) as sink:
        for i, oid in enumerate(oids):
            sink.put_ints(oid, np.arange(i, i + 3, dtype=np.int64), np.full(3, bytes([i % 256]) * 32, dtype="S32"))
    assert len(cache.bundles.names()) == (1 if bundled else 0)
    assert (tmp_path / "records").is_dir() != bundled
    assert sorted(cache.names()) == sorted(oids)
    other = RecordCache(str(tmp_path / "records"), str(tmp_path / "bundles"))  # as another process sees it
    for i, oid in enumerate(oids):
        block = other.get(oid)
        assert block is not None and block.keys == [i, i + 1, i + 2]
        assert block.digests.tolist() == [bytes([i % 256]) * 32] * 3 or i % 256 == 0
    assert other.get("f" * 40) is None


def test_a_failed_write_leaves_no_bundle(tmp_path: Any) -> None:
    cache = RecordCache(str(tmp_path / "records"), str(tmp_path / "bundles"))
    with pytest.raises(RuntimeError):
        with cache.writing(BUNDLE_MIN) as sink:
            sink.put_ints("ab" * 20, np.arange(2, dtype=np.int64), np.zeros(2, dtype="S32"))
            raise RuntimeError("killed midway")
    assert os.listdir(tmp_path / "bundles") == [] and cache.get("ab" * 20) is None


def _flip_entry_byte(path: str) -> None:
    with open(path, "r+b") as fh:
        fh.seek(len(MAGIC) + 40)  # inside the first entry
        b = fh.read(1)
        fh.seek(len(MAGIC) + 40)
        fh.write(bytes([b[0] ^ 0xFF]))


def test_a_damaged_entry_falls_back_to_git_and_fsck_removes_it(repo: Repository) -> None:
    data = _fill(repo, list(range(N)))
    cache = _cache(repo)
    _flip_entry_byte(_bundle_path(cache))
    other = RecordCache(cache.root, cache.bundles.folder)
    damaged = [oid for oid in _shard_oids(repo).values() if other.get(oid) is None]
    assert len(damaged) == 1
    report = repo.fsck(quick=True)
    assert not report.ok and any(damaged[0] in p and "record cache" in p for p in report.problems)
    assert repo.fsck(quick=True).ok  # the bundle was rewritten without it
    assert _scan(repo) == {k: v.tobytes() for k, v in data.items()}
    _agrees_with_git(repo, list(_shard_oids(repo).values()))  # the damaged one cached again, in a file
    assert os.path.exists(cache.path(damaged[0]))


def test_a_damaged_index_is_ignored_and_fsck_removes_the_bundle(repo: Repository) -> None:
    data = _fill(repo, list(range(N)))
    cache = _cache(repo)
    path = _bundle_path(cache)
    with open(path, "r+b") as fh:
        fh.truncate(os.path.getsize(path) - 3)
    other = RecordCache(cache.root, cache.bundles.folder)
    assert all(other.get(oid) is None for oid in _shard_oids(repo).values())
    report = repo.fsck(quick=True)
    assert any("bundle" in p for p in report.problems) and not os.path.exists(path)
    assert _scan(repo) == {k: v.tobytes() for k, v in data.items()}
    assert repo.fsck(quick=True).ok


def test_gc_keeps_live_entries_and_removes_bundles_with_none(tmp_path: Any) -> None:
    cache = RecordCache(str(tmp_path / "records"), str(tmp_path / "bundles"))
    oids = ["%040x" % (i + 1) for i in range(BUNDLE_MIN)]
    with cache.writing(BUNDLE_MIN) as sink:
        for oid in oids:
            sink.put_ints(oid, np.arange(2, dtype=np.int64), np.zeros(2, dtype="S32"))
    (tmp_path / "bundles" / ".left-by-a-killed-writer.tmp").write_bytes(b"x")
    live = set(oids[:10])
    assert cache.prune(lambda oid: oid in live, tmp_age=0) == BUNDLE_MIN - 10 + 1
    assert sorted(cache.names()) == sorted(live) and len(cache.bundles.names()) == 1
    assert all(cache.get(oid) is not None for oid in live)
    assert cache.prune(lambda oid: oid in live) == 0  # all kept: nothing rewritten
    assert cache.prune(lambda oid: False) == 10
    assert cache.bundles.names() == [] and cache.names() == []


def test_gc_of_a_repository_keeps_the_bundle_of_its_commit(repo: Repository) -> None:
    _fill(repo, list(range(N)))
    cache = _cache(repo)
    before = cache.bundles.names()
    repo.gc(grace_seconds=0)
    assert cache.bundles.names() == before
    assert set(cache.names()) == set(_shard_oids(repo).values())


def test_entries_of_several_bundles_are_each_found(tmp_path: Any) -> None:
    """Blob ids of two bundles interleave in sort order: each still leads to its own entry,
    in the writing process and in another."""
    cache = RecordCache(str(tmp_path / "records"), str(tmp_path / "bundles"))
    oids = {i: "%040x" % (i * 104729 + 1) for i in range(2 * BUNDLE_MIN)}
    for half in (0, 1):
        with cache.writing(BUNDLE_MIN) as sink:
            for i in range(half, 2 * BUNDLE_MIN, 2):
                sink.put_ints(oids[i], np.array([i, -i], dtype=np.int64), np.zeros(2, dtype="S32"))
    assert len(cache.bundles.names()) == 2
    for reader in (cache, RecordCache(str(tmp_path / "records"), str(tmp_path / "bundles"))):
        for i, oid in oids.items():
            block = reader.get(oid)
            assert block is not None and block.keys == [i, -i]
