"""Remotes from the command line: pull, push --all / --delete, fetch --all, ls-remote, status
against remote branches, and the "untrue output" of issue 11 made true (each a regression test)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository

from .conftest import Files, GitHangar, Hangar, add_sample, clone, one_line_error, subprocess_env


# -- untrue output, made true --------------------------------------------------------------------
def test_push_of_an_up_to_date_branch_says_so(pushed: Path, hangar: Hangar) -> None:
    """Regression: `push` of an up-to-date branch printed "Pushed master to origin"."""
    out = hangar.ok("push", "origin", "master").stdout
    assert out.startswith("Everything up-to-date") and "Pushed" not in out


def test_re_adding_identical_files_stages_nothing(pushed: Path, hangar: Hangar, files: Files) -> None:
    """Regression: it printed "Staged 2 sample(s)" while `status` said "No changes"."""
    out = hangar.ok("add", "imgs", files / "a.npy", files / "b.npy").stdout
    assert "Nothing to stage" in out and "Staged" not in out
    np.save(files / "b.npy", np.zeros((2, 3), np.float32))
    out = hangar.ok("add", "imgs", files / "a.npy", files / "b.npy").stdout
    assert "Staged 1 sample(s)" in out and "1 already there" in out


def test_fetch_data_says_what_happened(pushed: Path, server: Path, tmp_path: Path) -> None:
    """Regression: `--column nope`, `--max-bytes 0` and an up-to-date fetch-data all printed
    "Fetched data of 1 commit(s)" and exited 0."""
    other = clone(tmp_path, server, "other")
    one_line_error(other("fetch-data", "origin", "--column", "nope"), "'nope'", "imgs")
    one_line_error(other("fetch-data", "origin", "--max-bytes", "0"), "positive")
    out = other.ok("fetch-data", "origin").stdout
    assert "Fetched 2 sample(s)" in out
    out = other.ok("fetch-data", "origin").stdout
    assert out.startswith("Already up to date") and "Fetched" not in out


def test_fetch_data_of_an_address_hints_at_remote_add(pushed: Path, hangar: Hangar) -> None:
    """Regression: it suggested `git hangar remote add ssh://... ADDRESS`."""
    line = one_line_error(hangar("fetch-data", "ssh://example.invalid/repo", "master"))
    assert "remote add NAME ssh://example.invalid/repo" in line


def test_fetch_of_a_missing_remote_branch_hints_at_ls_remote(pushed: Path, hangar: Hangar) -> None:
    """Regression: `fetch origin nosuch` hinted at `git hangar branch`."""
    line = one_line_error(hangar("fetch", "origin", "nosuch"), "'nosuch'", "ls-remote origin")
    assert "git hangar branch`" not in line


def test_push_race_names_the_real_remote(pushed: Path, server: Path, tmp_path: Path) -> None:
    """Regression: the losing side of a push race was told to run `git hangar fetch remote master`.

    Alice's push stops itself (SIGSTOP) just before it asks to move the branch; Bob pushes;
    Alice continues and loses."""
    alice, bob = clone(tmp_path, server, "alice"), clone(tmp_path, server, "bob")
    add_sample(alice.path, "alice", 1.0)
    add_sample(bob.path, "bob", 2.0)
    log = tmp_path / "fault.log"
    env = {**subprocess_env(), "HANGAR_FAULT": "push.before_update_ref", "HANGAR_FAULT_SIGNAL": "STOP",
           "HANGAR_FAULT_LOG": str(log)}
    proc = subprocess.Popen(["git", "hangar", "push", "origin", "master"], cwd=alice.path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        pid = int(log.read_text().split()[1])
        bob.ok("push", "origin", "master")
        os.kill(pid, signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err
    assert "git hangar fetch origin master" in err and "fetch remote" not in err


def test_missing_data_without_remotes_is_not_a_remote_reference(pushed: Path, server: Path,
                                                                  tmp_path: Path) -> None:
    """Regression: a repository with no remotes called missing data a "remote reference" and said
    to run fetch-data; fsck named digests where it could name column and key."""
    other = clone(tmp_path, server, "other")
    other.ok("remote", "remove", "origin")
    done = other("show", "master", "imgs", "a")
    assert done.exit_code == 1 and "remote reference" not in done.stderr and "fetch-data" not in done.stderr
    assert done.stderr.startswith("Error: data of sample 'a' in column 'imgs' is not on this machine")
    done = other("fsck", "--quick")
    assert done.exit_code == 1
    assert "column 'imgs' key 'a'" in done.stdout and "column 'imgs' key 'b'" in done.stdout


def test_reads_warn_only_about_what_they_read(pushed: Path, server: Path, tmp_path: Path) -> None:
    """Regression: `ls master big` and `show master big 5` warned that another column had
    no local data; status said `fetch-data REMOTE master` with a single remote, origin."""
    other = clone(tmp_path, server, "other")
    add_sample(other.path, "z", 9.0)  # a commit whose sample z is local, a and b are not
    for args in (("ls", "master", "imgs"), ("show", "master", "imgs"), ("show", "master", "imgs", "z")):
        done = other(*args)
        assert done.exit_code == 0 and done.stderr == "", (args, done.stderr)
    assert "run `git hangar fetch-data origin master` to retrieve them" in other.ok("status").stdout
    with pytest.warns(UserWarning, match="run `git hangar fetch-data origin master`"):
        Repository(other.path).checkout(branch="master").close()


# -- new remote commands -------------------------------------------------------------------------
def test_ls_remote(pushed: Path, hangar: Hangar) -> None:
    head = Repository(pushed).branch_head("master")
    assert hangar.ok("ls-remote").stdout == f"a={head}\tmaster\n"
    assert json.loads(hangar.ok("ls-remote", "origin", "--json").stdout) == {"master": head}


def test_push_all_and_delete(pushed: Path, hangar: Hangar, server: Path) -> None:
    hangar.ok("branch", "dev")
    hangar.ok("branch", "dev2")
    out = hangar.ok("push", "origin", "--all").stdout
    assert "[new branch]" in out and "Everything up-to-date" in out
    assert set(Repository(server).list_branches()) == {"master", "dev", "dev2"}
    assert "Deleted dev on origin" in hangar.ok("push", "origin", "--delete", "dev").stdout
    assert set(Repository(server).list_branches()) == {"master", "dev2"}
    assert "origin/dev" not in Repository(pushed).list_branches()
    one_line_error(hangar("push", "origin", "--delete", "dev"), "no branch 'dev'")
    one_line_error(hangar("push", "origin", "--delete", "master"), "default branch")


def test_fetch_all_and_pull(pushed: Path, server: Path, tmp_path: Path, git_hangar: GitHangar) -> None:
    other = clone(tmp_path, server, "other")
    add_sample(pushed, "c", 3.0)
    Hangar(pushed).ok("branch", "dev")
    Hangar(pushed).ok("push", "origin", "--all")
    out = other.ok("fetch", "--all").stdout
    assert "Fetched origin/dev ([new branch])" in out and "Fetched origin/master (" in out
    assert "origin/master is up to date" in other.ok("fetch", "origin").stdout
    assert "origin/master is up to date" in other.ok("fetch").stdout  # origin, as in git (was a usage error)
    status = other.ok("status").stdout
    assert "Behind origin/master by 1 commit(s)" in status
    assert "2 sample(s) of the head have no data on this machine" in status and "Warning" not in status
    done = git_hangar("pull", cwd=other.path)
    assert done.returncode == 0, done.stderr
    assert "Merged origin/master into 'master'" in done.stdout
    assert "Up to date with origin/master" in other.ok("status").stdout
    add_sample(other.path, "d", 4.0)
    assert "Ahead of origin/master by 1 commit(s)" in other.ok("status").stdout
    assert json.loads(other.ok("status", "--json").stdout)["tracking"] == [
        {"remote": "origin", "branch": "origin/master", "ahead": 1, "behind": 0}]
    assert "Already up to date" in other.ok("pull", "origin").stdout


def test_pull_with_conflicts_and_a_strategy(pushed: Path, server: Path, tmp_path: Path) -> None:
    other = clone(tmp_path, server, "other")
    add_sample(pushed, "a", 5.0)
    Hangar(pushed).ok("push", "origin")
    add_sample(other.path, "a", 6.0)
    one_line_error_or_list = other("pull")
    assert one_line_error_or_list.exit_code == 1 and "--strategy" in one_line_error_or_list.stderr
    other.ok("pull", "--strategy", "theirs")
    assert json.loads(other.ok("status", "--json").stdout)["samples_without_data"] == 2  # commits, not data
    other.ok("fetch-data", "origin")
    with Repository(other.path).checkout() as co:
        assert float(co["imgs"]["a"][0, 0]) == 5.0


def test_push_defaults_to_origin_as_pull_does(pushed: Path, hangar: Hangar) -> None:
    """Regression: `push` required REMOTE while `pull` defaulted to origin."""
    add_sample(pushed, "c", 3.0)
    assert hangar.ok("push").stdout.startswith("Pushed master to origin (")
    assert hangar.ok("push").stdout.startswith("Everything up-to-date: origin has master")


@pytest.mark.parametrize("address", ["", "   "])
def test_remote_add_refuses_an_empty_address(repo_dir: Path, hangar: Hangar, address: str) -> None:
    one_line_error(hangar("remote", "add", "o3", address), "needs an address")
    assert hangar.ok("remote").stdout == ""


def test_a_too_short_digest_says_how_long_it_must_be(pushed: Path, hangar: Hangar) -> None:
    head = Repository(pushed).branch_head("master")
    one_line_error(hangar("log", head[:3]), "4 hex digits or more")
    assert head in hangar.ok("log", head[:7]).stdout


def test_export_warns_only_about_the_column_it_reads(pushed: Path, hangar: Hangar, files: Files,
                                                      server: Path, tmp_path: Path) -> None:
    """Regression: `export imgs` in a partial clone warned about every column with remote references."""
    hangar.ok("add", "labels", files / "d.csv")
    hangar.ok("commit", "-m", "labels")
    hangar.ok("push", "origin", "master")
    other = clone(tmp_path, server, "other")
    other.ok("add", "mine", files / "a.npy")
    other.ok("commit", "-m", "mine")
    done = other("export", "mine", tmp_path / "out")
    assert done.exit_code == 0 and done.stderr == "", done.stderr
    done = other("export", "imgs", tmp_path / "out2")
    assert "'imgs'" in done.stderr and "'labels'" not in done.stderr, done.stderr
    assert "git hangar fetch-data origin master" in done.stderr, done.stderr


def test_remote_set_url_and_rename(pushed: Path, server: Path, tmp_path: Path) -> None:
    """There was no `remote set-url` nor `remote rename` (only "remove it first")."""
    other = clone(tmp_path, server, "other")
    moved = tmp_path / "moved.git"
    server.rename(moved)
    other.ok("remote", "set-url", "origin", moved)
    assert other.ok("remote", "-v").stdout.startswith(f"origin\t{moved} (fetch)\n")
    assert "origin/master is up to date" in other.ok("fetch").stdout
    other.ok("remote", "rename", "origin", "upstream")
    assert other.ok("remote").stdout == "upstream\n"
    assert "upstream/master" in other.ok("branch", "-a").stdout
    assert "Up to date with upstream/master" in other.ok("status").stdout  # master tracks upstream now
    add_sample(other.path, "c", 3.0)
    assert other.ok("push").stdout.startswith("Pushed master to upstream (")
    other.ok("remote", "add", "origin", moved)
    one_line_error(other("remote", "rename", "origin", "upstream"), "'upstream' already exists", "set-url")
    one_line_error(other("remote", "rename", "nope", "x"), "nope")
    one_line_error(other("remote", "set-url", "nope", moved), "nope")
    one_line_error(other("remote", "set-url", "origin", " "), "needs an address")


def test_fetch_data_defaults_to_the_remote_as_push_does(pushed: Path, server: Path, tmp_path: Path) -> None:
    """Regression: `fetch-data` required REMOTE while push and pull defaulted to origin.
    One word is REMOTE if a remote has that name, else BRANCH."""
    Hangar(pushed).ok("branch", "dev")
    add_sample(pushed, "c", 3.0, branch="dev")
    Hangar(pushed).ok("push", "origin", "dev")
    other = clone(tmp_path, server, "other")
    assert "Fetched 2 sample(s)" in other.ok("fetch-data").stdout
    other.ok("fetch")
    out = other.ok("fetch-data", "dev").stdout  # a branch: only origin has it
    assert out.startswith("Fetched 1 sample(s)") and "of dev from origin" in out
    other.ok("remote", "rename", "origin", "dev")  # now a remote has that name: REMOTE wins
    assert other.ok("fetch-data", "dev").stdout.startswith("Already up to date: every sample of master")
    assert "of dev" in other.ok("fetch-data", "dev", "dev").stdout
    one_line_error(other("fetch-data", "nosuch"), "nosuch")


@pytest.mark.parametrize("moved_on", [False, True])
def test_push_counts_only_the_commits_it_sends(pushed: Path, server: Path, tmp_path: Path, moved_on: bool) -> None:
    """Regression: a new branch whose commits the remote already had (feat2 at origin/feat, after
    someone else pushed on feat) was reported as "[new branch]: 3 commit(s)"."""
    hangar = Hangar(pushed)
    hangar.ok("checkout", "-b", "feat")
    for i in range(3):
        add_sample(pushed, f"f{i}", 10.0 + i, branch="feat")
    assert ": 3 commit(s), 3 sample(s)" in hangar.ok("push", "origin", "feat").stdout
    other = clone(tmp_path, server, "other")
    other.ok("fetch")
    if moved_on:  # the remote's feat is ahead of other's origin/feat now
        add_sample(pushed, "f3", 13.0, branch="feat")
        hangar.ok("push", "origin", "feat")
    other.ok("branch", "feat2", "origin/feat")
    out = other.ok("push", "origin", "feat2").stdout
    assert out.startswith("Pushed feat2 to origin ([new branch]: 0 commit(s), 0 sample(s), 0 bytes)"), out
    assert Repository(server).branch_head("feat2") == Repository(other.path).branch_head("feat2")


def test_push_trusting_a_stale_tracking_branch_recovers(pushed: Path, server: Path, tmp_path: Path) -> None:
    """The remote-tracking branch a push trusted is stale: its branch was deleted and made again on
    the remote, whose gc freed the old commits' data. The push is refused as incomplete, then
    made again trusting the remote's heads alone (not left stuck)."""
    hangar = Hangar(pushed)
    hangar.ok("checkout", "-b", "feat")
    add_sample(pushed, "f0", 10.0, branch="feat")
    hangar.ok("push", "origin", "feat")
    other = clone(tmp_path, server, "other")
    other.ok("fetch")
    other.ok("fetch-data", "origin", "feat")
    hangar.ok("push", "--delete", "origin", "feat")
    hangar.ok("checkout", "master")
    hangar.ok("branch", "-D", "feat")
    hangar.ok("checkout", "-b", "feat")
    add_sample(pushed, "g0", 20.0, branch="feat")
    hangar.ok("push", "origin", "feat")
    Repository(server).gc(grace_seconds=0)
    other.ok("branch", "feat2", "origin/feat")
    out = other.ok("push", "origin", "feat2").stdout
    assert out.startswith("Pushed feat2 to origin ([new branch]: 1 commit(s), 1 sample(s)"), out
    with Repository(server).checkout(branch="feat2") as co:
        assert float(co["imgs"]["f0"][0, 0]) == 10.0
