"""Linked worktrees (`git worktree add`) and subdirectories: one repository state."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository, WriterLockError

from .conftest import GH, assert_samples, commit_samples, commit_with_cli, git, sample


def _project(tmp_path: Path, gh: GH) -> tuple[Path, Path]:
    """A code repository with hangar data, and a linked worktree of it."""
    main = tmp_path / "main"
    main.mkdir()
    git("init", "-q", cwd=main)
    (main / "README").write_text("code\n")
    git("add", "README", cwd=main)
    git("commit", "-q", "-m", "code", cwd=main)
    gh("init", cwd=main)
    commit_samples(main, range(0, 2), message="samples 0..2")
    linked = tmp_path / "linked"
    git("worktree", "add", "-q", str(linked), cwd=main)
    return main, linked


def test_cli_in_a_linked_worktree(tmp_path: Path, gh: GH) -> None:
    main, linked = _project(tmp_path, gh)
    assert "master" in gh("status", cwd=linked)
    assert "samples 0..2" in gh("log", cwd=linked)
    commit_with_cli(gh, linked, range(2, 4))
    assert "samples 2..4" in gh("log", cwd=main)
    assert gh("fsck", cwd=linked).rstrip().endswith("ok")
    gh("gc", "--grace", "0", cwd=linked)
    assert_samples(main, range(0, 4))
    assert not (main / ".git" / "worktrees" / "linked" / "hangar").exists()


def test_api_opens_a_worktree_and_a_subdirectory(tmp_path: Path, gh: GH) -> None:
    main, linked = _project(tmp_path, gh)
    (linked / "deep" / "er").mkdir(parents=True)
    for where in (linked, linked / "deep" / "er", main / ".git"):
        repo = Repository(str(where))
        assert repo.initialized, where
        assert repo.ctx.hangar_dir == str(main / ".git" / "hangar")
        assert repo.ctx.store_uri == str(main / ".git" / "hangar" / "store")
    commit_samples(linked / "deep", range(4, 6))
    assert_samples(main, range(0, 2))
    assert_samples(main, range(4, 6))


def test_one_writer_across_worktrees(tmp_path: Path, gh: GH) -> None:
    main, linked = _project(tmp_path, gh)
    with Repository(str(main)).checkout(write=True) as co:
        co.columns["x"]["w"] = sample(7)
        assert Repository(str(linked)).writer_lock_held
        with pytest.raises(WriterLockError, match="another writer"):
            Repository(str(linked)).checkout(write=True)
        co.commit("from main")
    with Repository(str(linked)).checkout() as co:
        np.testing.assert_array_equal(co.columns["x"]["w"], sample(7))


def test_api_subdirectory_of_a_plain_repository(tmp_path: Path) -> None:
    path = tmp_path / "r"
    repo = Repository(str(path), exists=False)
    repo.init("t", "t@x")
    commit_samples(path, range(0, 2))
    (path / "a" / "b").mkdir(parents=True)
    sub = Repository(str(path / "a" / "b"))
    assert sub.initialized and sub.ctx.hangar_dir == str(path / ".git" / "hangar")
    assert_samples(path / "a" / "b", range(0, 2))
