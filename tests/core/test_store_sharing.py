"""The pack layout under sharing: no padding, many writers on one store, gc beside open
readers and writers, damage contained to what a chunk checksum covers."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hangar_git import IntegrityError, Repository
from hangar_git.storage import digest_of, open_store
from hangar_git.api.gc import GcResult

from tests.repos import add_bare_origin, store_bytes

from .conftest import new_repo, python_env


def test_small_commits_add_about_their_size(tmp_path: Path) -> None:
    """Regression: every flush padded the byte log to a 1 MiB tile (10 commits of one
    117-byte sample made an 11 MB store)."""
    repo = new_repo(tmp_path / "r")
    rng = np.random.default_rng(0)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(117, np.uint8))
        co.commit("schema")
        for i in range(10):
            col[i] = rng.integers(0, 256, 117, dtype=np.uint8)
            co.commit(f"sample {i}")
    size = store_bytes(repo.ctx.store_uri)
    assert size < 10 * 117 * 2 + 64 * 1024, size


def test_one_sample_pushes_grow_the_receiving_store_by_about_their_size(tmp_path: Path) -> None:
    """Regression: a server's store grew by 1 MiB per one-sample push (each received batch
    padded the byte log to a tile)."""
    repo = new_repo(tmp_path / "r")
    add_bare_origin(repo, tmp_path / "origin.git")
    origin = Repository(tmp_path / "origin.git")
    rng = np.random.default_rng(1)
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("x", prototype=np.zeros(117, np.uint8))
        co.commit("schema")
    repo.remote.push("origin", "master")
    before = store_bytes(origin.ctx.store_uri)
    for i in range(10):
        with repo.checkout(write=True) as co:
            co["x"][i] = rng.integers(0, 256, 117, dtype=np.uint8)
            co.commit(f"sample {i}")
        repo.remote.push("origin", "master")
    grown = store_bytes(origin.ctx.store_uri) - before
    assert grown < 10 * (117 * 2 + 1024) + 64 * 1024, grown
    with origin.checkout(branch="master") as co:
        assert len(co["x"]) == 10


def test_gc_reports_what_it_removed_and_frees_it(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(1000, np.uint8))
        for i in range(20):
            col[i] = np.full(1000, i, np.uint8)
        co.commit("twenty")
        for i in range(10):
            del col[i]
        co.commit("ten gone")
    before = store_bytes(repo.ctx.store_uri)
    # the ten deleted samples are still in history: nothing is dead yet
    assert repo.gc(grace_seconds=0).removed == 0
    store = repo.ctx.store
    orphan = store.put_new("bytes", os.urandom(5000))  # type: ignore[arg-type]
    store.flush()
    result = repo.gc(grace_seconds=0)
    assert isinstance(result, GcResult) and result.removed == 1 and result.removed_bytes == 5000
    assert not repo.ctx.store.contains(orphan)
    assert store_bytes(repo.ctx.store_uri) <= before + 1024
    assert repo.fsck().ok


def test_gc_beside_another_open_repository_object(tmp_path: Path) -> None:
    """Regression: gc with another Repository open on the same store failed with a TileDB error."""
    repo = new_repo(tmp_path / "r")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("x", prototype=np.zeros(64, np.uint8))
        co["x"][0] = np.arange(64, dtype=np.uint8)
        co.commit("one")
    other = Repository(str(tmp_path / "r"))
    reader = other.checkout()
    assert (reader["x", 0] == np.arange(64)).all()
    repo.gc(grace_seconds=0)
    assert (reader["x", 0] == np.arange(64)).all()
    assert (Repository(str(tmp_path / "r")).checkout()["x", 0] == np.arange(64)).all()
    reader.close()


def _rows_with_a_flipped_pack_byte(path: Path, rows: np.ndarray, at: int) -> None:
    """A repository whose first commit holds ``rows`` (column x) in one pack, then one bit of
    that pack flipped at byte ``at`` (-1: its middle)."""
    repo = new_repo(path)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=rows[0])
        col.update({i: r for i, r in enumerate(rows)})
        co.commit("rows")
    (pack,) = (Path(repo.ctx.store_uri) / "data").glob("*.pack")
    blob = bytearray(pack.read_bytes())
    blob[len(blob) // 2 if at < 0 else at] ^= 0x10
    pack.write_bytes(bytes(blob))


def test_one_flipped_byte_costs_only_the_samples_it_lands_in(tmp_path: Path) -> None:
    """Regression: one flipped byte made a whole chunk of samples unreadable."""
    rows = np.random.default_rng(1).integers(0, 256, (200, 117), dtype=np.uint8)  # incompressible
    _rows_with_a_flipped_pack_byte(tmp_path / "r", rows, at=-1)
    fresh = Repository(str(tmp_path / "r"))
    bad = []
    with fresh.checkout() as co:
        for i in range(len(rows)):
            try:
                got = co["x", i]
            except IntegrityError:
                bad.append(i)
                continue
            assert (got == rows[i]).all()
    assert len(bad) == 1, bad
    report = fresh.fsck()
    assert not report.ok and report.objects_verified == len(rows) - 1
    assert len({p.split("sample data ")[-1].split("object ")[-1][:64] for p in report.problems}) == 1


WRITER = """
import sys
import numpy as np
from hangar_git.storage import digest_of, open_store
uri, seed, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = open_store(uri)
rng = np.random.default_rng(seed)
out = []
for _ in range(rounds):
    for size in (117, 117, 3000, (1 << 20) + seed):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        out.append(store.put_new("bytes", data))
    store.flush()
    if rng.random() < 0.3:
        store.merge_packs()
