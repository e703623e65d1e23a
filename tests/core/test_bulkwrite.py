"""Big writes in bounded memory: staged changes spilled to arrays, the store writing packs as
it goes, a first flush writing shards from arrays (byte-identical to the shard format), and
a killed bulk add leaving a usable repository."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from typing import Any, Optional

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping import changes as changes_mod
from hangar_git.bookkeeping.bulkwrite import write_samples
from hangar_git.bookkeeping.changes import StagedChanges
from hangar_git.bookkeeping.records import shard_digits_for
from hangar_git.bookkeeping.writer import _write_all
from hangar_git.storage import writes as writes_mod
from hangar_git.storage import ndarray_meta
from tests.subprocesses import python_env, run_python


def _digest(rng: random.Random) -> str:
    return "%064x" % rng.getrandbits(256)


def _random_ops(rng: random.Random, n: int) -> list[tuple[str, Optional[str]]]:
    keys = [f"i{rng.randint(-10**15, 10**15)}" for _ in range(n // 3)] + \
           [f"s{rng.randint(0, 10**6)}é€" for _ in range(n // 3)] + [f"i{i}" for i in range(n // 3)]
    return [(rng.choice(keys), None if rng.random() < 0.1 else _digest(rng)) for _ in range(n)]


@pytest.mark.parametrize("count", [7, 8, 9, 200])
def test_staged_changes_match_a_dict_across_spills(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """SPILL_AT - 1, exactly, + 1 and many spills (runs merged past MAX_RUNS)."""
    monkeypatch.setattr(changes_mod, "SPILL_AT", 8)
    rng = random.Random(count)
    staged, truth = StagedChanges(), {}
    for e, d in _random_ops(rng, count) if count == 200 else [(f"i{i}", _digest(rng)) for i in range(count)]:
        staged[e] = d
        truth[e] = d
        assert len(staged) == len(truth)
    assert dict(staged.items()) == truth
    assert all(staged[e] == d and e in staged for e, d in truth.items())
    assert "i-1" not in staged and staged.get("sabsent", "x") == "x"
    run = staged.merged()
    assert dict(run.items()) == truth
    assert dict(staged.items()) == truth  # merged() replaced the runs, lost nothing


@pytest.mark.parametrize("starts", [[100, 0, 50], [0, 8, 16], [0, 7, 14], [10, 3, 0]])
def test_staged_changes_merge_runs_apart_and_touching(monkeypatch: pytest.MonkeyPatch, starts: list[int]) -> None:
    """Runs of 8 keys each: key ranges apart in any order (merged by concatenation), or
    sharing their end keys (the newest digest must win)."""
    monkeypatch.setattr(changes_mod, "SPILL_AT", 8)
    monkeypatch.setattr(changes_mod, "MAX_RUNS", 1)
    staged, truth = StagedChanges(), {}
    for n, start in enumerate(starts):
        for i in range(start, start + 8):
            staged[f"i{i}"] = truth[f"i{i}"] = "%064x" % (1000 * n + i)
    assert dict(staged.merged().items()) == truth and len(staged) == len(truth)
    keys = staged.merged().ints.keys
    assert keys.tolist() == sorted(int(e[1:]) for e in truth)


def test_staged_changes_copy_is_a_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(changes_mod, "SPILL_AT", 4)
    staged = StagedChanges()
    for i in range(10):
        staged[f"i{i}"] = "%064x" % i
    snap = staged.copy()
    staged["i0"] = None
    staged["i99"] = "%064x" % 99
    for i in range(10, 20):
        staged[f"i{i}"] = "%064x" % i
    assert dict(snap.items()) == {f"i{i}": "%064x" % i for i in range(10)}
    assert staged["i0"] is None and len(staged) == 21


@pytest.mark.parametrize("texts", [False, True])
def test_bulk_write_caches_each_shard_as_its_blob_says(repo: Repository, texts: bool) -> None:
    """The record cache entries a bulk write makes (from arrays for int keys) agree with
    their shard blobs, and every shard has one."""
    rng = random.Random(7)
    staged = StagedChanges()
    for i in range(5000):
        staged[f"i{rng.randint(-10**12, 10**12)}" if i % 3 or not texts else f"sk{i}"] = _digest(rng)
    git = repo.ctx.git
    samples, count, _ = write_samples(git, staged.merged())
    assert samples is not None and count == 5000
    cache = git.record_cache
    blobs = [oid for oid in cache.names()]
    assert len(blobs) >= 16 and cache.audit(git.read_blob) == []
    assert sum(len(cache.get(oid).keys) for oid in blobs) == 5000  # type: ignore[union-attr]


@pytest.mark.parametrize("n", [1000, 1024, 1025, 20_000])
def test_bulk_shards_are_byte_identical_to_the_record_format(repo: Repository, n: int) -> None:
    """write_samples makes the same samples tree (so the same shard blobs) as the
    dict path, for int (negative too) and str keys (non-ASCII too), at shard level edges."""
    rng = random.Random(n)
    records = {}
    while len(records) < n:
        k = rng.choice([f"i{rng.randint(-10**12, 10**12)}", f"sκλειδί-{rng.randint(0, 10**9)}", f"s{rng.random()}"])
        records[k] = _digest(rng)
    git = repo.ctx.git
    expected = _write_all(git, records, shard_digits_for(n))
    staged = StagedChanges()
    for e, d in records.items():
        staged[e] = d
    staged["i424242424242424"] = None  # a delete is not a record
    samples, count, digits = write_samples(git, staged.merged())
    assert (samples, count, digits) == (expected, n, shard_digits_for(n))


@pytest.mark.parametrize("block, ahead", [(50, 0), (400, 1), (400, 3)])
def test_bulk_shards_made_in_blocks_on_threads_keep_their_order(repo: Repository, monkeypatch: pytest.MonkeyPatch,
                                                                 block: int, ahead: int) -> None:
    """Blocks smaller than a shard (one shard each), of two shards, taken 0, 1 or 3 ahead:
    the same samples tree as the dict path, and a record cache entry per shard that agrees."""
    from hangar_git.bookkeeping import bulkwrite
    monkeypatch.setattr(bulkwrite, "BLOCK", block)
    monkeypatch.setattr(bulkwrite, "BLOCKS_AHEAD", ahead)
    rng = random.Random(block + ahead)
    records = {f"i{rng.randint(-10**9, 10**9)}" if i % 2 else f"s{i}-ü": _digest(rng) for i in range(3000)}
    git = repo.ctx.git
    expected = _write_all(git, dict(records), shard_digits_for(3000))
    staged = StagedChanges()
    for e, d in records.items():
        staged[e] = d
    shutil.rmtree(git.record_cache.root, ignore_errors=True)
    assert write_samples(git, staged.merged()) == (expected, 3000, shard_digits_for(3000))
    assert len(git.record_cache.names()) == 16 and git.record_cache.audit(git.read_blob) == []


@pytest.mark.parametrize("share", [1, 4])
def test_whole_rewrite_equals_shard_by_shard(repo: Repository, monkeypatch: pytest.MonkeyPatch,
                                             share: int) -> None:
    """A column rewritten from arrays (changes >= 1/REWRITE_SHARE of its records) gets the
    same tree as when only the touched shards are rewritten: adds, overwrites, deletes."""
    from hangar_git.bookkeeping import writer
    from hangar_git.bookkeeping.records import ColumnSchema
    from hangar_git.bookkeeping.snapshot import ColumnRecords
    rng = random.Random(share)
    git = repo.ctx.git
    schema = ColumnSchema("ndarray", "|u1", (3,))
    base_changes = StagedChanges()
    for i in range(5000):
        base_changes[f"i{i}" if i % 3 else f"s{i}ü"] = _digest(rng)
    tree, _ = writer.write_column(git, None, schema, base_changes)
    base = ColumnRecords(git, "x", tree)
    staged = {f"i{i}": _digest(rng) for i in range(4000, 4000 + 5000 // share)}
    staged.update({f"i{i}": None for i in range(1, 300, 3)})
    staged.update({"sabsent": None, "s3ü": _digest(rng)})
    monkeypatch.setattr(writer, "REWRITE_SHARE", 10 ** 9)
    by_shard = writer.write_column(git, base, schema, dict(staged))
    monkeypatch.setattr(writer, "REWRITE_SHARE", 1)
    rewritten = writer.write_column(git, base, schema, dict(staged))
    assert by_shard == rewritten


@pytest.mark.parametrize("count", [15, 16, 17])
def test_store_writes_a_pack_at_the_pending_limit(repo: Repository, monkeypatch: pytest.MonkeyPatch,
                                                  count: int) -> None:
    monkeypatch.setattr(writes_mod, "PENDING_OBJECTS", 16)
    store = repo.ctx.store
    meta = ndarray_meta(np.dtype(np.uint8), (4,))
    digests = [store.put_new(meta, np.full(4, i, np.uint8)) for i in range(count)]
    assert store.pending_count == count % 16
    assert all(store.contains(d) for d in digests)
    assert np.array_equal(np.frombuffer(store.read(digests[-1])[1], np.uint8), np.full(4, count - 1))


def test_columns_across_spills_and_flushes(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writes, overwrites, deletes and no-op puts across many spills and store packs read back
    right, before and after the commit; an iteration keeps the state it started from."""
    monkeypatch.setattr(changes_mod, "SPILL_AT", 16)
    monkeypatch.setattr(writes_mod, "PENDING_OBJECTS", 16)
    rows = np.random.default_rng(0).integers(0, 255, (300, 3), dtype=np.uint8)
    co = repo.checkout(write=True)
    col = co.add_ndarray_column("x", prototype=rows[0])
    with co.columns:
        for i in range(200):
            col[i] = rows[i]
        keys = iter(col.keys())
        first = [next(keys) for _ in range(5)]
        for i in range(200, 300):
            col[f"k{i}"] = rows[i]
        assert col.put(3, rows[3]) is False and col.put(3, rows[4]) is True
        del col[7]
        assert len(list(keys)) + len(first) == 200  # the iteration's snapshot
    expect = {i: rows[i] for i in range(200) if i != 7}
    expect.update({f"k{i}": rows[i] for i in range(200, 300)})
    expect[3] = rows[4]

    def check(column: Any) -> None:
        assert len(column) == len(expect) and 7 not in column
        assert set(column.keys()) == set(expect)
        for k, v in column.items():
            assert np.array_equal(v, expect[k])
    check(col)
    co.commit("spilled")
    check(col)
    co.close()
    with repo.checkout() as ro:
        check(ro.columns["x"])


