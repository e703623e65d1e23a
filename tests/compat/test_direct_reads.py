"""Random reads sliced straight from the store's files (issue 12: 200,000 reads/s in a fresh
process), checked for what matters more than speed: never a wrong byte.

Rows of random bytes do not compress, so blosc2 keeps their chunks as they are and a read
slices an object out of the mapped data file, where the column's locations file (written
by the flush) says it lies, verifying it against its BLAKE3 digest. A damaged byte, a
stale or damaged locations file, compressible rows, staged changes: each must still give
the right value or the right error. The checks count store calls in a new interpreter,
so they cannot flake on a busy machine.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.storage.codec import compress, stored_plain
from hangar_git.storage.locations import HEAD

from tests.subprocesses import python_env, run_python

from .conftest import new_repo

N = 20_000
"""The smallest column with a key index (two shard levels)."""
ROWS = np.random.default_rng(12).integers(0, 256, size=(N + 3000, 16), dtype=np.uint8)

_READER = """
import json, sys
from hangar_git import Repository
from hangar_git.errors import IntegrityError
from hangar_git.storage.tiledb_store import TileDBStore
calls = {"read": 0, "read_raw": 0}
def count(name, real):
    def counted(*args, **kwargs):
        calls[name] += 1
        return real(*args, **kwargs)
    return counted
TileDBStore.read = count("read", TileDBStore.read)
TileDBStore.read_raw = count("read_raw", TileDBStore.read_raw)
col = Repository(PATH).checkout(commit=COMMIT or None)[COLUMN]
values = {}
for k in KEYS:
    try:
        v = col.get(k)
        values[repr(k)] = None if v is None else v.tolist()
    except IntegrityError as exc:
        values[repr(k)] = "IntegrityError: " + str(exc)
