"""Two real clones sharing one local store (an absolute path): gc in either keeps what
the other needs, refuses while a registered repository is out of sight, and works
again after `gc --forget`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hangar_git import Repository
from hangar_git.errors import SharedStoreError
from hangar_git.storage import registry

from .conftest import GH, assert_samples, close_dropped_stores, commit_samples, run_gh, sample


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Clones ``a`` and ``b`` of one origin, both with their data in ``tmp/shared``."""
    shared = tmp_path / "shared"
    origin = tmp_path / "origin"
    Repository(str(origin), exists=False).init("o", "o@x", bare=True)
    a, b = tmp_path / "a", tmp_path / "b"
    repo_a = Repository(str(a), exists=False)
    repo_a.init("a", "a@x", store_uri=str(shared))
    commit_samples(a, range(0, 3))
    repo_a.remote.add("origin", str(origin))
    repo_a.remote.quiet = True
    repo_a.remote.push("origin", "master")
    Repository(str(b), exists=False).clone("b", "b@x", str(origin), store_uri=str(shared))
    return a, b, shared


def _labels(store: Path) -> set[str]:
    return {e.label for e in registry.entries(str(store))}


def test_both_clones_are_registered(clones: tuple[Path, Path, Path]) -> None:
    a, b, shared = clones
    assert _labels(shared) == {str(a), str(b)}
    ids = {e.id for e in registry.entries(str(shared))}
    assert len(ids) == 2, "a clone must get its own repository id"


def test_gc_in_one_clone_keeps_the_others_samples(clones: tuple[Path, Path, Path], gh: GH) -> None:
    a, b, shared = clones
    commit_samples(b, range(10, 14), message="only in b")
    commit_samples(a, range(20, 22), message="only in a")
    out = gh("gc", "--grace", "0", cwd=a)
    assert str(b) in out and "removed 0 object(s)" in out, out
    assert_samples(b, range(10, 14))
    assert_samples(b, range(0, 3))
    assert_samples(a, range(20, 22))
    close_dropped_stores()
    Repository(str(b)).gc(grace_seconds=0)
    assert_samples(a, range(0, 3))
    assert_samples(a, range(20, 22))


def test_gc_still_frees_what_no_clone_references(clones: tuple[Path, Path, Path]) -> None:
    a, b, shared = clones
    repo = Repository(str(a))
    with repo.checkout(write=True) as co:
        co.columns["x"]["tmp"] = sample(99)
        co.reset_staging_area()
    close_dropped_stores()
    result = repo.gc(grace_seconds=0)
    assert result.removed == 1 and result.shared_with == [str(b)]


def test_gc_refuses_while_a_registered_clone_is_missing(clones: tuple[Path, Path, Path]) -> None:
    a, b, shared = clones
    commit_samples(b, range(10, 12), message="only in b")
    hidden = b.parent / "hidden"
    shutil.move(str(b), str(hidden))  # out of sight (a move nobody has opened yet)
    proc = run_gh("gc", "--grace", "0", cwd=a, check=False)
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(b) in line and f"git hangar gc --forget {b}" in line, line
    shutil.move(str(hidden), str(b))
    assert_samples(b, range(10, 12))


def test_a_moved_clone_is_seen_once_it_ran_a_command(clones: tuple[Path, Path, Path], gh: GH) -> None:
    a, b, shared = clones
    commit_samples(b, range(10, 12), message="only in b")
    moved = b.parent / "moved"
    shutil.move(str(b), str(moved))
    gh("status", cwd=moved)  # any command there registers the new place, replacing the old
    assert _labels(shared) == {str(a), str(moved)}
    gh("gc", "--grace", "0", cwd=a)
    assert_samples(moved, range(10, 12))


def test_forget_a_clone_that_is_gone_for_good(clones: tuple[Path, Path, Path], gh: GH) -> None:
    a, b, shared = clones
    commit_samples(b, range(10, 12), message="only in b")
    shutil.rmtree(b)
    close_dropped_stores()
    with pytest.raises(SharedStoreError):
        Repository(str(a)).gc(grace_seconds=0)
    out = gh("gc", "--grace", "0", "--forget", b, cwd=a)
    assert "removed 2 object(s)" in out, out
    assert _labels(shared) == {str(a)}
    assert_samples(a, range(0, 3))


def test_forget_refuses_a_clone_that_still_uses_the_store(clones: tuple[Path, Path, Path]) -> None:
    a, b, shared = clones
    proc = run_gh("gc", "--forget", b, cwd=a, check=False)
    assert proc.returncode == 1 and "still uses the store" in proc.stderr, proc.stderr
    proc = run_gh("gc", "--forget", a.parent / "nobody", cwd=a, check=False)
    assert proc.returncode == 1 and "no repository" in proc.stderr, proc.stderr
    assert _labels(shared) == {str(a), str(b)}


def test_gc_in_a_copy_loses_nothing_of_the_original(clones: tuple[Path, Path, Path], gh: GH) -> None:
    a, b, shared = clones
    copy = a.parent / "copy"
    subprocess.run(["cp", "-a", str(a), str(copy)], check=True)
    commit_samples(a, range(30, 33), message="original moves on")
    commit_samples(copy, range(40, 42), message="copy moves on")
    gh("gc", "--grace", "0", cwd=copy)
    assert_samples(a, range(30, 33))
    assert_samples(copy, range(40, 42))
    assert _labels(shared) == {str(a), str(b), str(copy)}
    shutil.rmtree(a)  # the original is deleted: the copy (same id, another directory) is not it
    with pytest.raises(SharedStoreError, match="--forget"):
        Repository(str(copy)).gc(grace_seconds=0)
    close_dropped_stores()
    Repository(str(copy)).gc(grace_seconds=0, forget=[str(a)])
    assert_samples(copy, range(40, 42))
    assert_samples(copy, range(0, 3))


def test_another_host_blocks_gc(clones: tuple[Path, Path, Path]) -> None:
    a, b, shared = clones
    far = registry.RepoEntry("f" * 32, "elsewhere.invalid", "/srv/x/.git", "/srv/x")
    registry.register(str(shared), far)
    close_dropped_stores()
    with pytest.raises(SharedStoreError, match="host elsewhere.invalid") as err:
        Repository(str(a)).gc(grace_seconds=0)
    assert "--forget elsewhere.invalid:/srv/x" in str(err.value)
    Repository(str(a)).gc(grace_seconds=0, forget=["elsewhere.invalid:/srv/x"])
