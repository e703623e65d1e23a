"""History: every past commit reads exactly as written; branches."""
from __future__ import annotations

import numpy as np
import pytest

from hangar_git import (AlreadyExistsError, BranchNotFoundError, CommitNotFoundError, HangarError,
                        InvalidNameError, Repository, SampleNotFoundError)

from .conftest import History, assert_same_array


def check_commit(h: History, i: int, repo: Repository | None = None) -> None:
    with (repo or h.repo).checkout(commit=h.commits[i]) as co:
        assert co.commit_hash == h.commits[i]
        col = co["arr"]
        assert len(col) == len(h.arrays[i])
        assert set(col.keys()) == set(h.arrays[i])
        for key, arr in h.arrays[i].items():
            assert_same_array(col[key], arr)
        assert {k: v.tobytes() for k, v in col.items()} == {k: v.tobytes() for k, v in h.arrays[i].items()}
        if h.texts[i]:
            assert dict(co["text"].items()) == h.texts[i]
        else:
            assert "text" not in co.columns
        assert dict(co.metadata.items()) == h.metadata[i]


def test_every_commit_reads_as_written_after_newer_ones(committed: History) -> None:
    for i in (0, 2, 1, 0):
        check_commit(committed, i)


def test_history_survives_a_new_repository_object(committed: History) -> None:
    fresh = Repository(committed.repo.path)
    for i in range(3):
        check_commit(committed, i, fresh)
    with fresh.checkout() as co:
        assert co.commit_hash == committed.commits[-1]


def test_deleted_and_overwritten_keys_per_commit(committed: History) -> None:
    c0, c1, c2 = committed.commits
    with committed.repo.checkout(commit=c0) as co:
        assert 2 in co["arr"] and "new" not in co["arr"]
    with committed.repo.checkout(commit=c1) as co:
        assert 2 not in co["arr"] and "new" in co["arr"]
        with pytest.raises(SampleNotFoundError):
            co["arr", 2]
        assert_same_array(co["arr", 1], np.full((4, 3), 7, np.float32))
    with committed.repo.checkout(commit=c2) as co:
        assert_same_array(co["arr", 0], committed.arrays[2][0])


def test_commit_references(committed: History) -> None:
    repo, c1 = committed.repo, committed.commits[1]
    for spec in (c1, f"a={c1}", c1[:12], f"a={c1[:8]}"):
        with repo.checkout(commit=spec) as co:
            assert co.commit_hash == c1
    for bad in ("0" * 40, "zzzz", "abc", "refs/hangar/heads/master", "nope", "master~99"):
        with pytest.raises(CommitNotFoundError):
            repo.checkout(commit=bad)
    for name in ("master", "HEAD"):  # any revision names a commit (API.md), as in git
        with repo.checkout(commit=name) as co:
            assert co.commit_hash == repo.branch_head("master")
    tree = repo.ctx.git.commit_info(c1).tree
    with pytest.raises(CommitNotFoundError):
        repo.checkout(commit=tree)   # an object that is not a commit


def test_reader_of_a_commit_is_not_moved_by_later_commits(committed: History) -> None:
    repo = committed.repo
    reader = repo.checkout()
    with repo.checkout(write=True) as co:
        co["arr"]["later"] = np.ones((4, 3), np.float32)
        later = co.commit("later")
    assert reader.commit_hash == committed.commits[-1] and "later" not in reader["arr"]
    reader.close()
    with repo.checkout() as co:
        assert co.commit_hash == later and "later" in co["arr"]


# -- branches ------------------------------------------------------------------------
def test_branches_diverge_and_read_independently(committed: History) -> None:
    repo = committed.repo
    assert repo.list_branches() == ["master"]
    head = repo.create_branch("dev")
    assert head.name == "dev" and head.digest == committed.commits[-1]
    old = repo.create_branch("from-c0", base_commit=committed.commits[0])
    assert old.digest == committed.commits[0]
    assert repo.list_branches() == ["dev", "from-c0", "master"]

    with repo.checkout(write=True, branch="dev") as co:
        co["arr"]["dev-only"] = np.zeros((4, 3), np.float32)
        dev_commit = co.commit("on dev")
    with repo.checkout(write=True, branch="master") as co:
        del co["arr"][0]
        master_commit = co.commit("on master")

    assert repo.branch_head("dev") == dev_commit
    assert repo.branch_head("master") == master_commit
    with repo.checkout(branch="dev") as co:
        assert co.commit_hash == dev_commit and "dev-only" in co["arr"] and 0 in co["arr"]
    with repo.checkout(branch="master") as co:
        assert "dev-only" not in co["arr"] and 0 not in co["arr"]
    with repo.checkout(branch="from-c0") as co:
        assert co.commit_hash == committed.commits[0] and "text" in co.columns
    assert repo.ctx.git.commit_info(dev_commit).parents == [committed.commits[-1]]


def test_write_checkout_of_a_branch_builds_on_its_head(committed: History) -> None:
    repo = committed.repo
    repo.create_branch("old", base_commit=committed.commits[0])
    with repo.checkout(write=True, branch="old") as co:
        assert "text" in co.columns and co["text", "a"] == "alpha"
        co["text"]["c"] = "gamma"
        new = co.commit("extend old")
    info = repo.ctx.git.commit_info(new)
    assert info.parents == [committed.commits[0]]
    with repo.checkout(commit=new) as co:
        assert dict(co["text"].items()) == {**committed.texts[0], "c": "gamma"}
    with repo.checkout(branch="master") as co:
        assert co.commit_hash == committed.commits[-1]


def test_branch_errors(committed: History) -> None:
    repo = committed.repo
    repo.create_branch("dev")
    with pytest.raises(AlreadyExistsError):
        repo.create_branch("dev")
    for bad in ("", "a..b", "-x", "with space", "end.lock", "a~b", "x" * 201, 5, "a\x00b", "b\ud800",
                "tab\there"):
        with pytest.raises(InvalidNameError):
            repo.create_branch(bad)  # type: ignore[arg-type]
    with pytest.raises(BranchNotFoundError):
        repo.checkout(branch="nope")
    with pytest.raises(BranchNotFoundError):
        repo.checkout(write=True, branch="nope")
    with pytest.raises(BranchNotFoundError):
        repo.remove_branch("nope")
    with pytest.raises(CommitNotFoundError):
        repo.create_branch("bad-base", base_commit="f" * 40)
    assert repo.list_branches() == ["dev", "master"]


def test_remove_branch(committed: History) -> None:
    repo = committed.repo
    repo.create_branch("merged")               # same head as master: safe to delete
    assert repo.remove_branch("merged").name == "merged"
    repo.create_branch("ahead")
    with repo.checkout(write=True, branch="ahead") as co:
        co["arr"]["only-here"] = np.zeros((4, 3), np.float32)
        co.commit("unique")
    with repo.checkout(write=True, branch="master"):
        pass
    with pytest.raises(HangarError):
        repo.remove_branch("ahead")            # its commits are on no other branch
    repo.remove_branch("ahead", force_delete=True)
    with pytest.raises(HangarError):
        repo.remove_branch("master")           # the write branch
    assert repo.list_branches() == ["master"]


def test_first_branch_is_created_by_the_first_commit(repo: Repository) -> None:
    assert repo.list_branches() == ["master"]  # the write branch, before its first commit (as Hangar)
    with pytest.raises(HangarError):
        repo.create_branch("early")
    with pytest.raises(BranchNotFoundError):
        repo.checkout()
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "v"
        digest = co.commit("first")
    assert repo.list_branches() == ["master"] and repo.branch_head("master") == digest
    assert repo.ctx.git.commit_info(digest).parents == []
