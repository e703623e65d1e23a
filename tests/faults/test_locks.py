"""Lock files left by a killed process are recovered with a clear message; a live holder's
lock is never taken.

(The writer lock of a killed `git hangar` is covered by test_kill: every rerun after a
kill inside a write checkout must say "recovered a stale writer lock left by pid N";
tests/concurrency races live processes for it.) Here: git's own ``<ref>.lock`` files, which
a SIGKILL inside libgit2's ref update leaves behind and which made every later commit of
the branch fail with a traceback.
"""
from __future__ import annotations

import subprocess
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from hangar_git import Repository

from .world import World, assert_state, git_fsck, git_hangar, hangar_fsck, head, parents, place


def test_stale_ref_lock_of_a_branch_is_removed_with_a_warning(world: World, tmp_path: Path) -> None:
    repo = place(world.client["c0"], tmp_path / "client")
    lock = repo / ".git" / "refs/hangar/heads/master.lock"
    lock.write_text("")  # what a SIGKILL inside libgit2's ref update leaves
    d = world.data
    for args in (["add", "small", *d.new_small], ["add", "big", *d.new_big], ["commit", "-m", "c1"]):
        result = git_hangar(*args, cwd=repo)
        assert result.returncode == 0, result.stderr
    assert f"Warning: removed stale git lock file {lock} left by an interrupted process" in result.stderr
    assert not lock.exists()
    new = head(repo)
    assert new is not None and parents(repo, new) == [world.commits["c0"]]
    assert_state(repo, new, d.states["c1"])
    hangar_fsck(repo)
    git_fsck(repo)


def test_stale_packed_refs_lock_is_removed_with_a_warning(world: World, tmp_path: Path) -> None:
    repo = place(world.client["c0"], tmp_path / "client")
    assert git_hangar("branch", "dev", cwd=repo).returncode == 0
    subprocess.run(["git", "pack-refs", "--all"], cwd=repo, check=True)
    lock = repo / ".git" / "packed-refs.lock"
    lock.write_text("")
    result = git_hangar("branch", "-d", "dev", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert f"Warning: removed stale git lock file {lock}" in result.stderr
    assert head(repo, "refs/hangar/heads/dev") is None and not lock.exists()
    git_fsck(repo)


def test_a_git_ref_lock_that_goes_away_is_waited_for_not_removed(world: World, tmp_path: Path) -> None:
    repo = place(world.client["c0"], tmp_path / "client")
    lock = repo / ".git" / "refs/hangar/heads/master.lock"
    lock.write_text("")
    threading.Timer(0.3, lock.unlink).start()  # a git command holding it briefly
    r = Repository(repo)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "removed stale lock" warning
        with r.checkout(write=True) as co:
            co["small"]["late"] = np.zeros((16, 16), np.uint8)
            started = time.monotonic()
            digest = co.commit("late")
    assert time.monotonic() - started >= 0.2
    assert head(repo) == digest
