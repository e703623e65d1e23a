"""Revision syntax in the CLI (issue 11): `log master~1` used to say "no branch or commit
named 'master~1'", and `checkout origin/dev` made a remote-tracking branch the write branch,
after which add, commit and merge failed with "branch does not exist"."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from tests.repos import add_bare_origin

from .conftest import Hangar, one_line_error


@pytest.fixture
def two_commits(tmp_path: Path, hangar: Hangar) -> tuple[Repository, list[str]]:
    """Master with two commits, pushed to ``origin`` and fetched back (``origin/master``)."""
    repo = Repository(str(tmp_path / "repo"), exists=False)
    repo.init("t", "t@x")
    digests = []
    for i in range(2):
        with repo.checkout(write=True) as co:
            col = co.columns["x"] if "x" in co else co.add_ndarray_column("x", prototype=np.zeros(3))
            col[i] = np.full(3, i, np.float64)
            digests.append(co.commit(f"commit {i}"))
    add_bare_origin(repo, tmp_path / "origin.git")
    repo.remote.push("origin", "master")
    repo.remote.fetch_result("origin", "master")
    return repo, digests


@pytest.mark.parametrize("spec", ["master~1", "HEAD~1", "master^", "origin/master~1", "a={short}", "{short}"])
def test_log_and_summary_take_revisions(two_commits: tuple[Repository, list[str]], hangar: Hangar,
                                        spec: str) -> None:
    first = two_commits[1][0]
    spec = spec.format(short=first[:8])
    out = hangar.ok("log", spec).output
    assert first in out and two_commits[1][1] not in out
    assert hangar.ok("summary", "--commit", spec).output == hangar.ok("summary", "--commit", first).output


def test_checkout_of_a_remote_tracking_branch_is_refused(two_commits: tuple[Repository, list[str]],
                                                         hangar: Hangar) -> None:
    one_line_error(hangar("checkout", "origin/master"), "'origin/master' is a remote-tracking branch",
                   "`git hangar checkout master`", "`git hangar merge origin/master`")  # master exists here
    assert "On branch master" in hangar.ok("status").output
    repo = two_commits[0]
    repo.create_branch("side")
    hangar.ok("checkout", "side")
    repo.remove_branch("master")
    one_line_error(hangar("checkout", "origin/master"), "git hangar checkout -b master origin/master`")
    hangar.ok("checkout", "-b", "master", "--base", "origin/master")
    assert hangar.ok("checkout", "master").output == "Already on 'master'\n"
    with repo.checkout(write=True) as co:
        co["x"][9] = np.zeros(3)  # staged, not committed: staying on the branch keeps it
    assert hangar.ok("checkout", "master").output == "Already on 'master'\n"
    assert "x: 1 added" in hangar.ok("status").output
    hangar.ok("reset")
    hangar.ok("checkout", "-b", "mine", "--base", "origin/master~1")
    assert "On branch mine" in hangar.ok("status").output
    assert hangar.ok("log").output.count("a=") == 1


def test_ambiguous_prefix_is_one_line(two_commits: tuple[Repository, list[str]], hangar: Hangar) -> None:
    repo, digests = two_commits
    git, prefix = repo.ctx.git, digests[0][:4]
    n = 0
    while not git.blob_id(str(n).encode()).startswith(prefix):
        n += 1
    git.write_blob(str(n).encode())
    one_line_error(hangar("log", prefix), f"'{prefix}' is ambiguous", "give more of its digits")


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_log_max_count_and_oneline(two_commits: tuple[Repository, list[str]], hangar: Hangar, count: int) -> None:
    """git's `log -n N` and `--oneline` (a git user's habits)."""
    newest_first = two_commits[1][::-1]
    lines = hangar.ok("log", "-n", str(count), "--oneline").output.splitlines()
    assert len(lines) == min(count, 2)
    for line, digest in zip(lines, newest_first):
        assert f"a={digest[:7]} " in line and digest not in line
    contents = json.loads(hangar.ok("log", "--max-count", str(count), "--json").output)
    assert contents["order"] == newest_first[:count]
    refused = hangar("log", "-n", "-1")
    assert refused.exit_code == 2 and "-1 is not in the range" in refused.output


def test_diff_takes_git_ranges(two_commits: tuple[Repository, list[str]], hangar: Hangar) -> None:
    """`diff master~1..master` said "no branch or commit named 'master~1..master'"."""
    repo, _ = two_commits
    assert hangar.ok("diff", "master~1..master").output == hangar.ok("diff", "master~1", "master").output
    assert hangar.ok("diff", "master~1..").output == hangar.ok("diff", "master~1", "master").output
    with repo.checkout(write=True, branch=repo.create_branch("dev", "master~1").name) as co:
        co["x"][7] = np.zeros(3)
        co.commit("dev adds 7")
    three = json.loads(hangar.ok("diff", "--json", "master...dev").output)
    branch = json.loads(hangar.ok("diff", "--json", "--branch", "dev", "--onto", "master").output)
    assert three["samples"] == branch["samples"] == {"x": {"added": [7], "removed": [], "mutated": []}} and "merge base of master and dev" in three["source"]
    two = json.loads(hangar.ok("diff", "--json", "master..dev").output)
    assert two["samples"] != three["samples"]  # master..dev also undoes master's commit 1
