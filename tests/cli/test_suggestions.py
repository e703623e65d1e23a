""""Did you mean" for a mistyped command or branch, as git suggests one."""
from __future__ import annotations

from pathlib import Path

from ..repos import add_bare_origin, one_sample_repo
from .conftest import GitHangar, Hangar, one_line_error


def test_a_mistyped_command_names_the_close_ones(tmp_path: Path, git_hangar: GitHangar) -> None:
    for typo, meant in (("comit", "'commit'"), ("statu", "'status'"), ("brnch", "'branch'"),
                        ("fetchdata", "'fetch-data' or 'fetch' or 'metadata'")):
        result = git_hangar(typo, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        error = result.stderr.strip().splitlines()[-1]
        assert error == f"Error: No such command {typo!r}: did you mean {meant}?", error
    far = git_hangar("xyzzy", cwd=tmp_path)
    assert far.returncode == 2 and far.stderr.strip().splitlines()[-1] == "Error: No such command 'xyzzy'."


def test_a_mistyped_branch_names_the_close_ones(tmp_path: Path) -> None:
    repo = one_sample_repo(tmp_path / "r")
    repo.create_branch("develop")
    add_bare_origin(repo, tmp_path / "srv")
    repo.remote.push("origin", "develop")
    hangar = Hangar(tmp_path / "r")
    one_line_error(hangar("checkout", "mastr"), "'mastr'", "did you mean 'master'")
    one_line_error(hangar("log", "mastr"), "did you mean 'master'")
    one_line_error(hangar("show", "mastr~1"), "did you mean 'master'")
    one_line_error(hangar("ls", "develpo"), "did you mean 'develop'")
    one_line_error(hangar("merge", "origin/develp"), "did you mean 'origin/develop'")
    one_line_error(hangar("branch", "-d", "devlop"), "did you mean 'develop'")
    far = one_line_error(hangar("checkout", "zzzzzz"), "'zzzzzz'")
    assert "did you mean" not in far
