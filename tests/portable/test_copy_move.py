"""Copies and moves of a repository, through the real `git hangar` CLI."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from hangar_git import Repository
from hangar_git.storage import registry

from .conftest import GH, assert_samples, commit_samples, commit_with_cli, git, run_gh


def _init(gh: GH, path: Path) -> Path:
    path.mkdir()
    gh("init", cwd=path)
    return path


def test_default_store_is_saved_relative(tmp_path: Path, gh: GH) -> None:
    repo = _init(gh, tmp_path / "a")
    value = git("config", "--get", "hangar.store", cwd=repo).strip()
    assert not os.path.isabs(value) and "://" not in value, value
    assert Repository(str(repo)).ctx.store_uri == str(repo / ".git" / "hangar" / "store")


def test_gc_in_a_copy_keeps_the_originals_new_samples(tmp_path: Path, gh: GH) -> None:
    a = _init(gh, tmp_path / "a")
    commit_samples(a, range(0, 3))
    b = tmp_path / "b"
    subprocess.run(["cp", "-a", str(a), str(b)], check=True)
    commit_with_cli(gh, a, range(3, 6))
    gh("gc", "--grace", "0", cwd=b)
    assert_samples(a, range(0, 6))
    assert_samples(b, range(0, 3))
    assert "ok" in gh("fsck", cwd=a) and "ok" in gh("fsck", cwd=b)


def test_a_copy_writes_its_own_store(tmp_path: Path, gh: GH) -> None:
    a = _init(gh, tmp_path / "a")
    commit_samples(a, range(0, 2))
    b = tmp_path / "b"
    subprocess.run(["cp", "-a", str(a), str(b)], check=True)
    before = _files(a / ".git" / "hangar" / "store")
    commit_with_cli(gh, b, range(2, 4))
    assert_samples(b, range(0, 4))
    assert _files(a / ".git" / "hangar" / "store") == before


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_a_moved_repository_keeps_its_data(tmp_path: Path, gh: GH) -> None:
    a = _init(gh, tmp_path / "a")
    commit_samples(a, range(0, 3))
    moved = tmp_path / "moved"
    shutil.move(str(a), str(moved))
    fsck = gh("fsck", cwd=moved)
    assert "0 remote reference(s)" in fsck and fsck.rstrip().endswith("ok"), fsck
    assert not a.exists(), "a read-only fsck created a store at the old path"
    assert_samples(moved, range(0, 3))
    commit_samples(moved, range(3, 5))
    gh("gc", "--grace", "0", cwd=moved)
    assert_samples(moved, range(0, 5))
    assert not a.exists()


def test_read_only_commands_never_create_a_store(tmp_path: Path, gh: GH) -> None:
    a = _init(gh, tmp_path / "a")
    commit_samples(a, range(0, 2))
    store = a / ".git" / "hangar" / "store"
    shutil.rmtree(store)
    for command in ("fsck", "status", "log"):
        proc = run_gh(command, cwd=a, check=False)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert not store.exists(), f"`{command}` created a store"
    proc = run_gh("fsck", cwd=a, check=False)
    assert proc.returncode == 1 and "hangar.store" in proc.stderr, proc.stderr


def test_relative_store_is_resolved_where_it_was_typed(tmp_path: Path, gh: GH) -> None:
    b = tmp_path / "b"
    b.mkdir()
    gh("init", "--store", "../b-store", cwd=b)
    assert (tmp_path / "b-store").is_dir()
    commit_samples(b, range(0, 2))
    nested = b / "deep" / "er"
    nested.mkdir(parents=True)
    assert "x" in gh("summary", cwd=nested)
    commit_with_cli(gh, nested, range(2, 4))
    assert "ok" in gh("fsck", cwd=nested)
    assert_samples(b, range(0, 4))
    assert sorted(p.name for p in tmp_path.rglob("*store")) == ["b-store"]


def test_init_typed_in_a_subdirectory_of_a_git_repository(tmp_path: Path, gh: GH) -> None:
    code = tmp_path / "code"
    (code / "sub").mkdir(parents=True)
    git("init", "-q", cwd=code)
    gh("init", "--store", "here", cwd=code / "sub")
    assert (code / "sub" / "here").is_dir()
    commit_samples(code, range(0, 2))
    assert_samples(code / "sub", range(0, 2))
    assert not (code / "here").exists()


def test_relative_store_inside_the_repository_moves_with_it(tmp_path: Path, gh: GH) -> None:
    a = tmp_path / "a"
    (a / "data").mkdir(parents=True)
    gh("init", "--store", "data/store", cwd=a)
    value = git("config", "--get", "hangar.store", cwd=a).strip()
    assert not os.path.isabs(value), value
    commit_samples(a, range(0, 2))
    shutil.move(str(a), str(tmp_path / "moved"))
    assert_samples(tmp_path / "moved", range(0, 2))
    assert "ok" in gh("fsck", cwd=tmp_path / "moved")


def test_relative_store_outside_the_repository_is_kept_absolute(tmp_path: Path, gh: GH) -> None:
    a = tmp_path / "a"
    a.mkdir()
    gh("init", "--store", "../shared", cwd=a)
    value = git("config", "--get", "hangar.store", cwd=a).strip()
    assert value == str(tmp_path / "shared"), value


def test_a_copy_forgets_its_original_when_first_opened(tmp_path: Path, gh: GH) -> None:
    a = _init(gh, tmp_path / "a")
    commit_samples(a, range(0, 2))
    b = tmp_path / "b"
    subprocess.run(["cp", "-a", str(a), str(b)], check=True)
    gh("status", cwd=b)  # the copy registers in its own store; a uses another store
    assert [e.path for e in registry.entries(str(b / ".git" / "hangar" / "store"))] == [str(b)]
    shutil.rmtree(a)
    gh("gc", "--grace", "0", cwd=b)
    assert_samples(b, range(0, 2))


def test_a_copy_of_a_deleted_original_needs_forget(tmp_path: Path, gh: GH) -> None:
    a = _init(gh, tmp_path / "a")
    commit_samples(a, range(0, 2))
    b = tmp_path / "b"
    subprocess.run(["cp", "-a", str(a), str(b)], check=True)
    shutil.rmtree(a)  # before the copy was ever opened: gc cannot know a never used this store
    proc = run_gh("gc", "--grace", "0", cwd=b, check=False)
    assert proc.returncode == 1 and f"--forget {a}" in proc.stderr, proc.stderr
    gh("gc", "--grace", "0", "--forget", a, cwd=b)
    assert_samples(b, range(0, 2))


def test_a_copy_made_while_a_writer_is_open_is_not_locked(tmp_path: Path, gh: GH) -> None:
    """Regression: `cp -a` of a repository with a write checkout open copied its lock file, so
    the copy refused every writer ("another writer holds this repository") and status said a
    write checkout was open, though that writer writes the original."""
    a = _init(gh, tmp_path / "a")
    commit_samples(a, range(0, 2))
    with Repository(str(a)).checkout(write=True):
        b = tmp_path / "b"
        subprocess.run(["cp", "-a", str(a), str(b)], check=True)
        assert Repository(str(a)).writer_lock_held  # the original stays locked
        assert not Repository(str(b)).writer_lock_held
        commit_with_cli(gh, b, range(2, 4))
        assert_samples(b, range(0, 4))
        assert Repository(str(a)).writer_lock_held


def test_a_repository_moved_while_a_writer_is_open_stays_locked(tmp_path: Path, gh: GH) -> None:
    a = _init(gh, tmp_path / "a")
    commit_samples(a, range(0, 2))
    with Repository(str(a)).checkout(write=True):
        moved = tmp_path / "moved"
        shutil.move(str(a), str(moved))
        assert Repository(str(moved)).writer_lock_held  # its writer may write here still
        shutil.move(str(moved), str(a))
