"""The staging area: persisted across processes, reset, commit rules, context managers."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hangar_git import HangarError, NothingToCommitError, Repository, SchemaError

from .conftest import PyRunner, assert_same_array

WRITE_AND_CLOSE = """
    import numpy as np
    from hangar_git import Repository
    repo = Repository({path!r})
    co = repo.checkout(write=True)
    col = co.add_ndarray_column("arr", prototype=np.zeros((2, 3), np.float32))
    for i in range(5):
        col[i] = np.full((2, 3), i, np.float32)
    co.add_str_column("text")["k"] = "staged text"
    co.metadata["note"] = "staged"
    co.close()          # no commit
    print("closed")
"""


def test_staged_changes_persist_across_processes(repo: Repository, run_py: PyRunner) -> None:
    out = run_py(WRITE_AND_CLOSE.format(path=repo.path)).stdout
    assert out.strip() == "closed"
    assert repo.list_branches() == ["master"]  # nothing committed yet: the write branch only
    out = run_py(f"""
        import numpy as np
        from hangar_git import Repository
        repo = Repository({repo.path!r})
        co = repo.checkout(write=True)
        col = co["arr"]
        assert sorted(col.keys()) == [0, 1, 2, 3, 4], list(col.keys())
        for i in range(5):
            assert (col[i] == i).all() and col[i].dtype == np.float32
        assert co["text", "k"] == "staged text" and co.metadata["note"] == "staged"
        print(co.commit("from the third process"))
        co.close()
    """).stdout
    digest = out.strip()
    with repo.checkout() as co:
        assert co.commit_hash == digest
        assert_same_array(co["arr", 4], np.full((2, 3), 4, np.float32))
        assert co["text", "k"] == "staged text" and co.metadata["note"] == "staged"


def test_reset_staging_area_drops_changes_made_in_another_process(repo: Repository,
                                                                 run_py: PyRunner) -> None:
    with repo.checkout(write=True) as co:
        co.add_str_column("base")["k"] = "committed"
        head = co.commit("base")
    run_py(WRITE_AND_CLOSE.format(path=repo.path))
    with repo.checkout(write=True) as co:
        assert "arr" in co.columns and len(co["arr"]) == 5
        assert co.reset_staging_area() == head
        assert co.columns.keys() == ["base"] and "note" not in co.metadata
        assert not co.has_changes
        with pytest.raises(NothingToCommitError):
            co.commit("nothing left")
    with repo.checkout(write=True) as co:      # and the reset itself persisted
        assert co.columns.keys() == ["base"]
        assert co["base", "k"] == "committed"


def test_reset_staging_area_in_process(wco: Any) -> None:
    wco.add_str_column("c")["k"] = "v"
    first = wco.commit("first")
    wco["c"]["k"] = "changed"
    wco["c"]["new"] = "n"
    wco.add_bytes_column("extra")
    wco.metadata["m"] = "x"
    assert wco.reset_staging_area() == first
    assert wco.columns.keys() == ["c"] and dict(wco["c"].items()) == {"k": "v"}
    assert len(wco.metadata) == 0
    with pytest.raises(NothingToCommitError):
        wco.commit("nothing")


def test_reset_before_first_commit_empties_everything(wco: Any) -> None:
    wco.add_str_column("c")["k"] = "v"
    wco.flush()
    assert wco.reset_staging_area() == ""
    assert len(wco.columns) == 0
    with pytest.raises(NothingToCommitError):
        wco.commit("empty")


def test_commit_rules(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        with pytest.raises(NothingToCommitError):
            co.commit("nothing in a new repo")
        co.add_str_column("c")["k"] = "v"
        with pytest.raises(SchemaError):
            co.commit("")
        with pytest.raises(SchemaError):
            co.commit("   ")
        first = co.commit("first")
        assert len(first) == 40 and all(ch in "0123456789abcdef" for ch in first)
        with pytest.raises(NothingToCommitError):
            co.commit("no changes")
        co["c"]["k"] = "v"                    # same value again: no change
        with pytest.raises(NothingToCommitError):
            co.commit("same value")
        co["c"]["k2"] = "x"
        del co["c"]["k2"]                     # added and removed: no change
        with pytest.raises(NothingToCommitError):
            co.commit("added then removed")
        co.metadata["m"] = "x"
        second = co.commit("metadata")
        assert second != first
    with repo.checkout(write=True) as co:
        with pytest.raises(NothingToCommitError):
            co.commit("reopened, nothing")


def test_staged_changes_survive_close_and_reopen_in_process(repo: Repository) -> None:
    co = repo.checkout(write=True)
    co.add_str_column("c")["k"] = "staged"
    co.close()
    reader_error = None
    try:
        repo.checkout()                          # nothing committed: no branch to read
    except HangarError as exc:
        reader_error = exc
    assert reader_error is not None
    with repo.checkout(write=True) as co:
        assert co["c", "k"] == "staged" and co.has_changes
        co.commit("now")
    with repo.checkout() as co:
        assert co["c", "k"] == "staged"


def test_writer_context_manager_closes_and_releases(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        assert repo.writer_lock_held and not co.closed
        co.add_str_column("c")["k"] = "v"
    assert co.closed and not repo.writer_lock_held
    with pytest.raises(RuntimeError):
        with repo.checkout(write=True) as co:
            co["c"]["k2"] = "v2"
            raise RuntimeError("boom")
    assert co.closed and not repo.writer_lock_held
    with repo.checkout(write=True) as co:     # the staged write before the error was kept
        assert dict(co["c"].items()) == {"k": "v", "k2": "v2"}


def test_reader_context_manager(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "v"
        co.commit("c")
    with repo.checkout() as reader:
        assert reader["c", "k"] == "v"
    assert reader.closed


def test_staging_of_one_branch_blocks_a_writer_on_another(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "v"
        co.commit("base")
    repo.create_branch("dev")
    with repo.checkout(write=True, branch="master") as co:
        co["c"]["k"] = "uncommitted on master"
    with pytest.raises(HangarError, match="uncommitted"):
        repo.checkout(write=True, branch="dev")
    assert not repo.writer_lock_held
    with repo.checkout(write=True, branch="master") as co:
        assert co["c", "k"] == "uncommitted on master"
        co.reset_staging_area()
    with repo.checkout(write=True, branch="dev") as co:
        co["c"]["k"] = "on dev"
        co.commit("dev change")
    with repo.checkout(branch="master") as co:
        assert co["c", "k"] == "v"


def test_reset_staging_area_with_a_held_column_handle(repo: Repository, wco: Any) -> None:
    """Regression: a column object held across reset_staging_area kept the dropped
    changes and wrote them back at the next flush, undoing the reset."""
    col = wco.add_str_column("c")
    col[0] = "committed"
    wco.commit("one")
    col[1] = "dropped by the reset"
    wco.reset_staging_area()
    assert 1 not in col and len(col) == 1
    col[2] = "written after the reset"
    assert wco["c", 2] == "written after the reset"
    digest = wco.commit("two")
    with repo.checkout(commit=digest) as co:
        assert dict(co["c"].items()) == {0: "committed", 2: "written after the reset"}


def test_metadata_handle_stays_live_across_reset(tmp_path):
    from hangar_git import Repository
    repo = Repository(str(tmp_path / "r"), exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        meta = co.metadata
        meta["a"] = "1"
        co.commit("a")
        meta["b"] = "2"
        co.reset_staging_area()
        assert "b" not in meta and meta["a"] == "1"
        meta["c"] = "3"
        co.commit("c")
    with repo.checkout() as co:
        assert co.metadata.as_dict() == {"a": "1", "c": "3"}