_WRITE = """
import json, sys
import numpy as np
from hangar_git import Repository
def hwm():
    return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024
n = int(sys.argv[2])
rows = np.random.default_rng(0).integers(0, 255, (n, 16), dtype=np.uint8)
repo = Repository(sys.argv[1], exists=False)
repo.init("t", "t@x")
co = repo.checkout(write=True)
col = co.add_ndarray_column("x", prototype=rows[0])
col[0] = rows[0]
co.commit("one")
base = hwm()
with co.columns:
    for i in range(n):
        col[i] = rows[i]
co.commit("rows")
co.close()
print(json.dumps({"base": base, "peak": hwm()}))
"""


def _peak_growth(tmp: str, n: int) -> float:
    proc = subprocess.run([sys.executable, "-c", _WRITE, os.path.join(tmp, "r"), str(n)], env=python_env(),
                          capture_output=True, text=True, timeout=600, check=True)
    import json
    out = json.loads(proc.stdout)
    return out["peak"] - out["base"]


def test_bulk_write_and_commit_memory_is_bounded(tmp_path: Any) -> None:
    """200,000 rows staged into a committed column and committed, in a fresh process, grow
    its peak RSS by less than 90 MB (70 MB here; about 100 MB before pack indexes were kept
    as mapped files and presence was checked at once; a dict per key grew it by 178 MB)."""
    assert _peak_growth(str(tmp_path), 200_000) < 90


