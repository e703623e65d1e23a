"""Refs that must not move under a user's feet, and names that must not be branches (each a
regression test from a new user's session): a push into a non-bare repository's write branch
holding staged changes, a staging area whose branch moved anyway, merges of unrelated
histories, a branch named HEAD, and a dead writer reported as open."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import InvalidNameError, UnrelatedHistoriesError

from .conftest import Files, Hangar, add_sample, clone, one_line_error, subprocess_env


@pytest.fixture
def committed(repo_dir: Path, hangar: Hangar, files: Files) -> Path:
    """repo_dir (non-bare) with one commit: sample 'a' of column imgs."""
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "a")
    return repo_dir


def head(path: Path, branch: str = "master") -> str:
    return Repository(str(path)).branch_head(branch)


def keys(path: Path, rev: str = "master") -> list[str]:
    return sorted(Hangar(path).ok("ls", rev, "imgs").stdout.split())


# -- 1. pushes into a non-bare repository's write branch ------------------------------------------
def test_push_into_a_write_branch_with_staged_changes_is_refused(
        committed: Path, hangar: Hangar, files: Files, tmp_path: Path) -> None:
    """Regression: the push was accepted, and every command in the pushed-to repository then
    failed (reset included) until its staging ref was deleted by hand."""
    c3 = clone(tmp_path, committed, "c3")
    hangar.ok("add", "imgs", files / "b.npy")
    add_sample(c3.path, "y", 2.0)
    before = head(committed)
    line = one_line_error(c3("push", "origin", "master"), "'master'", "staged", "git hangar reset")
    assert str(committed) not in line  # (no server-side path)
    assert head(committed) == before
    hangar.ok("commit", "-m", "b")
    assert keys(committed) == ["a", "b"]


def test_push_into_a_clean_write_branch_moves_its_staging_area_along(
        committed: Path, hangar: Hangar, files: Files, tmp_path: Path) -> None:
    """As git's receive.denyCurrentBranch=updateInstead: a clean write branch may be pushed to,
    and its (empty) staging area follows the new head."""
    c3 = clone(tmp_path, committed, "c3")
    pushed = add_sample(c3.path, "y", 2.0)
    c3.ok("push", "origin", "master")
    assert head(committed) == pushed
    assert "No changes" in hangar.ok("status").stdout
    hangar.ok("add", "imgs", files / "b.npy")
    hangar.ok("commit", "-m", "b")
    assert keys(committed) == ["a", "b", "y"]


def _move_under_staged(committed: Path, tmp_path: Path, key: str, value: float) -> str:
    """Move master of ``committed`` forward the way plain git can (a `git push` of the hangar
    ref, which git does not take for the checked-out branch): returns the new head."""
    c3 = clone(tmp_path, committed, "c3")
    pushed = add_sample(c3.path, key, value)
    subprocess.run(["git", "push", "-q", str(committed), "refs/hangar/heads/master:refs/hangar/heads/master"],
                   cwd=c3.path, check=True, capture_output=True)
    assert head(committed) == pushed
    return pushed


def test_staged_changes_whose_branch_moved_are_committed_on_the_new_head(
        committed: Path, hangar: Hangar, files: Files, tmp_path: Path) -> None:
    """Regression: commit, reset, add and checkout all failed with "made on another base
    (branch: master): check out that branch ..." while already on it."""
    hangar.ok("add", "imgs", files / "b.npy")
    pushed = _move_under_staged(committed, tmp_path, "y", 2.0)
    status = hangar.ok("status").stdout
    assert "added: 'b'" in status and "'y'" not in status and "has moved since" in status
    hangar.ok("commit", "-m", "b")
    new = head(committed)
    assert Repository(str(committed)).ctx.git.commit_info(new).parents == [pushed]
    assert keys(committed) == ["a", "b", "y"]


def test_staged_changes_the_moved_branch_already_has_leave_nothing_staged(
        committed: Path, hangar: Hangar, files: Files, tmp_path: Path) -> None:
    """The same change staged here and committed there: nothing is left to commit, and status
    no longer shows it as staged once a writer opened."""
    with Repository(str(committed)).checkout(write=True) as co:
        co["imgs"]["y"] = np.full((2, 3), 2.0, np.float32)
    _move_under_staged(committed, tmp_path, "y", 2.0)
    assert "nothing to commit" in one_line_error(hangar("commit", "-m", "y"))
    out = hangar.ok("status").stdout
    assert "No changes" in out and "moved since" not in out


