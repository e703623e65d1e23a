"""`git hangar init` in a subdirectory of a git work tree initialises hangar in that git repository
(found as every command finds it: from any subdirectory, or a linked worktree's); `init .` or
`init PATH` makes a separate, nested repository there, as `git init PATH` does."""
from __future__ import annotations

import subprocess
from pathlib import Path

from hangar_git import Repository

from .conftest import GitHangar, one_line_error


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_init_in_a_subdirectory_of_a_code_repository(tmp_path: Path, git_hangar: GitHangar) -> None:
    git("init", "-q", str(tmp_path / "code"), cwd=tmp_path)
    deep = tmp_path / "code" / "src" / "deep"
    deep.mkdir(parents=True)
    done = git_hangar("init", cwd=deep)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Initialized hangar repository in {tmp_path / 'code'}\n"
    assert not (deep / ".git").exists() and not (tmp_path / "code" / "src" / ".git").exists()
    assert Repository(str(tmp_path / "code"), exists=False).initialized
    assert git_hangar("status", cwd=deep).returncode == 0
    again = git_hangar("init", cwd=deep)  # refused, saying where it is and what to do instead
    one_line_error(again, f"'{tmp_path / 'code'}', the git repository this directory is in",
                   "--remove-old", "`git hangar init .`")
    nested = git_hangar("init", ".", cwd=deep)
    assert nested.returncode == 0, nested.stderr
    assert (deep / ".git").is_dir() and Repository(str(deep)).path == str(deep)
    at_root = git_hangar("init", cwd=tmp_path / "code")
    one_line_error(at_root, "already a hangar repository", "--remove-old")
    assert "this directory is in" not in at_root.stderr


def test_init_in_a_subdirectory_of_a_linked_worktree(tmp_path: Path, git_hangar: GitHangar) -> None:
    git("init", "-q", str(tmp_path / "main"), cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "code", cwd=tmp_path / "main")
    git("worktree", "add", "-q", str(tmp_path / "wt"), cwd=tmp_path / "main")
    (tmp_path / "wt" / "sub").mkdir()
    done = git_hangar("init", cwd=tmp_path / "wt" / "sub")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "wt" / "sub" / ".git").exists()
    assert git_hangar("status", cwd=tmp_path / "main").returncode == 0  # one repository, both work trees
