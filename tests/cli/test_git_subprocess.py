"""A real `git hangar` (git finds git-hangar on PATH) in real git repositories;
`git fsck --full` is happy with what we write."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from hangar_git import Repository

from .conftest import SRC_ROOT, GitHangar, one_line_error, subprocess_env


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    assert result.stderr == ""
    return result.stdout


def test_workflow_in_a_code_repository(tmp_path: Path, git_hangar: GitHangar) -> None:
    repo = tmp_path / "project"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "README").write_text("code\n")
    subprocess.run(["git", "add", "README"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "code"], cwd=repo, check=True)
    data = repo / "data"
    data.mkdir()
    np.save(data / "a.npy", np.arange(6, dtype=np.int32).reshape(2, 3))
    (data / "t.csv").write_text("1,2\n3,4\n")

    ok(git_hangar("init", cwd=data))
    ok(git_hangar("add", "arrays", "a.npy", cwd=data))
    first = re.search(r"a=([0-9a-f]{40})", ok(git_hangar("commit", "-m", "arrays", cwd=repo)))
    assert first
    ok(git_hangar("checkout", "-b", "dev", cwd=repo))
    ok(git_hangar("add", "table", "data/t.csv", cwd=repo))
    ok(git_hangar("commit", "-m", "table", cwd=repo))
    log = ok(git_hangar("log", cwd=repo))
    assert first.group(1) in log and "table" in log
    ok(git_hangar("-C", "data", "export", "arrays", "out", cwd=repo))
    assert (data / "out" / "a.npy").read_bytes() == (data / "a.npy").read_bytes()

    # the code's history is untouched; hangar's lives under refs/hangar/
    assert subprocess.run(["git", "log", "--format=%s"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout == "code\n"
    fsck = subprocess.run(["git", "fsck", "--full"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr
    hangar_log = subprocess.run(["git", "log", "--format=%s", "refs/hangar/heads/dev"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout
    assert hangar_log.split() == ["table", "arrays"]


def test_user_errors_are_one_line(tmp_path: Path, git_hangar: GitHangar) -> None:
    one_line_error(git_hangar("status", cwd=tmp_path), "no hangar repository")
    ok(git_hangar("init", cwd=tmp_path))
    np.save(tmp_path / "a.npy", np.zeros((2, 2)))
    np.save(tmp_path / "b.npy", np.zeros(3))
    (tmp_path / "bad.csv").write_bytes(b"1,2\nx,\xff\n")
    one_line_error(git_hangar("add", "c", "a.npy", "missing.npy", cwd=tmp_path), "missing.npy")
    one_line_error(git_hangar("add", "c", "a.npy", "b.npy", cwd=tmp_path), "expects shape")
    one_line_error(git_hangar("add", "c", "bad.csv", cwd=tmp_path), "bad.csv")
    with Repository(tmp_path).checkout(write=True):
        one_line_error(git_hangar("add", "c", "b.npy", cwd=tmp_path), "another writer", "pid")
    one_line_error(git_hangar("commit", cwd=tmp_path), "nothing to commit")
    usage = git_hangar("rm", "c", cwd=tmp_path)
    assert usage.returncode == 2 and "Usage: git hangar rm" in usage.stderr


def test_launcher_and_python_m(tmp_path: Path) -> None:
    env = subprocess_env()
    for argv in ([sys.executable, str(SRC_ROOT / "git-hangar"), "--version"],
                 [sys.executable, "-m", "hangar_git", "--version"]):
        result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("hangar-git, version ")
    assert os.access(SRC_ROOT / "git-hangar", os.X_OK)