@pytest.mark.slow
def test_million_row_commit_memory_is_bounded(tmp_path: Any) -> None:
    """218 MB here; 415 MB before (presence checked a digest at a time as hex, pack
    indexes held in memory)."""
    assert _peak_growth(str(tmp_path), 1_000_000) < 260


def test_killed_bulk_add_leaves_a_usable_repository(tmp_path: Any) -> None:
    """`git hangar add --rows` killed after the store wrote some packs: nothing is staged,
    status says so, and the same add then commits every row."""
    path = str(tmp_path / "repo")
    Repository(path, exists=False).init("t", "t@x")
    rows = np.random.default_rng(1).integers(0, 255, (200_000, 4), dtype=np.uint8)
    npy = str(tmp_path / "rows.npy")
    np.save(npy, rows)
    log = str(tmp_path / "fault.log")
    argv = [sys.executable, "-m", "hangar_git", "add", "x", "--rows", npy]
    killed = subprocess.run(argv, cwd=path, capture_output=True, text=True, timeout=600,
                            env=python_env({"HANGAR_FAULT": "store.flush.after_index:2", "HANGAR_FAULT_LOG": log}))
    assert killed.returncode == -signal.SIGKILL and os.path.exists(log)
    status = subprocess.run([sys.executable, "-m", "hangar_git", "status", "--json"], cwd=path, capture_output=True,
                            text=True, env=python_env(), check=True)
    told = json.loads(status.stdout)
    assert told["clean"] and told["stale_writer"] and not told["writer_open"]  # the killed add: gone, not open
    with pytest.warns(UserWarning, match="stale writer lock"):
        co = Repository(path).checkout(write=True)
    assert "x" not in co.columns and not co.has_changes
    co.close()
    subprocess.run(argv, cwd=path, capture_output=True, env=python_env(), check=True, timeout=600)
    subprocess.run([sys.executable, "-m", "hangar_git", "commit", "-m", "rows"], cwd=path, env=python_env(),
                   check=True, capture_output=True)
    run_python(f"""
        import numpy as np
        from hangar_git import Repository
        col = Repository({path!r}).checkout().columns["x"]
        rows = np.load({npy!r})
        assert len(col) == len(rows)
        assert all(np.array_equal(col[i], rows[i]) for i in (0, 65535, 65536, 199_999))
        """, python_env())