def test_conflicting_staged_changes_whose_branch_moved_can_be_reset(
        committed: Path, hangar: Hangar, files: Files, tmp_path: Path) -> None:
    """The recovery path, literally: the error names `git hangar reset`, and reset works."""
    hangar.ok("add", "imgs", files / "b.npy")
    pushed = _move_under_staged(committed, tmp_path, "b", 5.0)
    for args in (("commit", "-m", "b"), ("add", "imgs", files / "a.npy"), ("checkout", "-b", "other")):
        one_line_error(hangar(*args), "'master'", "moved", "git hangar reset")
    with pytest.raises(Exception, match="git hangar reset"):
        Repository(str(committed)).checkout(write=True)
    hangar.ok("reset")
    assert head(committed) == pushed
    assert "No changes" in hangar.ok("status").stdout
    with Repository(str(committed)).checkout(write=True) as co:
        co["imgs"]["c"] = np.zeros((2, 3), np.float32)
        co.commit("c")
    assert keys(committed) == ["a", "b", "c"]


# -- 2. unrelated histories ---------------------------------------------------------------------
@pytest.fixture
def unrelated(committed: Path, tmp_path: Path, files: Files) -> Path:
    """Another dataset's repository (no common history with ``committed``)."""
    other = Hangar(tmp_path / "other")
    (tmp_path / "other").mkdir()
    other.ok("init")
    other.ok("add", "vec", files / "b.npy")
    other.ok("commit", "-m", "another dataset")
    return tmp_path / "other"


def test_pull_of_an_unrelated_history_is_refused(committed: Path, hangar: Hangar, unrelated: Path) -> None:
    """Regression: `pull` from another dataset's repository unioned the two datasets."""
    hangar.ok("remote", "add", "origin", unrelated)
    before = head(committed)
    one_line_error(hangar("pull", "origin", "master"), "unrelated", "--allow-unrelated-histories")
    assert head(committed) == before
    hangar.ok("pull", "origin", "master", "--allow-unrelated-histories")
    assert len(Repository(str(committed)).ctx.git.commit_info(head(committed)).parents) == 2


def test_merge_of_an_unrelated_history_is_refused(committed: Path, hangar: Hangar, unrelated: Path) -> None:
    hangar.ok("remote", "add", "origin", unrelated)
    hangar.ok("fetch", "origin", "master")
    before = head(committed)
    one_line_error(hangar("merge", "origin/master"), "unrelated", "--allow-unrelated-histories")
    repo = Repository(str(committed))
    with pytest.raises(UnrelatedHistoriesError, match="allow_unrelated_histories=True"):
        repo.merge("m", "master", "origin/master")
    assert head(committed) == before
    hangar.ok("merge", "origin/master", "--allow-unrelated-histories")
    assert head(committed) != before


# -- 3. branch names git refuses ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["HEAD", "@", "-x", "a..b", "x.lock", "a@{1}", "a b", "a~1"])
def test_branch_names_git_refuses_are_refused(committed: Path, hangar: Hangar, name: str) -> None:
    """Regression: `branch HEAD` was accepted, and `merge HEAD` then merged the write branch."""
    for args in (("branch", "--", name), ("checkout", "-b", "--", name), ("branch", "-m", "master", "--", name)):
        one_line_error(hangar(*args), "invalid branch name")
    with pytest.raises(InvalidNameError):
        Repository(str(committed)).create_branch(name)
    assert Repository(str(committed)).list_branches() == ["master"]


# -- 4. a dead writer -------------------------------------------------------------------------------
def test_status_tells_a_dead_writer_from_a_live_one(committed: Path, hangar: Hangar) -> None:
    """Regression: status said "A write checkout is open" after its process was killed."""
    code = ("import sys, time; from hangar_git import Repository\n"
            f"co = Repository({str(committed)!r}).checkout(write=True)\n"
            "print('open', flush=True); time.sleep(60)\n")
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                          env=subprocess_env()) as writer:
        try:
            assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
            out = hangar.ok("status").stdout
            assert f"A write checkout is open (pid {writer.pid} " in out
        finally:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
    out = hangar.ok("status").stdout
    assert "A write checkout is open" not in out
    assert f"pid {writer.pid}" in out and "gone" in out
    assert not Repository(str(committed)).writer_lock_held
    hangar.ok("checkout", "-b", "next")  # (refused while a writer is open)
    with Repository(str(committed)).checkout(write=True) as co:
        co["imgs"]["z"] = np.zeros((2, 3), np.float32)
        co.commit("z")
    assert "pid" not in hangar.ok("status").stdout
