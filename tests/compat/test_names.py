"""Names Hangar 0.5 code uses, exercised as that code uses them."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import hangar_git
from hangar_git import Repository
from hangar_git.errors import (CheckoutClosedError, IntegrityError, InvalidArgumentError, MissingDataError,
                               MissingDataWarning)
from tests.repos import new_repo
from tests.storecalls import count_store_reads


def test_column_and_checkout_names(committed: Repository) -> None:
    with committed.checkout(write=True) as co:
        assert co.columns["a"].column == "a"
        head = committed.branch_head("master")
        assert co.commit_hash == head
        assert "a" in co and "zz" not in co and len(co) == 3
        assert list(co) == ["a", "b", "s"] == co.keys()
        assert [c.column for c in co.values()] == ["a", "b", "s"]
        assert dict(co.items())["s"] is co.columns["s"]
        co["s", 1] = "changed"
        assert co.commit_hash == head  # the branch head, until the next commit
        digest = co.commit("second")
        assert co.commit_hash == digest
        log = co.log(return_contents=True)
        assert log["order"] == [digest, head]


def test_checkout_log_prints(committed: Repository, capsys: pytest.CaptureFixture) -> None:
    with committed.checkout() as co:
        assert co.log() is None
    assert "first" in capsys.readouterr().out


def test_write_checkout_merge(committed: Repository) -> None:
    committed.create_branch("dev")
    with committed.checkout(write=True, branch="dev") as co:
        co["s", 100] = "from dev"
        dev_head = co.commit("on dev")
    with committed.checkout(write=True, branch="master") as co:  # dev became the write branch
        col = co.columns["s"]
        co["b", 100] = b"from master"
        co.commit("on master")
        merged = co.merge("merge dev", "dev")
        assert co.commit_hash == merged and committed.branch_head("master") == merged
        assert col[100] == "from dev"  # a column held across the merge sees it
        assert committed.log(return_contents=True)["ancestors"][merged][1] == dev_head
        co["s", 101] = "after the merge"
        co.commit("after")


def test_repository_names(committed: Repository) -> None:
    assert committed.version == hangar_git.__version__
    size = committed.size_nbytes
    assert isinstance(size, int) and size > 0
    assert committed.size_human.split()[1] in {"B", "kB", "MB", "GB"}
    assert committed.verify_repo_integrity() is True


def test_verify_repo_integrity_raises_on_damage(repo: Repository) -> None:
    rows = np.random.default_rng(0).integers(0, 255, size=(300, 17), dtype=np.uint8)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=rows[0])
        for i, row in enumerate(rows):
            col[i] = row
        co.commit("rows")
    packs = [p for p in Path(repo.ctx.store_uri, "data").glob("*.pack") if p.stat().st_size > 1000]
    assert packs, "no pack data file found"
    data = bytearray(packs[0].read_bytes())
    middle = len(data) // 2
    data[middle:middle + 16] = bytes(b ^ 0xFF for b in data[middle:middle + 16])
    packs[0].write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="fsck"):
        Repository(repo.path).verify_repo_integrity()


def test_list_branches_right_after_init_and_sorted(repo: Repository) -> None:
    assert repo.list_branches() == ["master"]
    with repo.checkout(write=True) as co:  # the write checkout still works before any commit
        co.add_str_column("s")[0] = "x"
        co.commit("one")
    for name in ("zeta", "Alpha", "beta"):
        repo.create_branch(name)
    assert repo.list_branches() == sorted(["master", "zeta", "Alpha", "beta"])


def test_log_contents_use_hangar_keys(committed: Repository) -> None:
    first = committed.branch_head("master")
    committed.create_branch("dev")
    with committed.checkout(write=True) as co:
        co["s", 0] = "two"
        second = co.commit("second message")
    log = committed.log(return_contents=True)
    assert log is not None
    assert log["order"] == [second, first] and log["eval"] == log["order"]
    assert log["ancestors"][first] == [""] and log["ancestors"][second] == [first]
    spec = log["specs"][second]
    assert spec["commit_message"] == "second message"
    assert spec["commit_author"] == "tester" and spec["commit_email"] == "t@x"
    assert isinstance(spec["commit_time"], float)
    assert log["branch_heads"] == {second: ["master"], first: ["dev"]}


def test_with_columns_batches_and_keeps_the_checkout_open(committed: Repository) -> None:
    co = committed.checkout(write=True)
    with co.columns as cols:
        for i in range(100, 200):
            cols["s"][i] = str(i)
    assert not co.closed and co.columns["s"][150] == "150"
    co.commit("batched")
    co.close()
    with committed.checkout() as ro:
        assert ro["s", 199] == "199"


def test_commit_after_with_co_says_why(committed: Repository) -> None:
    with committed.checkout(write=True) as co:
        co["s", 5] = "staged in the block"
    with pytest.raises(PermissionError, match="with") as info:
        co.commit("too late")
    assert isinstance(info.value, CheckoutClosedError)
    assert not committed.writer_lock_held
    with committed.checkout(write=True) as co:  # the staged change survived the close
        assert co["s", 5] == "staged in the block"
        co.commit("now")


def test_reset_with_nothing_staged_raises(committed: Repository) -> None:
    with committed.checkout(write=True) as co:
        with pytest.raises(RuntimeError, match="nothing to reset"):
            co.reset_staging_area()
        co["s", 0] = "x"
        assert co.reset_staging_area() == committed.branch_head("master")
        assert co["s", 0] == "s0"


def test_backend_options_are_accepted_and_select_nothing(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("a", prototype=np.zeros(3), backend="01",
                                    backend_options={"complib": "blosc:zstd"})
        s = co.add_str_column("s", backend="30")
        assert col.backend == s.backend == "tiledb-vfs" and col.backend_options == {}
        with pytest.raises(ValueError, match="backend"):
            co.add_bytes_column("b", backend=10)  # type: ignore[arg-type]


# -- multi-sample reads ----------------------------------------------------------------
def test_multi_sample_reads(committed: Repository) -> None:
    with committed.checkout() as co:
        got = co[[("a", 0), ("s", 1), ("b", 2), ("a", 9)]]
        assert np.array_equal(got[0], np.zeros(3)) and got[1:3] == ["s1", b"b2"]
        assert np.array_equal(got[3], np.full(3, 9.0))
        assert co["s", [3, 1, 3]] == ["s3", "s1", "s3"]
        assert co.get(("s", 0)) == "s0" and co.get(("s", 999)) is None
        assert co.get([("s", 0), ("s", 999)]) == ["s0", None]
        assert co.get(("nope", 0)) is None
        with pytest.raises(KeyError):
            co.get(("s", 999), except_missing=True)
        with pytest.raises(KeyError):
            co[[("s", 0), ("s", 999)]]
        with pytest.raises(KeyError):
            co["s", [0, 999]]
        assert co.columns["s"].get_many([0, 999], "d") == ["s0", "d"]
        assert co[[]] == []


def test_multi_sample_reads_are_one_batched_store_read(committed: Repository,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with committed.checkout() as co:
        calls = count_store_reads(co._store, monkeypatch)
        assert len(co["s", list(range(10))]) == 10
        assert len(co[[("a", i) for i in range(10)] + [("b", 0)]]) == 11
        assert calls == {"read": 0, "read_many": 2}


def test_multi_read_of_data_not_here_names_it(committed: Repository, tmp_path: Path) -> None:
    clone = Repository(tmp_path / "clone", exists=False)
    committed.remote.add("origin", str(committed.path))
    clone.clone("c", "c@x", str(committed.path))
    with pytest.warns(UserWarning, match="not on this machine"):
        co = clone.checkout()
    with co:
        with pytest.raises(MissingDataError, match="fetch-data"):
            co["s", [0, 1]]
        assert co.get(("s", 999)) is None


# -- remotes ---------------------------------------------------------------------------
def test_remote_ping_push_fetch_warnings(committed: Repository, tmp_path: Path) -> None:
    server = Repository(tmp_path / "server", exists=False)
    server.init("srv", "srv@x", bare=True)
    committed.remote.add("origin", str(server.path))
    rtt = committed.remote.ping("origin")
    assert isinstance(rtt, float) and 0 <= rtt < 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert committed.remote.push("origin", "master", username="", password="") == "master"
    with pytest.warns(UserWarning, match="nothing to push"):
        assert committed.remote.push("origin", "master") == "master"
    with pytest.raises(ValueError, match="SSH keys"):
        committed.remote.push("origin", "master", password="hunter2")
    with pytest.warns(UserWarning, match="nothing to fetch"):
        assert committed.remote.fetch("origin", "master") == "master"
    other = Repository(tmp_path / "other", exists=False)
    other.clone("o", "o@x", str(server.path))
    with other.checkout(write=True) as co:
        co["s", 50] = "from other"
        co.commit("other")
    other.remote.push("origin", "master")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert committed.remote.fetch("origin", "master") == "origin/master"


def test_force_release_writer_lock(committed: Repository) -> None:
    co = committed.checkout(write=True)
    assert committed.force_release_writer_lock() is True
    with committed.checkout(write=True) as again:
        assert again.branch_name == "master"
    co.closed = True  # the first writer is abandoned, as after a crash


def test_with_co_closed_read_checkout(committed: Repository) -> None:
    with committed.checkout() as co:
        col = co.columns["s"]
    with pytest.raises(PermissionError, match="with"):
        col[0]


def test_missing_data_warning_points_at_the_callers_line(tmp_path: Path) -> None:
    """Regression: the warning named hangar_git/api/repository.py, not the user's line."""
    source = new_repo(tmp_path / "source")
    with source.checkout(write=True) as co:
        co.add_ndarray_column("x", prototype=np.zeros(2))[0] = np.zeros(2)
        digest = co.commit("one")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("me", "me@example.com", str(tmp_path / "source"))
    for open_it in (lambda: clone.checkout(), lambda: clone.checkout(branch="master"),
                    lambda: clone.checkout(commit=digest)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            open_it().close()
        [warning] = [w for w in caught if issubclass(w.category, MissingDataWarning)]
        assert warning.filename == __file__, warning.filename


def test_columns_say_they_hold_no_subsamples(committed: Repository) -> None:
    """Regression: `col.contains_subsamples`, which Hangar 0.5 code reads, raised AttributeError."""
    with committed.checkout() as co:
        assert all(col.contains_subsamples is False for col in co.columns.values())


@pytest.mark.parametrize("name", [["s", "a"], ("s", "a"), 3, None])
def test_one_column_read_with_several_names_says_how_to_read_several(committed: Repository, name: object) -> None:
    """Regression: co[['x', 's'], 0] raised a bare TypeError (unhashable list)."""
    with committed.checkout() as co:
        with pytest.raises(InvalidArgumentError, match=r"\(column, key\) pairs") as err:
            co[name, 0]
        assert isinstance(err.value, ValueError)
