"""Git revision syntax wherever a commit is named, in the API (issue 11): ``master~1``,
``master^2``, ``HEAD``, abbreviated digests (ambiguous ones refused with a clear error) and
remote-tracking names; and a remote-tracking branch never becomes the write branch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import re

import pytest

from hangar_git import (BranchNotFoundError, CommitNotFoundError, InvalidArgumentError, Repository,
                        RevisionNotFoundError)
from hangar_git.errors import AmbiguousRevisionError, InvalidNameError
from tests.repos import add_bare_origin

from .conftest import edit, value


@dataclass
class Graph:
    """master: c1 - c2 - c3 - m (m merges dev: c1 - d1)."""

    repo: Repository
    c1: str
    c2: str
    c3: str
    d1: str
    m: str


@pytest.fixture
def graph(repo: Repository) -> Graph:
    c1 = edit(repo, "master", "c1", add={"x": value(0)}, put={"x": {0: 0}})
    repo.create_branch("dev")
    c2 = edit(repo, "master", "c2", put={"x": {1: 1}})
    c3 = edit(repo, "master", "c3", put={"x": {2: 2}})
    d1 = edit(repo, "dev", "d1", put={"x": {9: 9}})
    m = repo.merge("merge dev", "master", "dev")
    assert repo.ctx.git.commit_info(m).parents == [c3, d1]
    repo.set_write_branch("master")  # the write checkout of dev made dev the write branch
    return Graph(repo, c1, c2, c3, d1, m)


@pytest.mark.parametrize(("spec", "expected"), [
    ("master", "m"), ("HEAD", "m"), ("@", "m"), ("master^0", "m"),
    ("master~1", "c3"), ("master~", "c3"), ("master^", "c3"), ("master^1", "c3"), ("HEAD~1", "c3"),
    ("master~2", "c2"), ("master~~", "c2"), ("master^^", "c2"), ("master~3", "c1"),
    ("master^2", "d1"), ("master^2~1", "c1"), ("master^2^", "c1"), ("dev", "d1"), ("dev~1", "c1"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_revisions_name_commits(graph: Graph, spec: str, expected: str) -> None:
    want = getattr(graph, expected)
    assert graph.repo.resolve(spec) == want
    with graph.repo.checkout(commit=spec) as co:
        assert co.commit_hash == want


def test_digests_full_abbreviated_and_a_form(graph: Graph) -> None:
    repo, c2 = graph.repo, graph.c2
    for spec in (c2, f"a={c2}", c2[:7], f"a={c2[:7]}", c2[:4], f"{c2[:10]}~1", c2.upper()[:8]):
        expected = graph.c1 if spec.endswith("~1") else c2
        assert repo.resolve(spec) == expected, spec


def test_every_api_that_names_a_commit_takes_revisions(graph: Graph) -> None:
    repo = graph.repo
    with repo.checkout(branch="master~1") as co:        # a read of a branch-like revision
        assert co.commit_hash == graph.c3
    assert repo.log(branch="master~1", return_contents=True)["head"] == graph.c3
    assert repo.log(commit="master^2", return_contents=True)["head"] == graph.d1
    assert repo.summary(branch="master~2", return_contents=True) == repo.summary(commit=graph.c2,
                                                                                 return_contents=True)
    by_name, by_digest = (str(repo.diff(a, b)).splitlines() for a, b in (("master~1", "master"), (graph.c3, graph.m)))
    assert by_name[0].startswith(f"Diff master~1 (a={graph.c3})") and by_name[1:] == by_digest[1:]
    assert repo.create_branch("old", base_commit="master~2").digest == graph.c2
    assert repo.create_branch("side", base_commit="dev").digest == graph.d1
    with repo.checkout() as co:
        assert co.diff.commit("master~1") == co.diff.commit(graph.c3)


@pytest.mark.parametrize(("spec", "fragment"), [
    ("master~9", "names no commit"), ("master^3", "has 2 parents"), ("nope", "no branch or commit named 'nope'"),
    ("nope~1", "no branch or commit named 'nope~1'"), ("master~1x", "no branch or commit named"),
    ("0" * 40, "does not exist"), ("zzzz", "no branch or commit named"), ("abc", "no branch or commit named"),
])
def test_unknown_revisions(graph: Graph, spec: str, fragment: str) -> None:
    with pytest.raises(CommitNotFoundError, match=fragment) as info:
        graph.repo.resolve(spec)
    assert isinstance(info.value, ValueError)
    with pytest.raises(CommitNotFoundError):
        graph.repo.checkout(commit=spec)


def test_unresolvable_name_is_both_a_missing_branch_and_a_missing_commit(graph: Graph) -> None:
    with pytest.raises(RevisionNotFoundError) as info:
        graph.repo.merge("m", "master", "nope")
    assert isinstance(info.value, BranchNotFoundError) and info.value.spec == "nope"
    for bad in ("", "   ", 3):
        with pytest.raises(InvalidArgumentError):
            graph.repo.resolve(bad)  # type: ignore[arg-type]


def test_head_before_the_first_commit(repo: Repository) -> None:
    with pytest.raises(RevisionNotFoundError, match="has no commits yet"):
        repo.resolve("HEAD")


def test_ambiguous_abbreviation_is_refused_with_a_clear_error(graph: Graph) -> None:
    """A blob whose id starts with the same 4 hex digits as a commit makes that prefix
    ambiguous (git looks prefixes up among all objects)."""
    git, prefix = graph.repo.ctx.git, graph.c2[:4]
    n = 0
    while not git.blob_id(str(n).encode()).startswith(prefix):
        n += 1
    git.write_blob(str(n).encode())
    with pytest.raises(AmbiguousRevisionError, match=f"'{prefix}' is ambiguous: give more of its digits"):
        graph.repo.resolve(prefix)
    with pytest.raises(InvalidArgumentError):
        graph.repo.checkout(commit=prefix)
    assert graph.repo.resolve(graph.c2[:12]) == graph.c2


def test_a_branch_wins_over_an_abbreviation(graph: Graph) -> None:
    name = graph.c1[:6]
    graph.repo.create_branch(name, base_commit=graph.d1)
    assert graph.repo.resolve(name) == graph.d1
    assert graph.repo.resolve(f"a={name}") == graph.c1


# -- remote-tracking names -----------------------------------------------------------------
@pytest.fixture
def tracking(graph: Graph, tmp_path: Path) -> Graph:
    """``graph`` with master pushed to and fetched back from ``origin``: ``origin/master``."""
    add_bare_origin(graph.repo, tmp_path / "origin.git")
    graph.repo.remote.push("origin", "master")
    graph.repo.remote.fetch_result("origin", "master")
    return graph


def test_remote_tracking_names_are_revisions(tracking: Graph) -> None:
    repo = tracking.repo
    assert repo.resolve("origin/master") == tracking.m
    assert repo.resolve("origin/master~1") == tracking.c3
    assert repo.resolve("origin/master^2") == tracking.d1
    with repo.checkout(branch="origin/master") as co:
        assert co.commit_hash == tracking.m and co.branch_name == "origin/master"
    assert repo.create_branch("mine", base_commit="origin/master~1").digest == tracking.c3


def test_remote_tracking_branch_is_never_the_write_branch(tracking: Graph) -> None:
    """`checkout origin/dev` made a remote-tracking branch the write branch; add, commit and
    merge then failed with "branch does not exist"."""
    repo = tracking.repo
    with pytest.raises(InvalidNameError, match="`git hangar checkout master` and bring it up to date"):
        repo.set_write_branch("origin/master")
    assert repo.ctx.default_branch == "master"
    with pytest.raises(InvalidNameError, match="remote-tracking"):
        repo.checkout(write=True, branch="origin/master")
    with pytest.raises(BranchNotFoundError):
        repo.set_write_branch("nope")
    for commit in ("master~1", "origin/master^2", "HEAD"):
        with pytest.raises(InvalidNameError, match=f"'{re.escape(commit)}' names a commit, not a branch"):
            repo.set_write_branch(commit)
    repo.create_branch("work", base_commit="origin/master")
    repo.set_write_branch("work")
    edit(repo, "work", "on work", put={"x": {5: 5}})   # add and commit work on the new branch
    assert repo.resolve("work~1") == tracking.m