print(" ".join(out))
"""

GC = """
import sys, time
from hangar_git.storage import open_store
store = open_store(sys.argv[1])
for _ in range(int(sys.argv[2])):
    store.rewrite(lambda d: False, grace_seconds=30.0, force=True)
    time.sleep(0.05)
"""


@pytest.mark.parametrize("where", ["local", "s3"])
def test_writers_merges_and_gc_in_many_processes_lose_nothing(tmp_path: Path, where: str,
                                                             request: pytest.FixtureRequest) -> None:
    """Regression: two clones appending to one shared byte log (a local folder or an S3
    prefix) corrupted each other. Four writer processes (some merging indexes), a gc dropping
    everything older than its grace period, all at once: every object written is there and
    exact afterwards."""
    uri = str(tmp_path / "shared") if where == "local" else request.getfixturevalue("s3_uri")
    open_store(uri, create=True).close()
    env = python_env()
    rounds = "15" if where == "local" else "6"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, uri, str(seed), rounds], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in range(4)]
    gc = subprocess.Popen([sys.executable, "-c", GC, uri, "10"], env=env, stderr=subprocess.PIPE, text=True)
    outs = [w.communicate(timeout=240) for w in writers]
    _, gc_err = gc.communicate(timeout=240)
    assert [w.returncode for w in writers] == [0] * 4, [e for _, e in outs]
    assert gc.returncode == 0, gc_err
    digests = [d for out, _ in outs for d in out.split()]
    assert len(digests) == 4 * int(rounds) * 4
    store = open_store(uri)
    assert store.missing(digests) == []  # type: ignore[arg-type]
    for d, meta, data in store.read_many(digests):  # type: ignore[arg-type]
        assert digest_of(meta, data) == d
    assert store.verify() == []  # type: ignore[attr-defined]
    store.close()


def test_an_old_copy_is_written_again_not_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush that finds its object only in an index older than FRESH_SECONDS writes it again,
    so a gc with a longer grace period cannot remove it under the writer."""
    from hangar_git.storage import writes as tiledb_store
    uri = str(tmp_path / "s")
    store = open_store(uri, create=True)
    d = store.put_new("bytes", b"kept twice")  # type: ignore[arg-type]
    store.flush()
    assert len(os.listdir(os.path.join(uri, "index"))) == 1
    store.put_new("bytes", b"kept twice")  # type: ignore[arg-type]
    store.flush()
    assert len(os.listdir(os.path.join(uri, "index"))) == 1  # fresh: reused
    monkeypatch.setattr(tiledb_store, "FRESH_SECONDS", 0.0)
    store.put_new("bytes", b"kept twice")  # type: ignore[arg-type]
    store.flush()
    assert len(os.listdir(os.path.join(uri, "index"))) == 2  # stale: written again
    store.rewrite(lambda x: False, grace_seconds=3600)
    assert bytes(open_store(uri).read(d)[1]) == b"kept twice"  # type: ignore[arg-type]