print(json.dumps({"values": values, "calls": calls}))
"""


def _fresh_reads(path: str, keys: list, column: str = "x", commit: str = "") -> dict[str, Any]:
    code = f"PATH, COMMIT, COLUMN = {path!r}, {commit!r}, {column!r}\nKEYS = {json.dumps(keys)}\n" + _READER
    proc = run_python(code, python_env(), timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _hangar_dir(repo: Repository) -> Path:
    return Path(GitRepo.discover(repo.path).git_dir) / "hangar"  # type: ignore[union-attr]


def _locations(repo: Repository) -> list[Path]:
    folder = _hangar_dir(repo) / "locations"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def rows(tmp_path: Path) -> Repository:
    repo = new_repo(tmp_path / "rows")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(16, dtype=np.uint8))
        col.update({i: ROWS[i] for i in range(N)})
        co.commit("random rows")
    return repo


def test_fresh_random_reads_are_sliced_where_the_locations_file_says(rows: Repository) -> None:
    assert len(_locations(rows)) == 1
    keys = np.random.default_rng(0).integers(0, N, size=1000).tolist() + [-1, N, N + 7]
    got = _fresh_reads(rows.path, keys)
    assert got["calls"] == {"read": 0, "read_raw": 0}           # no pack index lookup at all
    for k in keys:
        assert got["values"][repr(k)] == (ROWS[k].tolist() if 0 <= k < N else None), k


def test_a_damaged_byte_is_an_integrity_error_for_its_sample_only(rows: Repository) -> None:
    (pack,) = (_hangar_dir(rows) / "store" / "data").glob("*.pack")
    blob = pack.read_bytes()
    at = blob.find(ROWS[777].tobytes())
    assert at > 0 and blob.find(ROWS[777].tobytes(), at + 1) < 0
    with open(pack, "r+b") as fh:
        fh.seek(at + 3)
        fh.write(bytes([blob[at + 3] ^ 0x20]))
    got = _fresh_reads(rows.path, [776, 777, 778, 777])
    assert got["values"]["776"] == ROWS[776].tolist() and got["values"]["778"] == ROWS[778].tolist()
    assert got["values"]["777"].startswith("IntegrityError: sample 777 of column 'x'")
    assert got["calls"]["read"] >= 1                          # the damage went the checked way


@pytest.mark.parametrize("damage", ["shifted", "garbage", "truncated", "other-rows"])
def test_a_stale_or_damaged_locations_file_never_gives_a_wrong_value(rows: Repository, damage: str) -> None:
    (path,) = _locations(rows)
    blob = bytearray(path.read_bytes())
    if damage == "shifted":          # every hint points at the next object: all fail their digest
        records = np.frombuffer(blob, dtype="<u8", count=2 * N, offset=HEAD).copy()
        records[0::2] += 16
        blob[HEAD:HEAD + 16 * N] = records.tobytes()
    elif damage == "garbage":
        blob[HEAD:HEAD + 16 * N] = np.random.default_rng(1).integers(0, 256, 16 * N, dtype=np.uint8).tobytes()
    elif damage == "truncated":
        del blob[len(blob) // 2:]
    else:                            # written for one row fewer: not this column's file
        blob[8:16] = (N - 1).to_bytes(8, "little")
    path.write_bytes(bytes(blob))
    keys = list(range(0, N, 211))
    got = _fresh_reads(rows.path, keys)
    assert all(got["values"][repr(k)] == ROWS[k].tolist() for k in keys)
    assert got["calls"]["read_raw"] == len(keys)              # each read fell back to the store


@pytest.mark.parametrize("changed, written", [(N // 8 - 1, False), (N // 8, True), (N // 8 + 1, True)])
def test_a_flush_writes_locations_when_it_changes_an_eighth_of_the_rows(
        rows: Repository, changed: int, written: bool) -> None:
    with rows.checkout(write=True) as co:
        co["x"].update({i: ROWS[N + i] for i in range(changed)})
        commit = co.commit("changes")
    assert len(_locations(rows)) == (2 if written else 1)
    keys = [0, changed - 1, changed, N - 1]
    got = _fresh_reads(rows.path, keys, commit=commit)
    want = {0: ROWS[N].tolist(), changed - 1: ROWS[N + changed - 1].tolist(),
            changed: ROWS[changed].tolist(), N - 1: ROWS[N - 1].tolist()}
    assert got["values"] == {repr(k): v for k, v in want.items()}
    assert (got["calls"]["read_raw"] == 0) is written


def test_compressible_rows_and_staged_changes_read_through_the_store(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "zeros")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("z", prototype=np.zeros(16, dtype=np.uint8))
        col.update({i: np.full(16, i % 7, dtype=np.uint8) for i in range(N)})
        co.commit("compressible rows")
    got = _fresh_reads(repo.path, [0, 6, N - 1], column="z")
    assert got["values"] == {"0": [0] * 16, "6": [6] * 16, repr(N - 1): [(N - 1) % 7] * 16}
    assert got["calls"]["read_raw"] == 3                      # no direct hint for compressed chunks
    with repo.checkout(write=True) as co:
        co["z"][3] = np.full(16, 99, dtype=np.uint8)
        assert co["z"][3].tolist() == [99] * 16 and co["z"][4].tolist() == [4] * 16


def test_str_and_int_keys_stay_distinct(rows: Repository) -> None:
    with rows.checkout(write=True) as co:
        co["x"].update({str(i): ROWS[N + i] for i in range(50)})
        commit = co.commit("str keys beside the int keys")
    keys: list = [5, "5", 49, "49", 50, "50"]
    got = _fresh_reads(rows.path, keys, commit=commit)
    assert got["values"] == {"5": ROWS[5].tolist(), "'5'": ROWS[N + 5].tolist(), "49": ROWS[49].tolist(),
                             "'49'": ROWS[N + 49].tolist(), "50": ROWS[50].tolist(), "'50'": None}


def test_forked_children_read_through_the_parents_maps(rows: Repository) -> None:
    proc = run_python(f"""
        import multiprocessing as mp
        from hangar_git import Repository
        col = Repository({rows.path!r}).checkout()["x"]
        col[0]                                          # the parent maps every file first
        def child(q, keys):
            q.put([col[k].tolist() for k in keys])
            q.close(); q.join_thread()
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        kids = [ctx.Process(target=child, args=(q, list(range(s, {N}, 997)))) for s in (1, 2)]
        for p in kids: p.start()
        got = sorted(q.get(timeout=60) for _ in kids)
        for p in kids: p.join(60)
        print(got)
    """, python_env(), timeout=120)
    want = sorted([ROWS[k].tolist() for k in range(s, N, 997)] for s in (1, 2))
    assert proc.stdout.strip().splitlines()[-1] == str(want)


@pytest.mark.parametrize("size", [1, 100, 1 << 18])
def test_stored_plain_finds_incompressible_bytes_only(size: int) -> None:
    data = os.urandom(size)
    stored = compress(data, 1)
    at = stored_plain(stored, len(stored), size)
    assert at > 0 and stored[at:] == data
    assert stored_plain(stored, len(stored) - 1, size) == -1   # lengths that disagree: not plain
    assert stored_plain(stored, len(stored), size + 1) == -1
    assert stored_plain(stored[:15], len(stored), size) == -1
    zeros = compress(bytes(size), 1)                            # compressed (a lone byte is kept as is)
    assert (stored_plain(zeros, len(zeros), size) == -1) is (size > 1)


def test_gc_keeps_locations_until_it_moves_objects_then_reads_still_hold(rows: Repository) -> None:
    rows.create_branch("dev")
    with rows.checkout(write=True, branch="dev") as co:
        co["x"].update({i: ROWS[N + i % 3000] for i in range(N // 8)})
        co.commit("dev rows")
    assert len(_locations(rows)) == 2
    assert rows.gc(grace_seconds=0).removed == 0 and len(_locations(rows)) == 2   # nothing moved
    rows.checkout(write=True, branch="master").close()           # the write branch again
    rows.remove_branch("dev", force_delete=True)
    result = rows.gc(grace_seconds=0)
    assert result.removed > 0 and _locations(rows) == []   # objects moved: every hint is stale
    keys = list(range(0, N, 401))
    got = _fresh_reads(rows.path, keys)
    assert all(got["values"][repr(k)] == ROWS[k].tolist() for k in keys)


def test_a_local_store_reads_without_loading_tiledb(rows: Repository) -> None:
    """TileDB costs ~30 ms to import: a DataLoader worker reading a local store never needs it."""
    proc = run_python(f"""
        import sys
        from hangar_git import Repository
        col = Repository({rows.path!r}).checkout()["x"]
        assert col[5].tolist() == {ROWS[5].tolist()!r} and len(col.get_many([1, 2])) == 2
        print("tiledb" in sys.modules)
    """, python_env())
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_a_key_index_is_summed_once_then_again_only_when_written_since(rows: Repository) -> None:
    (index,) = (_hangar_dir(rows) / "keys").iterdir()
    marker = _hangar_dir(rows) / "keys-checked" / index.name
    st = index.stat()
    assert marker.read_bytes() == f"{st.st_size} {st.st_mtime_ns} {st.st_ino}\n".encode()
    digests_at = 32 + 8 * N                                   # header, then the keys
    with open(index, "r+b") as fh:                            # row 10's digest now names row 11's object
        fh.seek(digests_at + 32 * 11)
        eleven = fh.read(32)
        fh.seek(digests_at + 32 * 10)
        fh.write(eleven)
    os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))   # written a second later
    keys = [10, 11] + list(range(12, N, 300))                # enough shards for the reader to rebuild it
    got = _fresh_reads(rows.path, keys)
    assert all(got["values"][repr(k)] == ROWS[k].tolist() for k in keys)      # refused: read via shards
    (rebuilt,) = (_hangar_dir(rows) / "keys").iterdir()
    st = rebuilt.stat()
    assert marker.read_bytes() == f"{st.st_size} {st.st_mtime_ns} {st.st_ino}\n".encode()
    with open(rebuilt, "r+b") as fh:                          # the same damage, time and size kept
        fh.seek(digests_at + 32 * 10)
        fh.write(eleven)
    os.utime(rebuilt, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = rows.fsck(quick=True)                            # the audit sums every file whole
    assert any("key index" in p for p in report.problems)
    assert not rebuilt.exists() and not marker.exists()


def test_locations_are_the_same_looked_up_in_blocks(rows: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    """locations_of a block at a time (7 digests: a block of -1, exactly and +1 around the
    end) gives the file the one-block look-up gives, digests repeated and absent too."""
    from hangar_git.storage import rawreads
    from hangar_git.storage.objects import digest_of, digests_to_raw, ndarray_meta
    store = rows.ctx.store
    digests = [digest_of(ndarray_meta(np.dtype(np.uint8), (16,)), ROWS[i].tobytes()) for i in range(20)]
    assert all(store.contains(d) for d in digests)
    raws = digests_to_raw(digests + digests[:3] + ["%064x" % 5])
    def located() -> bytes:
        parts = store.locations_of(raws)
        assert parts is not None
        return b"".join(parts)
    whole = located()
    for block in (6, 7, 8, 1):
        monkeypatch.setattr(rawreads, "LOCATIONS_BLOCK", block)
        assert located() == whole


def test_locations_of_reports_each_block_done(rows: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    """``after_block`` is called once a block of look-ups (24 digests in blocks of 7: 4 calls;
    of 8: 3; of 24: 1), and the file is the same with it or without."""
    from hangar_git.storage import rawreads
    from hangar_git.storage.objects import digest_of, digests_to_raw, ndarray_meta
    store = rows.ctx.store
    raws = digests_to_raw([digest_of(ndarray_meta(np.dtype(np.uint8), (16,)), ROWS[i].tobytes()) for i in range(24)])
    whole = b"".join(store.locations_of(raws) or [])
    for block, calls in ((7, 4), (8, 3), (24, 1)):
        monkeypatch.setattr(rawreads, "LOCATIONS_BLOCK", block)
        done: list[int] = []
        assert b"".join(store.locations_of(raws, after_block=lambda: done.append(1)) or []) == whole
        assert len(done) == calls


def _rss_file_kb() -> int:
    return int(Path("/proc/self/status").read_text().split("RssFile:")[1].split()[0])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status")
def test_a_key_index_read_whole_gives_its_pages_back(rows: Repository) -> None:
    """A key index walked whole (as a locations file's look-ups walk it) and then released
    leaves the process's resident size (its 800 KB of file pages), and reads the same after."""
    (path,) = (_hangar_dir(rows) / "keys").iterdir()
    index = GitRepo.discover(rows.path).key_indexes.open(path.name)  # type: ignore[union-attr]
    assert index is not None
    before = index.digests.copy()
    assert int(index.digests.view(np.uint8).sum()) > 0      # every page read
    resident = _rss_file_kb()
    index.release_pages()
    assert resident - _rss_file_kb() >= 0.8 * path.stat().st_size / 1024
    assert (index.digests == before).all()
