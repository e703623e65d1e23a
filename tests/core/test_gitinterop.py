"""Plain git understands a hangar repository: fsck, log, cat-file, gc, bare repos."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hangar_git import NotInitializedError, Repository

from .conftest import History, assert_same_array, new_repo


def git(repo: Repository | str | Path, *args: str) -> str:
    path = repo.path if isinstance(repo, Repository) else str(repo)
    proc = subprocess.run(["git", "-C", path, *args], capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_git_fsck_full_is_clean(committed: History) -> None:
    with committed.repo.checkout(write=True) as co:   # plus a staged, uncommitted change
        co["arr"]["staged"] = np.zeros((4, 3), np.float32)
    out = git(committed.repo, "fsck", "--full", "--strict")
    assert not re.search(r"^(error|missing|broken|bad|warning)", out, re.M), out


def test_git_log_of_the_hangar_branch(committed: History) -> None:
    out = git(committed.repo, "log", "--format=%H %s", "refs/hangar/heads/master")
    lines = out.strip().splitlines()
    assert lines == [f"{c} {m}" for c, m in zip(reversed(committed.commits), ["c2", "c1", "c0"])]
    author = git(committed.repo, "log", "-1", "--format=%an <%ae>", "refs/hangar/heads/master")
    assert author.strip() == "tester <t@x>"
    refs = git(committed.repo, "for-each-ref", "--format=%(refname)", "refs/hangar/")
    assert "refs/hangar/heads/master" in refs.split()


def test_git_cat_file_shows_text_records(committed: History) -> None:
    repo, c1 = committed.repo, committed.commits[1]
    top = git(repo, "cat-file", "-p", f"{c1}^{{tree}}")
    assert {"hangar.json", "metadata.json", "columns"} <= {l.split("\t")[-1] for l in top.splitlines()}
    shard = git(repo, "cat-file", "-p", f"{c1}:columns/arr/samples/_")
    lines = shard.splitlines()
    assert lines == sorted(lines, key=lambda l: l.split(" ", 1)[1])   # sorted by encoded key
    assert len(lines) == len(committed.arrays[1])
    keys = set()
    for line in lines:
        digest, key = line.split(" ", 1)
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
        keys.add(key)
    assert keys == {"i0", "i1", "i3", "i4", "snew"}
    text = git(repo, "cat-file", "-p", f"{c1}:columns/text/samples/_")
    assert {l.split(" ", 1)[1] for l in text.splitlines()} == {"sa", "i1", "sb"}
    schema = json.loads(git(repo, "cat-file", "-p", f"{c1}:columns/arr/schema.json"))
    assert schema == {"column_type": "ndarray", "dtype": "<f4", "shape": [4, 3], "variable_shape": False}
    stats = json.loads(git(repo, "cat-file", "-p", f"{c1}:columns/arr/stats.json"))
    assert stats == {"count": 5, "shard_digits": 0}
    meta = json.loads(git(repo, "cat-file", "-p", f"{committed.commits[2]}:metadata.json"))
    assert meta == {"extra": "x", "stage": "two"}
    assert json.loads(git(repo, "cat-file", "-p", f"{c1}:hangar.json")) == {"format": 2, "digest": "blake3"}


def test_hangar_leaves_the_work_tree_and_normal_branches_alone(tmp_path: Path) -> None:
    path = tmp_path / "project"
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "README").write_text("code\n")
    git(path, "add", "README")
    git(path, "commit", "-q", "-m", "code commit")
    code_head = git(path, "rev-parse", "HEAD").strip()
    repo = new_repo(path)
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "v"
        co.commit("data commit")
    assert git(path, "status", "--porcelain").strip() == ""
    assert git(path, "rev-parse", "HEAD").strip() == code_head
    assert git(path, "log", "--format=%s").strip() == "code commit"
    assert git(path, "branch", "--format=%(refname:short)").split() == ["master"]


def test_hangar_data_survives_git_gc(committed: History) -> None:
    git(committed.repo, "gc", "-q", "--prune=now", "--aggressive")
    git(committed.repo, "fsck", "--full")
    fresh = Repository(committed.repo.path)
    for i, commit in enumerate(committed.commits):
        with fresh.checkout(commit=commit) as co:
            for key, arr in committed.arrays[i].items():
                assert_same_array(co["arr", key], arr)


def test_staged_changes_survive_git_gc(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "staged only"
    git(repo, "gc", "-q", "--prune=now")
    with Repository(repo.path).checkout(write=True) as co:
        assert co["c", "k"] == "staged only"


def test_bare_repositories(tmp_path: Path) -> None:
    path = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    repo = Repository(path, exists=False)
    repo.init("tester", "t@x")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("a", prototype=np.arange(3))[0] = np.arange(3)
        digest = co.commit("in a bare repo")
    assert (path / "hangar").is_dir()
    assert git(path, "log", "--format=%H", "refs/hangar/heads/master").strip() == digest
    git(path, "fsck", "--full")
    with Repository(path).checkout() as co:
        assert_same_array(co["a", 0], np.arange(3))


def test_uninitialised_paths_warn(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "plain")], check=True)
    with pytest.warns(UserWarning, match="no hangar repository"):
        plain = Repository(tmp_path / "plain")
    assert not plain.initialized
    with pytest.raises(NotInitializedError):
        plain.checkout()
    with pytest.warns(UserWarning):
        assert not Repository(tmp_path / "nowhere").initialized
