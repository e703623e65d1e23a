"""closure_complete: a history is complete only if every commit, tree and blob it reaches is present;
trusted refs are not walked, and other commits are checked against their parents."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.bookkeeping.records import shard_prefix
from hangar_git.bookkeeping.transfer import closure_complete

N = 3000  # several shards


def _three_commits(repo: Repository) -> list[str]:
    """c0: N rows; c1 changes key 1; c2 changes key 2 (each rewrites one shard)."""
    commits = []
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("rows", prototype=np.zeros(4, np.uint8)).update(
            {i: np.full(4, i % 251, np.uint8) for i in range(N)})
        commits.append(co.commit("c0"))
    for key in (1, 2):
        with repo.checkout(write=True) as co:
            co["rows"][key] = np.full(4, 252 + key, np.uint8)
            commits.append(co.commit(f"change {key}"))
    return commits


def _shard_of(git: GitRepo, commit: str, key: int) -> str:
    with Repository(git.work_dir or git.git_dir).checkout(commit=commit) as co:
        recs = co["rows"]._records
        return recs.shard_oids()[shard_prefix(f"i{key}", recs.digits)]


def _delete_loose(git: GitRepo, oid: str) -> None:
    os.unlink(os.path.join(git.git_dir, "objects", oid[:2], oid[2:]))


def test_complete_history(repo: Any) -> None:
    c0, c1, c2 = _three_commits(repo)
    git = repo.ctx.git
    assert all(closure_complete(git, c) for c in (c0, c1, c2))
    assert closure_complete(git, c2, trusted=[c1])
    assert not closure_complete(git, "ab" * 20)  # an unknown commit


def test_a_blob_only_the_newest_commit_has(repo: Any) -> None:
    c0, c1, c2 = _three_commits(repo)
    git = repo.ctx.git
    _delete_loose(git, _shard_of(git, c2, 2))
    assert not closure_complete(git, c2)
    assert not closure_complete(git, c2, trusted=[c1])  # the new commit itself is still checked
    assert closure_complete(git, c1)


def test_a_blob_shared_by_every_commit(repo: Any) -> None:
    """A shard no commit changed is reached through c0 (checked in full) and skipped by id later."""
    c0, c1, c2 = _three_commits(repo)
    git = repo.ctx.git
    shared = _shard_of(git, c0, N - 1)
    assert shared == _shard_of(git, c2, N - 1)
    _delete_loose(git, shared)
    assert not closure_complete(git, c2)
    assert not closure_complete(git, c0)
    # A trusted ref is taken at its word (refs only ever move once all they reach has arrived);
    # fsck is what checks refs in full.
    assert closure_complete(git, c2, trusted=[c2])
    report = repo.fsck(quick=True)
    assert not report.ok and any("incomplete" in p for p in report.problems)


def test_a_shared_verified_set_is_not_fooled(repo: Any) -> None:
    c0, c1, c2 = _three_commits(repo)
    git = repo.ctx.git
    verified: set[str] = set()
    assert closure_complete(git, c1, verified=verified)
    _delete_loose(git, _shard_of(git, c2, 2))
    assert not closure_complete(git, c2, verified=verified)
