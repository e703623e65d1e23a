"""gc and drop on a shared store make every repository using it forget which columns it knew
complete, not only the repository that ran them (issue 15).

Regression: repository b knew a column tree complete (its present-trees file); repository a
ran gc on the store they share, which removed that tree's samples (no ref of either
reached them any more). When b got the tree back through a fetch, fetch-data skipped it as
complete, so the samples never came back and reading them failed.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from hangar_git import Repository
from tests.repos import add_bare_origin

from .conftest import close_dropped_stores, commit_samples, sample


def _presence(path: Path) -> str:
    marks = path / ".git" / "hangar" / "present-trees"
    return marks.read_text() if marks.exists() else ""


def test_gc_in_one_repository_clears_the_presence_marks_of_all_sharing_the_store(tmp_path: Path) -> None:
    shared, a, b = tmp_path / "shared", tmp_path / "a", tmp_path / "b"
    for p in (a, b):
        Repository(str(p), exists=False).init("t", "t@x", store_uri=str(shared))
    commit_samples(a, range(0, 3))
    commit_samples(b, range(10, 13))
    repo_b = Repository(str(b))
    add_bare_origin(repo_b, tmp_path / "origin.git")
    repo_b.remote.push("origin", "master")
    repo_b.create_branch("tmp")
    with repo_b.checkout(write=True, branch="tmp") as co:
        for k in range(100, 110):
            co["x"][str(k)] = sample(k)
        co.commit("tmp samples")
    repo_b.remote.push("origin", "tmp")
    with repo_b.checkout(branch="tmp") as co:  # reading every sample marks the column complete
        assert co["x"].contains_remote_references is False
    assert _presence(b)
    # the tmp branch goes everywhere in b (its samples stay on the remote)
    with repo_b.checkout(write=True, branch="master"):
        pass
    repo_b.remove_branch("tmp", force_delete=True)
    subprocess.run(["git", "update-ref", "-d", "refs/hangar/remotes/origin/tmp"], cwd=b, check=True)
    close_dropped_stores()
    Repository(str(a)).gc(grace_seconds=0)  # a runs gc: tmp's samples are referenced by nobody
    assert _presence(b) == "", "gc left b's marks of columns whose data it removed"
    close_dropped_stores()
    repo_b = Repository(str(b))
    repo_b.remote.quiet = True
    repo_b.remote.fetch("origin", "tmp")
    repo_b.remote.fetch_data("origin", branch="tmp")
    with repo_b.checkout(branch="origin/tmp") as co:
        for k in range(100, 110):
            assert (co["x", str(k)] == sample(k)).all()
    with Repository(str(a)).checkout() as co:
        assert (co["x", "0"] == np.full((4,), 0, dtype=np.int64)).all()


def test_drop_in_one_repository_clears_the_presence_marks_of_all_sharing_the_store(tmp_path: Path) -> None:
    shared, a, b = tmp_path / "shared", tmp_path / "a", tmp_path / "b"
    for p in (a, b):
        Repository(str(p), exists=False).init("t", "t@x", store_uri=str(shared))
    head = commit_samples(a, range(0, 3))
    repo_a = Repository(str(a))
    add_bare_origin(repo_a, tmp_path / "origin.git")
    repo_a.remote.push("origin", "master")
    repo_b = Repository(str(b))
    repo_b.remote.add("origin", str(tmp_path / "origin.git"))
    repo_b.remote.quiet = True
    repo_b.remote.fetch("origin", "master")
    with repo_b.checkout(branch="origin/master") as co:  # same store: b finds a's samples there
        assert co["x"].contains_remote_references is False
    assert _presence(b)
    repo_a.drop("origin", commit=head)  # a frees its local copy, which b shared
    assert _presence(b) == "", "drop left b's marks of columns whose data it removed"
