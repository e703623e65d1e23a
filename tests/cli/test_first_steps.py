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
