"""Random single reads (``col[key]``) as a DataLoader worker makes them: in a fresh process,
on the first pass, through the column's key index, never loading the record shards.

Issue 12: 10,000 random reads of a million-row column in a fresh process loaded nearly
every shard (about 2,000 reads/s). The checks here count what a read loads, so they
cannot flake on a busy machine.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.bookkeeping.keyindex import MIN_DIGITS
from hangar_git.storage.files import MAP_MIN

from tests.subprocesses import python_env, run_python

from .conftest import new_repo

N = 20_000
"""Enough records for two shard levels (256 shards): the smallest column with a key index."""

_READER = """
import json
from hangar_git import Repository
from hangar_git.bookkeeping import snapshot
from hangar_git.storage import files
from tests.subprocesses import call_counter
loads = {"shards": 0, "blocks": 0, "index_checks": 0}
count = call_counter(loads)
snapshot.SHARDS.get = count("shards", snapshot.SHARDS.get)
snapshot.shard_blocks = count("blocks", snapshot.shard_blocks)
files.checksum_ok = count("index_checks", files.checksum_ok)
repo = Repository(PATH)
co = repo.checkout(commit=COMMIT) if COMMIT else repo.checkout()
col = co[COLUMN]
values = {}
for k in KEYS:
    v = col.get(k)
    values[repr(k)] = None if v is None else (v.tolist() if hasattr(v, "tolist") else v)
