"""`checkout` and `remote` as a git user types them (issue 11, fresh-eyes run):
`checkout -b NEW START` was a click usage error, `checkout dev` with only origin/dev failed
without help, `remote -v` was no option, and what `checkout OTHER` does with staged changes
was proven by no test."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from tests.repos import add_bare_origin

from .conftest import Hangar, one_line_error


@dataclass(frozen=True)
class Remotes:
    repo: Repository
    master: str  # master's head (one commit)
    dev: str     # origin/dev's head (master plus one commit)


def _commit(repo: Repository, key: int, message: str) -> str:
    with repo.checkout(write=True) as co:
        col = co.columns["x"] if "x" in co else co.add_ndarray_column("x", prototype=np.zeros(3))
        col[key] = np.full(3, key, np.float64)
        return co.commit(message)


@pytest.fixture
def remotes(tmp_path: Path, hangar: Hangar) -> Remotes:
    """Local master; remote origin has master and dev; dev exists here only as origin/dev."""
    repo = Repository(str(tmp_path / "repo"), exists=False)
    repo.init("t", "t@x")
    master = _commit(repo, 0, "on master")
    add_bare_origin(repo, tmp_path / "origin.git")
    repo.remote.push("origin", "master")
    repo.create_branch("dev")
    with repo.checkout(write=True, branch="dev"):
        pass
    dev = _commit(repo, 1, "on dev")
    repo.remote.push("origin", "dev")
    hangar.ok("checkout", "master")
    repo.remove_branch("dev", force_delete=True)
    repo.remote.fetch_result("origin", "dev")
    return Remotes(repo, master, dev)


def add_second_remote_with_dev(r: Remotes, path: Path) -> None:
    Repository(str(path), exists=False).init("s", "s@x", bare=True)
    r.repo.remote.add("upstream", str(path))
    r.repo.create_branch("dev", "origin/dev")
    r.repo.remote.push("upstream", "dev")
    r.repo.remove_branch("dev", force_delete=True)
    r.repo.remote.fetch_result("upstream", "dev")


def lines(*text: str) -> str:
    return "".join(f"{line}\n" for line in text)


# -- checkout -b NEW START -------------------------------------------------------------------
@pytest.mark.parametrize("start, head, tracks", [
    ("origin/dev", "dev", "origin/dev"),
    ("origin/dev~1", "master", None),
    ("master", "master", None),
    ("{dev}", "dev", None),
    ("a={dev_short}", "dev", None),
], ids=["remote-tracking", "remote-ancestor", "local-branch", "digest", "short-digest"])
def test_checkout_b_takes_a_start_revision(remotes: Remotes, hangar: Hangar, start: str, head: str,
                                           tracks: str | None) -> None:
    start = start.format(dev=remotes.dev, dev_short=remotes.dev[:8])
    expected = getattr(remotes, head)
    out = hangar.ok("checkout", "-b", "new", start).output
    tracking_line = [f"branch 'new' set up to track '{tracks}'."] if tracks else []
    assert out == lines(*tracking_line, "Switched to a new branch 'new'")
    assert remotes.repo.branch_head("new") == expected
    status = hangar.ok("status").output
    assert status.startswith("On branch new\n")
    assert ("Up to date with origin/dev" in status) == bool(tracks)  # 'new' != 'dev': only a real upstream


def test_checkout_b_start_and_base_are_one_thing(remotes: Remotes, hangar: Hangar) -> None:
    both = hangar("checkout", "-b", "new", "origin/dev", "--base", "master")
    assert both.exit_code == 2 and "not both" in both.output
    without_b = hangar("checkout", "new", "origin/dev")
    assert without_b.exit_code == 2 and "checkout -b new origin/dev" in without_b.output
    assert hangar.ok("branch").output == "* master\n"
    assert hangar.ok("checkout", "-b", "old", "--base", "origin/dev").output == lines(
        "branch 'old' set up to track 'origin/dev'.", "Switched to a new branch 'old'")


def test_a_tracking_branch_pulls_from_its_upstream(remotes: Remotes, hangar: Hangar, tmp_path: Path) -> None:
    hangar.ok("checkout", "-b", "mine", "origin/dev")
    other = Repository(str(tmp_path / "other"), exists=False)
    other.clone("o", "o@x", str(tmp_path / "origin.git"), branch="dev")
    newer = _commit(other, 2, "newer on dev")
    other.remote.push("origin", "dev")
    assert "Merged origin/dev into 'mine'" in hangar.ok("pull").output
    assert remotes.repo.branch_head("mine") == newer


def test_upstream_follows_rename_and_goes_with_delete(remotes: Remotes, hangar: Hangar) -> None:
    git = remotes.repo.ctx.git
    hangar.ok("branch", "mine", "origin/dev")
    hangar.ok("branch", "-m", "mine", "ours")
    hangar.ok("checkout", "ours")
    assert "Up to date with origin/dev" in hangar.ok("status").output
    hangar.ok("checkout", "master")
    hangar.ok("branch", "-D", "ours")
    assert not [k for k in git.config_items("hangar-branch.")]
    hangar.ok("branch", "again", "origin/dev")
    hangar.ok("remote", "remove", "origin")
    assert not [k for k in git.config_items("hangar-branch.")]


def test_push_without_remote_goes_to_the_branch_upstream(remotes: Remotes, hangar: Hangar, tmp_path: Path) -> None:
    """As git's push: REMOTE defaults to the remote the branch tracks (origin would be wrong)."""
    add_second_remote_with_dev(remotes, tmp_path / "upstream.git")
    hangar.ok("checkout", "-b", "dev", "upstream/dev")
    mine = _commit(remotes.repo, 7, "mine on dev")
    assert "Pushed dev to upstream" in hangar.ok("push").output
    assert Repository(str(tmp_path / "upstream.git")).branch_head("dev") == mine
    assert remotes.repo.ctx.git.get_ref("refs/hangar/remotes/origin/dev") == remotes.dev


