"""What a new user meets first: an empty repository, typos, git's habits (`help`, `diff
--staged`, `show` alone), and messages that name the command line's own words."""
from __future__ import annotations

from pathlib import Path

import pytest

from ..repos import new_repo
from .conftest import Files, Hangar, one_line_error

NO_COMMITS = "the write branch 'master' has no commits yet"


@pytest.mark.parametrize("args", [("ls",), ("ls", "HEAD"), ("ls", "master"), ("export", "imgs", "out"),
                                  ("show",), ("show", "master"),
                                  ("export", "imgs", "out", "--branch", "master")],
                         ids=" ".join)
def test_an_empty_repository_says_the_write_branch_has_no_commits_yet(repo_dir: Path, hangar: Hangar,
                                                                       args: tuple[str, ...]) -> None:
    one_line_error(hangar(*args), NO_COMMITS)


def test_an_empty_repository_in_the_api_says_no_commits_yet(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    with pytest.raises(ValueError, match=NO_COMMITS):
        repo.checkout()
    with pytest.raises(ValueError, match=NO_COMMITS):
        repo.checkout(branch="master")
    with pytest.raises(ValueError, match="branch 'other' does not exist"):
        repo.checkout(branch="other")


def committed(hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "arrays", files / "a.npy")
    hangar.ok("add", "images", files / "b.npy")
    hangar.ok("commit", "-m", "two columns")


def test_a_mistyped_remote_names_the_close_ones(repo_dir: Path, hangar: Hangar, files: Files,
                                                tmp_path: Path) -> None:
    committed(hangar, files)
    hangar.ok("init", "--bare", tmp_path / "server.git", cwd=tmp_path)
    hangar.ok("remote", "add", "origin", tmp_path / "server.git")
    error = one_line_error(hangar("push", "orign", "master"), "no remote named 'orign'", "did you mean 'origin'?")
    assert "remote add orign" not in error
    one_line_error(hangar("fetch", "orgin", "master"), "did you mean 'origin'?")
    far = one_line_error(hangar("push", "zzzz", "master"), "no remote named 'zzzz'", "remote add zzzz ADDRESS")
    assert "did you mean" not in far


def test_a_mistyped_column_names_the_close_ones_and_where_it_looked(repo_dir: Path, hangar: Hangar,
                                                                    files: Files, tmp_path: Path) -> None:
    committed(hangar, files)
    error = one_line_error(hangar("export", "arays", tmp_path / "out"), "column 'arays' does not exist on branch "
                           "'master'", "did you mean 'arrays'?")
    assert "this checkout" not in error
    error = one_line_error(hangar("show", "master", "imags"), "column 'imags' does not exist in commit a=",
                           "did you mean 'images'?")
    assert "this checkout" not in error
    one_line_error(hangar("ls", "HEAD", "arrrays"), "did you mean 'arrays'?")
    far = one_line_error(hangar("export", "zzzzz", tmp_path / "out"), "column 'zzzzz' does not exist")
    assert "did you mean" not in far
    error = one_line_error(hangar("metadata", "get", "nokey"), "no metadata key 'nokey'")
    assert "this checkout" not in error