@pytest.mark.parametrize("n", [15, 16, 17, 40])
def test_put_rows_equals_put_one_by_one(repo: Repository, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """put_rows across ROWS_BLOCK (-1, exactly, +1, several blocks): same records, counts and
    answers as col[k] = v; a later duplicate key wins; unchanged rows count as no change."""
    from hangar_git.api import columns
    monkeypatch.setattr(columns, "ROWS_BLOCK", 16)
    rows = np.random.default_rng(n).integers(0, 255, (n, 2), dtype=np.uint8)
    co = repo.checkout(write=True)
    bulk = co.add_ndarray_column("bulk", prototype=rows[0])
    single = co.add_ndarray_column("single", prototype=rows[0])
    keys = np.arange(n) * 7 - 50
    keys[-1] = keys[0]
    with pytest.raises(KeyError, match="twice"):
        bulk.put_rows(keys, rows)
    assert bulk.put_rows(keys[::-1][:-1], rows[::-1][:-1]) == n - 1  # keys[0] gets rows[-1]
    for k, row in zip(keys.tolist(), rows):
        single[k] = row
    assert len(bulk) == len(single) == n - 1
    assert bulk.put_rows(keys[:-1], rows[:-1]) == 1  # only keys[0] changes (to rows[0])
    assert bulk.put_rows(keys[1:-1], rows[1:-1]) == 0
    co.commit("rows")
    assert co.columns["bulk"].put_rows(keys[1:-1], rows[1:-1]) == 0  # the committed records, by index
    del bulk[int(keys[1])]
    assert bulk.put_rows(keys[1:3], rows[1:3]) == 1 and len(bulk) == n - 1
    bulk["text"] = rows[0]  # a str key: committed lookups go key by key
    co.commit("more")
    assert bulk.put_rows(keys[1:-1], rows[1:-1]) == 0 and bulk.put_rows(keys[1:2], rows[2:3]) == 1
    co.commit("changed")
    co.close()
    with repo.checkout() as ro:
        got = ro.columns["bulk"]
        expect = {int(k): rows[i] for i, k in enumerate(keys[:-1].tolist())}
        expect[int(keys[1])] = rows[2]
        expect["text"] = rows[0]
        assert set(got.keys()) == set(expect)
        for k, v in got.items():
            assert np.array_equal(v, expect[k])


@pytest.mark.parametrize("keys, distinct", [([0, 1, 2, 3], True), ([0, 1, 1, 3], False), ([3, 2, 1, 0], True),
                                           ([0, 2, 1, 2], False), ([5], True), ([-2, -2], False)])
def test_put_rows_refuses_a_repeated_key_in_order_or_not(repo: Repository, keys: list[int], distinct: bool) -> None:
    """Ascending keys are checked at once, others by sorting: a repeat is refused either way."""
    co = repo.checkout(write=True)
    col = co.add_ndarray_column("x", shape=(2,), dtype=np.uint8)
    rows = np.arange(2 * len(keys), dtype=np.uint8).reshape(len(keys), 2)
    if distinct:
        assert col.put_rows(np.array(keys), rows) == len(keys) and len(col) == len(keys)
    else:
        with pytest.raises(KeyError, match="twice"):
            col.put_rows(np.array(keys), rows)
        assert len(col) == 0
    co.close()


def test_put_rows_refuses_what_put_refuses(repo: Repository) -> None:
    from hangar_git.errors import SchemaError
    co = repo.checkout(write=True)
    col = co.add_ndarray_column("x", shape=(2,), dtype=np.uint8)
    with pytest.raises(SchemaError):
        col.put_rows(np.arange(2), np.zeros((2, 2), np.int64))
    with pytest.raises(SchemaError):
        col.put_rows(np.arange(3), np.zeros((2, 2), np.uint8))
    assert len(col) == 0
    co.close()


@pytest.mark.parametrize("n", [15, 16, 17])
def test_cli_row_import_in_blocks(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """`add --rows` of one .npy stages blocks of ROWS_BLOCK rows: every row lands once,
    keyed by row (or --key-from index from --start), cast with --dtype."""
    from click.testing import CliRunner

    from hangar_git.api import importers
    from hangar_git.cli.main import cli
    monkeypatch.setattr(importers, "ROWS_BLOCK", 16)
    monkeypatch.setattr("hangar_git.cli.data.ROWS_BLOCK", 16)
    rows = np.arange(n * 3, dtype=np.int32).reshape(n, 3)
    np.save(tmp_path / "r.npy", rows)
    path = tmp_path / "repo"
    path.mkdir()
    runner = CliRunner()

    def ok(*args: str) -> str:
        result = runner.invoke(cli, ["-C", str(path), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output
    ok("init")
    assert f"Staged {n} sample(s)" in ok("add", "x", "--rows", str(tmp_path / "r.npy"))
    assert f"Staged {n} sample(s)" in ok("add", "y", "--rows", "--key-from", "index", "--start", "100",
                                         "--dtype", "int64", str(tmp_path / "r.npy"))
    assert "Nothing to stage" in ok("add", "x", "--rows", str(tmp_path / "r.npy"))
    ok("commit", "-m", "rows")
    with Repository(str(path)).checkout() as co:
        x, y = co.columns["x"], co.columns["y"]
        assert y.dtype == np.int64 and len(x) == len(y) == n
        assert all(np.array_equal(x[i], rows[i]) and np.array_equal(y[100 + i], rows[i]) for i in range(n))


@pytest.mark.parametrize("lacking", [False, True])
def test_flush_into_a_committed_column_checks_presence_at_once(repo: Repository, monkeypatch: pytest.MonkeyPatch,
                                                               lacking: bool) -> None:
    """A flush of many rows into a committed column whose data is all here keeps it known
    complete, looking the staged digests up in blocks (one ``contains`` call per digest, as
    hex, took 10 s and 200 MB for a million); a staged digest the store lacks (data not
    here) leaves it unknown."""
    from hangar_git.api import writer
    monkeypatch.setattr(writer, "PRESENCE_BLOCK", 7)  # several blocks, the last one short
    rows = np.random.default_rng(3).integers(0, 255, (50, 4), dtype=np.uint8)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=rows[0])
        col[0] = rows[0]
        co.commit("one")
    store = repo.ctx.store
    calls: list[str] = []
    real_contains = type(store).contains
    monkeypatch.setattr(type(store), "contains", lambda self, d: calls.append(d) or real_contains(self, d))
    with repo.checkout(write=True) as co:
        col = co.columns["x"]
        col.put_rows(np.arange(1, 50), rows[1:])
        del col[3]
        if lacking:
            real_absent = type(store).absent
            gone = store.put_new(ndarray_meta(np.dtype(np.uint8), (4,)), rows[9])
            monkeypatch.setattr(type(store), "absent", lambda self, raws: real_absent(self, raws) | (
                raws == np.frombuffer(bytes.fromhex(gone), dtype="S32")))
        co.commit("more")
        from hangar_git.bookkeeping.snapshot import Snapshot
        complete = repo.ctx.presence.is_complete(Snapshot(repo.ctx.git, co.staging_tree).column_trees["x"])
    assert calls == [] and complete is not lacking