@pytest.mark.parametrize("command", ["drop", "fetch-data", "push", "fetch"])
def test_a_branch_given_where_the_remote_goes_is_named_as_such(remotes: Remotes, hangar: Hangar,
                                                               command: str) -> None:
    """Regression: `drop master` said "no remote named 'master': `git hangar remote add master
    ADDRESS` adds one"."""
    one_line_error(hangar(command, "master", "master"), "'master' is a branch, not a remote",
                   "(`origin master`)")


# -- checkout BRANCH that only a remote has ---------------------------------------------------
def test_checkout_creates_a_branch_only_one_remote_has(remotes: Remotes, hangar: Hangar) -> None:
    out = hangar.ok("checkout", "dev").output
    assert out == lines("branch 'dev' set up to track 'origin/dev'.", "Switched to a new branch 'dev'")
    assert remotes.repo.branch_head("dev") == remotes.dev
    assert hangar.ok("checkout", "dev").output == "Already on 'dev'\n"


def test_checkout_of_a_branch_several_remotes_have_is_refused(remotes: Remotes, hangar: Hangar,
                                                              tmp_path: Path) -> None:
    add_second_remote_with_dev(remotes, tmp_path / "upstream.git")
    one_line_error(hangar("checkout", "dev"), "'dev'", "origin/dev, upstream/dev",
                   "`git hangar checkout -b dev origin/dev`", "`git hangar checkout -b dev upstream/dev`")
    assert hangar.ok("branch").output == "* master\n"
    hangar.ok("checkout", "-b", "dev", "upstream/dev")
    assert "Up to date with upstream/dev" in hangar.ok("status").output


def test_checkout_of_a_branch_no_remote_has_is_still_not_found(remotes: Remotes, hangar: Hangar) -> None:
    one_line_error(hangar("checkout", "nowhere"), "branch 'nowhere' does not exist")


# -- staged changes are never left behind silently -------------------------------------------
@pytest.mark.parametrize("argv", [
    ("checkout", "side"),
    ("checkout", "dev"),
    ("checkout", "-b", "new"),
    ("checkout", "-b", "new", "origin/dev"),
], ids=["local-branch", "only-on-origin", "new-branch", "new-from-remote"])
def test_checkout_with_staged_changes_refuses_and_keeps_them(remotes: Remotes, hangar: Hangar,
                                                             argv: tuple[str, ...]) -> None:
    """There is one staging area, belonging to the write branch (core/staging.py), and Hangar
    0.5 refuses to check out another branch for writing while it holds changes: so do we, with
    the commands to run, and every staged change stays where it was."""
    remotes.repo.create_branch("side")
    with remotes.repo.checkout(write=True) as co:
        co["x"][7] = np.full(3, 7.0)
        co.metadata["note"] = "staged"
    before = hangar.ok("status").output
    one_line_error(hangar(*argv), "uncommitted changes on 'master'", "`git hangar commit -m MESSAGE`",
                   "`git hangar reset`")
    assert hangar.ok("status").output == before
    assert hangar.ok("branch").output == "* master\n  side\n"
    hangar.ok("commit", "-m", "keep it")
    with remotes.repo.checkout() as co:
        assert np.array_equal(co["x", 7], np.full(3, 7.0)) and co.metadata["note"] == "staged"
    hangar.ok(*argv)


# -- remote, remote -v ------------------------------------------------------------------------
def test_remote_lists_names_and_verbose_lists_addresses(remotes: Remotes, hangar: Hangar,
                                                        tmp_path: Path) -> None:
    plain = tmp_path / "plain.git"
    subprocess.run(["git", "init", "-q", "--bare", str(plain)], check=True)
    data = tmp_path / "data"
    hangar.ok("remote", "add", "lab", str(plain), "--data", str(data))
    origin = tmp_path / "origin.git"
    assert hangar.ok("remote").output == lines("lab", "origin")
    assert hangar.ok("remote", "-v").output == lines(
        f"lab\t{plain} (fetch)", f"lab\t{plain} (push)", f"lab\t{data} (data)",
        f"origin\t{origin} (fetch)", f"origin\t{origin} (push)")
    assert hangar.ok("remote", "--verbose").output == hangar.ok("remote", "-v").output
    assert hangar.ok("remote", "list").output == lines(f"lab\t{plain}\t{data}", f"origin\t{origin}")
