"""Shell completion of branch, column and remote names through the shipped bash and zsh scripts
(they ask click, whose arguments name their completers: cli/completers.py)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository

from ..repos import add_bare_origin
from .conftest import subprocess_env


@pytest.fixture
def repo_path(tmp_path: Path) -> Path:
    repo = Repository(str(tmp_path / "r"), exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("images", prototype=np.zeros(2))[0] = np.ones(2)
        co.add_ndarray_column("labels", prototype=np.zeros(1))[0] = np.ones(1)
        co.commit("two columns")
    repo.create_branch("develop")
    repo.create_branch("dev2")
    with repo.checkout(write=True, branch="develop") as co:
        co.add_ndarray_column("masks", prototype=np.zeros(2))[0] = np.ones(2)
        co.commit("a third on develop")
    add_bare_origin(repo, tmp_path / "srv")
    repo.remote.push("origin", "master")
    repo.set_write_branch("master")
    with repo.checkout(write=True) as co:  # staged, not committed: completes too
        co.add_ndarray_column("staged_col", prototype=np.zeros(1))[0] = np.ones(1)
    return tmp_path / "r"


def bash(words: list[str], cwd: Path, via_git: bool = False) -> list[str]:
    """COMPREPLY for the command line ``words`` (the last one being completed)."""
    quoted = " ".join(f"'{w}'" for w in words)
    if via_git:  # git's completion calls _git_hangar with its words/cword
        call = f"words=(git hangar {quoted}); cword={len(words) + 1}; _git_hangar"
    else:
        call = f"COMP_WORDS=(git-hangar {quoted}); COMP_CWORD={len(words)}; _git_hangar_direct"
    script = f"source <(git-hangar completion bash); {call}; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=subprocess_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return sorted(line for line in done.stdout.splitlines() if line)


def test_branch_names_complete(repo_path: Path) -> None:
    assert bash(["checkout", "dev"], repo_path) == ["dev2", "develop"]
    assert bash(["checkout", ""], repo_path) == ["dev2", "develop", "master"]
    assert bash(["branch", "-d", "m"], repo_path) == ["master"]
    assert bash(["log", "o"], repo_path) == ["origin/master"]  # revisions: remote-tracking too
    assert bash(["merge", "origin/"], repo_path, via_git=True) == ["origin/master"]
    assert bash(["push", "origin", "dev"], repo_path) == ["dev2", "develop"]
    assert bash(["push", "o"], repo_path) == ["origin"]
    assert bash(["-C", str(repo_path), "checkout", "ma"], repo_path.parent) == ["master"]
    assert bash(["checkout", "ma"], repo_path.parent) == []  # no repository here: nothing offered


def test_column_names_complete(repo_path: Path) -> None:
    assert bash(["add", ""], repo_path) == ["images", "labels", "staged_col"]
    assert bash(["export", "i"], repo_path) == ["images"]
    assert bash(["show", "develop", ""], repo_path) == ["images", "labels", "masks"]  # at that REV
    assert bash(["ls", "master", "l"], repo_path, via_git=True) == ["labels"]
    assert bash(["rm", "st"], repo_path) == ["staged_col"]
    assert bash(["fetch-data", "origin", "--column", "im"], repo_path) == ["images"]
    assert bash(["show", "nosuch", ""], repo_path) == []


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_completes_branches(repo_path: Path) -> None:
    script = ("autoload -Uz compinit; compinit -u; source <(git-hangar completion zsh); "
              "compadd() { shift $(( $# - 1 )); print -l -- ${(P)1} }; "
              "words=(git-hangar checkout dev); CURRENT=3; _git-hangar")
    done = subprocess.run(["zsh", "-c", script], cwd=repo_path, env=subprocess_env(), capture_output=True,
                          text=True, timeout=60)
    assert sorted(done.stdout.split()) == ["dev2", "develop"], done.stderr