def test_damaged_large_object_is_fetched_again(tmp_path: Path) -> None:
    """Regression: after fsck reported damaged local data and said to fetch it again,
    fetch-data printed success and repaired nothing."""
    from ..repos import add_bare_origin
    repo = new_repo(tmp_path / "r")
    big = np.random.default_rng(3).standard_normal((512, 300))  # 1.2 MB: the large tier
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("x", prototype=big)[0] = big
        co.commit("big")
    add_bare_origin(repo, tmp_path / "srv")
    repo.remote.push("origin", "master")
    (path,) = (Path(repo.ctx.store_uri) / "large").glob("*/*")
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 1
    path.write_bytes(bytes(blob))
    fresh = Repository(str(tmp_path / "r"))
    assert not fresh.fsck().ok
    fetched = fresh.remote.fetch_data("origin", branch="master")
    assert fetched
    again = Repository(str(tmp_path / "r"))
    assert again.fsck().ok
    with again.checkout() as co:
        assert (co["x", 0] == big).all()


def test_files_no_index_names_go_once_old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed writer leaves a data file (or temporary file) no index names: gc removes it once
    it is older than the orphan age, and never a younger one (a live writer's)."""
    from hangar_git.storage import maintenance
    from hangar_git.storage.packindex import new_name
    import time
    uri = str(tmp_path / "s")
    store = open_store(uri, create=True)
    keep = store.put_new("bytes", b"live")  # type: ignore[arg-type]
    store.flush()
    old = os.path.join(uri, "data", new_name(at=time.time() - 7200) + ".pack")
    young = os.path.join(uri, "data", new_name() + ".pack")
    old_tmp = os.path.join(uri, "tmp", new_name(at=time.time() - 7200))
    for p in (old, young, old_tmp):
        Path(p).write_bytes(b"partial")
    store.rewrite(lambda d: True, grace_seconds=0, force=True)
    assert not os.path.exists(old) and not os.path.exists(old_tmp) and os.path.exists(young)
    monkeypatch.setattr(maintenance, "ORPHAN_SECONDS", 0.0)
    store.rewrite(lambda d: True, grace_seconds=0, force=True)
    assert not os.path.exists(young)
    assert bytes(open_store(uri).read(keep)[1]) == b"live"


def test_gc_with_a_grace_period_condemns_files_before_removing_them(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A merge in another process may name a data file while a gc decides nobody needs it:
    with a grace period, gc only condemns such files, and a later gc removes them if no
    index names them by then."""
    from hangar_git.storage import maintenance
    uri = str(tmp_path / "s")
    store = open_store(uri, create=True)
    dead = store.put_new("bytes", b"x" * ((1 << 20) + 5))  # type: ignore[arg-type]
    small = store.put_new("bytes", b"small and dead")  # type: ignore[arg-type]
    store.flush()
    files = lambda sub: sorted(os.listdir(os.path.join(uri, sub)))  # noqa: E731
    data_before, large_before = files("data"), files("large")
    assert store.rewrite(lambda d: False, grace_seconds=1e-9).removed == 2  # type: ignore[attr-defined]
    assert not store.contains(dead) and not store.contains(small)
    assert files("large") == large_before and set(data_before) <= set(files("data"))
    assert len(files("condemned")) == 1
    monkeypatch.setattr(maintenance, "CONDEMNED_SECONDS", 0.0)
    store.rewrite(lambda d: True, grace_seconds=1e-9, force=True)  # type: ignore[attr-defined]
    assert not set(data_before) & set(files("data"))
    assert os.listdir(os.path.join(uri, "large", dead[:2])) == [] and files("condemned") == []


def test_fsck_counts_what_one_damaged_chunk_costs_instead_of_listing_every_object(tmp_path: Path) -> None:
    """Regression: one flipped byte of a chunk holding 1,000 objects listed 1,000 problem lines."""
    rows = np.arange(8000, dtype=np.float32).reshape(1000, 8)  # compressible: one chunk
    _rows_with_a_flipped_pack_byte(tmp_path / "r", rows, at=100)
    report = Repository(str(tmp_path / "r")).fsck()
    assert not report.ok
    assert len(report.problems) <= 2 * 101, len(report.problems)
    assert any(p.startswith("... and ") for p in report.problems), report.problems[-3:]