print(json.dumps({"values": values, "loads": loads}))
"""


def _value(i: int) -> np.ndarray:
    return np.frombuffer(int(i).to_bytes(8, "little"), dtype=np.uint8)


def _fill(repo: Repository, n: int = N) -> Repository:
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(8, dtype=np.uint8))
        col.update({i: _value(i) for i in range(n)})
        co.commit("rows")
    return repo


def _fresh_reads(path: Path, keys: list, column: str = "x", commit: str = "") -> dict[str, Any]:
    """``col.get(key)`` of each key in a new interpreter: the values, and what it loaded."""
    code = (f"PATH, COMMIT, COLUMN = {str(path)!r}, {commit!r}, {column!r}\n"
            f"KEYS = {json.dumps(keys)}\n" + _READER)
    proc = run_python(code, python_env(), timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _keys_dir(repo: Repository) -> Path:
    return Path(GitRepo.discover(repo.path).git_dir) / "hangar" / "keys"  # type: ignore[union-attr]


@pytest.fixture
def big(tmp_path: Path) -> Repository:
    return _fill(new_repo(tmp_path / "big"))


def test_first_random_reads_in_a_fresh_process_load_no_shard(big: Repository) -> None:
    store = Path(GitRepo.discover(big.path).git_dir) / "hangar" / "store"  # type: ignore[union-attr]
    assert all(idx.stat().st_size >= MAP_MIN for idx in (store / "index").iterdir())  # mapped, not read
    keys = np.random.default_rng(0).integers(0, N, size=2000).tolist() + [N, N + 5, -1]
    got = _fresh_reads(Path(big.path), keys)
    assert got["loads"] == {"shards": 0, "blocks": 0, "index_checks": 0}  # the commit wrote both indexes
    for k in keys:
        want = _value(k).tolist() if 0 <= k < N else None
        assert got["values"][repr(k)] == want, k


def test_a_reader_builds_a_missing_key_index_after_a_few_shards(big: Repository) -> None:
    """A clone or an older version leaves no key index: the first reader builds it once."""
    keys_dir = _keys_dir(big)
    for f in keys_dir.iterdir():
        f.unlink()
    keys = np.random.default_rng(1).integers(0, N, size=500).tolist()
    got = _fresh_reads(Path(big.path), keys)
    assert 0 < got["loads"]["shards"] <= 40 and len(list(keys_dir.iterdir())) == 1
    assert all(got["values"][repr(k)] == _value(k).tolist() for k in keys)
    assert _fresh_reads(Path(big.path), keys)["loads"]["shards"] == 0


def test_a_damaged_key_index_is_ignored_rebuilt_and_reported(big: Repository) -> None:
    (index,) = _keys_dir(big).iterdir()
    with open(index, "r+b") as fh:
        fh.seek(os.path.getsize(index) - 100)
        fh.write(b"\xff" * 8)
    keys = list(range(0, N, 97))
    got = _fresh_reads(Path(big.path), keys)
    assert all(got["values"][repr(k)] == _value(k).tolist() for k in keys)  # read through shards
    assert got["loads"]["shards"] > 0
    with open(index, "r+b") as fh:                       # damage the rebuilt file again
        fh.seek(60)
        fh.write(b"\x00" * 8)
    report = big.fsck(quick=True)
    assert any("key index" in p for p in report.problems) and not index.exists()


def test_reads_across_commits_branches_staged_changes_and_deletions(big: Repository) -> None:
    first = big.checkout().commit_hash
    big.create_branch("dev")
    with big.checkout(write=True, branch="dev") as co:
        col = co["x"]
        for k in range(0, 300):
            del col[k]                                   # deleted keys
        for k in range(300, 600):
            col[k] = _value(k + 1_000_000)               # changed
        for k in range(N, N + 300):
            col[k] = _value(k)                           # added
        co.commit("dev changes")
    with big.checkout(write=True, branch="dev") as co:  # staged, not committed
        col = co["x"]
        col[600] = _value(7)
        del col[601]
        col[N + 400] = _value(N + 400)
        assert col[600].tolist() == _value(7).tolist() and col.get(601) is None
        assert col[N + 400].tolist() == _value(N + 400).tolist() and col[5000].tolist() == _value(5000).tolist()
        assert col.get(0) is None and col[300].tolist() == _value(1_000_300).tolist()
        co.reset_staging_area()
    keys = [0, 299, 300, 599, 600, 601, 5000, N - 1, N, N + 299, N + 400]
    dev = big.checkout(branch="dev").commit_hash
    on_dev = _fresh_reads(Path(big.path), keys, commit=dev)
    on_master = _fresh_reads(Path(big.path), keys, commit=first)
    for got in (on_dev, on_master):
        assert got["loads"]["shards"] == 0 and got["loads"]["blocks"] == 0
    assert len(list(_keys_dir(big).iterdir())) == 2       # derived at the dev commit, not rebuilt
    want_dev = {0: None, 299: None, 300: 1_000_300, 599: 1_000_599, 600: 600, 601: 601, 5000: 5000,
                N - 1: N - 1, N: N, N + 299: N + 299, N + 400: None}
    for k in keys:
        assert on_dev["values"][repr(k)] == (None if want_dev[k] is None else _value(want_dev[k]).tolist()), k
        assert on_master["values"][repr(k)] == (_value(k).tolist() if k < N else None), k


def test_str_keys_use_a_hashed_key_index(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "s")
    with repo.checkout(write=True) as co:
        col = co.add_str_column("t")
        col.update({f"k{i}": f"v{i}" for i in range(N)})
        col.update({i: f"int {i}" for i in range(50)})   # mixed keys
        co.commit("text")
    with repo.checkout(write=True) as co:
        del co["t"]["k5"]
        co["t"]["new"] = "fresh"
        co.commit("more text")
    keys: list = ["k0", "k5", "k19999", "new", "absent", 3, 60]
    got = _fresh_reads(Path(repo.path), keys, column="t")
    assert got["loads"]["shards"] == 0
    assert got["values"] == {"'k0'": "v0", "'k5'": None, "'k19999'": "v19999", "'new'": "fresh",
                             "'absent'": None, "3": "int 3", "60": None}


def test_small_columns_have_no_key_index(tmp_path: Path) -> None:
    repo = _fill(new_repo(tmp_path / "small"), n=2000)
    co = repo.checkout()
    assert co["x"]._records.digits < MIN_DIGITS and co["x"][1999].tolist() == _value(1999).tolist()
    assert not _keys_dir(repo).exists()


def test_a_pack_index_written_after_its_check_is_checked_again(big: Repository) -> None:
    """Pack indexes are mapped and hashed once per file: the marker names the file's size,
    time and inode, so a file written since is hashed (and refused when damaged) again.
    Damage that leaves all three as they were is found by fsck, which hashes every index."""
    store = Path(GitRepo.discover(big.path).git_dir) / "hangar" / "store"  # type: ignore[union-attr]
    (idx,) = (store / "index").iterdir()
    assert (store / "checked" / idx.name[:-4]).exists()
    with open(idx, "r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 1]))
    st = idx.stat()
    os.utime(idx, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # a write a second later
    proc = run_python(f"""
        from hangar_git import Repository
        Repository({str(big.path)!r}).checkout()["x"][5]
    """, python_env(), check=False)
    assert proc.returncode != 0 and "checksum mismatch" in proc.stderr
    report = big.fsck(quick=True)             # lists the index, and rebuilds it from its pack
    assert any("checksum mismatch" in p and "rebuilt" in p for p in report.problems), report
    assert not any("pack index" in p for p in big.fsck(quick=True).problems)


def test_fsck_hashes_every_index_whatever_its_marker_says(big: Repository) -> None:
    """Damage that leaves an index file's size, time and inode as they were passes the marker,
    never fsck: it hashes every index, and rebuilds a corrupt one."""
    store = Path(GitRepo.discover(big.path).git_dir) / "hangar" / "store"  # type: ignore[union-attr]
    (idx,) = (store / "index").iterdir()
    st = idx.stat()
    with open(idx, "r+b") as fh:
        fh.seek(st.st_size - 40)
        byte = fh.read(1)
        fh.seek(st.st_size - 40)
        fh.write(bytes([byte[0] ^ 1]))
    os.utime(idx, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = big.fsck(quick=True)
    assert any(idx.name[:-4] in p and "checksum mismatch" in p and "rebuilt" in p for p in report.problems), report
    assert big.fsck(quick=True).ok


@pytest.mark.slow
def test_a_million_rows_random_reads_in_a_fresh_process(tmp_path: Path) -> None:
    n = 1_000_000
    repo = _fill(new_repo(tmp_path / "m"), n=n)
    keys = np.random.default_rng(2).integers(0, n, size=10_000).tolist()
    got = _fresh_reads(Path(repo.path), keys)
    assert got["loads"] == {"shards": 0, "blocks": 0, "index_checks": 0}
    assert all(got["values"][repr(k)] == _value(k).tolist() for k in keys)


def test_shuffled_batches_in_a_fresh_process_load_no_shard_and_read_no_single_sample(
        big: Repository, tmp_path: Path) -> None:
    """What a spawned DataLoader worker does with each batch of shuffled indices: the keys
    come from the mapped key index (no shard, no record-cache scan), the rows from one
    gather of the store's chunks (no single reads)."""
    pytest.importorskip("torch", reason="the torch extra: pip install -e '.[test,torch]'")
    from hangar_git import make_torch_dataset
    (tmp_path / "ds.pickle").write_bytes(pickle.dumps(make_torch_dataset(big.checkout()["x"])))
    proc = run_python(f"""
        import json, pickle
        import numpy as np
        from hangar_git import Repository, make_torch_dataset
        from hangar_git.bookkeeping import snapshot
        from hangar_git.storage.tiledb_store import TileDBStore
        with open({str(tmp_path / "ds.pickle")!r}, "rb") as fh:
            ds = pickle.load(fh)                                # as a spawned worker gets it
        from tests.subprocesses import call_counter
        calls = {{"shards": 0, "blocks": 0, "read": 0, "gather": 0}}
        count = call_counter(calls)
        snapshot.SHARDS.get = count("shards", snapshot.SHARDS.get)
        snapshot.shard_blocks = count("blocks", snapshot.shard_blocks)
        TileDBStore.read = count("read", TileDBStore.read)
        TileDBStore.gather = count("gather", TileDBStore.gather)
        order = np.random.default_rng(3).permutation(len(ds)).tolist()
        seen = []
        for start in range(0, 2560, 256):
            for sample in ds.__getitems__(order[start:start + 256]):
                seen.append(int.from_bytes(sample.x.tobytes(), "little"))
        assert seen == [ds.keys[i] for i in order[:2560]], "wrong rows"
        print(json.dumps(calls))
    """, python_env(), timeout=120)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"shards": 0, "blocks": 0, "read": 0, "gather": 10}


def test_staging_flushes_leave_no_key_index_behind(big: Repository) -> None:
    """Each flush of a large column derives the key index of its new staging state; the
    one it replaces goes, unless the branch head holds it."""
    keys_dir = _keys_dir(big)
    (head,) = keys_dir.iterdir()
    with big.checkout(write=True) as co:
        for extra in range(3):
            co["x"][N + extra] = _value(N + extra)
            co.flush()
            assert head.exists() and len(list(keys_dir.iterdir())) == 2
        co.commit("three flushes")
    assert len(list(keys_dir.iterdir())) == 2
    got = _fresh_reads(Path(big.path), [0, N, N + 2, N + 3])
    assert got["loads"]["shards"] == 0
    assert got["values"] == {"0": _value(0).tolist(), str(N): _value(N).tolist(),
                             str(N + 2): _value(N + 2).tolist(), str(N + 3): None}
