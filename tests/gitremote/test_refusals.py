"""A git host plus a bucket keeps a hangar server's guarantees: non-fast-forwards refused, one
winner among racing pushers, one data location per host, no hangar needed on the host."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import NonFastForwardError, Repository
from hangar_git.errors import DataLocationError, RemoteError

from ..remote.conftest import add_rows, assert_fsck_clean, assert_rows, dota_rows, python_env, reader
from .conftest import GitHost, bucket_digests

ROWS = dota_rows(300, np.uint16, seed=7)
HostFactory = Callable[[str], GitHost]


def pushed_pair(git_host: HostFactory, data_url: str, make_repo: Callable[[str], Repository],
                tmp_path: Path, kind: str = "path") -> tuple[GitHost, Repository, Repository, str]:
    """A host with ``master`` pushed by ``a``, and ``b`` cloned from it."""
    host = git_host(kind)
    a = make_repo("a")
    base = add_rows(a, "master", "rows", ROWS[:100], "base")
    a.remote.add("origin", host.address, data_url=data_url)
    a.remote.push("origin", "master")
    b = Repository(tmp_path / "b", exists=False)
    b.clone("b", "b@x", host.address)
    b.remote.quiet = True
    return host, a, b, base


def test_non_fast_forward_push_is_refused(git_host: HostFactory, data_url: str,
                                          make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    host, a, b, base = pushed_pair(git_host, data_url, make_repo, tmp_path)
    theirs = add_rows(b, "master", "rows", ROWS[100:200], "b's rows", start=100)
    b.remote.push("origin", "master")
    in_bucket = bucket_digests(data_url)
    add_rows(a, "master", "rows", ROWS[200:], "a's rows", start=200)
    with pytest.raises(NonFastForwardError, match="fetch origin master"):
        a.remote.push("origin", "master")
    assert host.head("master") == theirs
    assert bucket_digests(data_url) == in_bucket          # refused before any data moved
    a.remote.fetch("origin", "master")
    a.merge("take b's rows", "master", "origin/master")
    merged = a.remote.push("origin", "master")
    assert merged == "master" and host.head("master") == a.branch_head("master")
    assert base in a.log(return_contents=True)["order"]  # type: ignore[index]


def test_a_git_host_has_one_data_location(git_host: HostFactory, data_url: str, s3_server: Any,
                                          make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    host, a, _, _ = pushed_pair(git_host, data_url, make_repo, tmp_path)
    other = make_repo("other")
    add_rows(other, "master", "rows", ROWS[:5], "elsewhere")
    other.create_branch("elsewhere")
    other.remote.add("origin", host.address, data_url=s3_server.new_uri())
    with pytest.raises(DataLocationError, match=data_url):
        other.remote.push("origin", "elsewhere")
    assert host.head("elsewhere") is None


def test_the_host_runs_no_hangar(git_only_sshd: Any, sshd_server: Any, git_host: HostFactory,
                                 data_url: str, make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    """Over the git-only sshd, git-hangar cannot run; hangar's server attempt fails there and
    clone falls back to the data location git finds."""
    def remote_shell(command: str) -> int:
        return subprocess.run(git_only_sshd.ssh_command(command), capture_output=True).returncode

    assert remote_shell("command -v git-upload-pack") == 0
    assert remote_shell("command -v git-hangar") != 0
    host = git_host("gitssh")
    a = make_repo("a")
    head = add_rows(a, "master", "rows", ROWS[:50], "rows")
    a.remote.add("origin", host.address, data_url=data_url)
    a.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    assert clone.clone("c", "c@x", host.address) == "master"
    assert clone.remote.list_all()[0].data_url == data_url
    clone.remote.quiet = True
    assert clone.remote.fetch_data("origin", "master") == [head]
    with reader(clone) as co:
        assert_rows(co, "rows", ROWS[:50])
    # a plain hangar remote (no --data) at that address cannot work: no hangar server runs there
    a.remote.add("server", host.address)
    with pytest.raises(RemoteError):
        a.remote.fetch("server", "master")


RACER = """
import os, sys, time
from hangar_git import Repository, NonFastForwardError
repo = Repository(sys.argv[1])
repo.remote.quiet = True
go = sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.005)
try:
    repo.remote.push("origin", "master")
except NonFastForwardError:
    print("REFUSED", flush=True)
    sys.exit(3)
print("WON", flush=True)
"""


def race_once(host: GitHost, data_url: str, racers: list[Repository], tmp_path: Path, round_no: int) -> None:
    heads = {}
    for i, repo in enumerate(racers):
        rows = dota_rows(200, np.uint16, seed=1000 * round_no + i)
        heads[repo.path] = (add_rows(repo, "master", "rows", rows, f"round {round_no} by {i}", start=1000), rows)
    go = tmp_path / f"go{round_no}"
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    procs = [subprocess.Popen([sys.executable, str(script), repo.path, str(go)], env=python_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for repo in racers]
    time.sleep(0.3)
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 3], (codes, outs)
    winner = racers[codes.index(0)]
    head, rows = heads[winner.path]
    assert host.head("master") == head
    assert_fsck_clean(host.path)
    check = Repository(tmp_path / f"check{round_no}", exists=False)
    check.clone("c", "c@x", host.address)
    check.remote.quiet = True
    check.remote.fetch_data("origin", "master")
    with reader(check) as co:
        assert co["rows"].contains_remote_references is False
        assert all(np.array_equal(co["rows"][1000 + i], row) for i, row in enumerate(rows))
    assert check.fsck(remote="origin").ok


@pytest.mark.parametrize("rounds", [pytest.param(1, id="once"), pytest.param(8, id="many", marks=pytest.mark.slow)])
def test_two_concurrent_pushers_one_winner(rounds: int, git_host: HostFactory, data_url: str,
                                           make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    host, a, b, _ = pushed_pair(git_host, data_url, make_repo, tmp_path)
    for round_no in range(rounds):
        for repo in (a, b):       # both start from the host's head
            repo.remote.fetch_result("origin", "master")
            repo.ctx.git.set_ref("refs/hangar/heads/master", repo.branch_head("origin/master"))
        race_once(host, data_url, [a, b], tmp_path, round_no)


def test_pushes_of_two_branches_at_once_both_land(git_host: HostFactory, data_url: str,
                                                  make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    host, a, b, base = pushed_pair(git_host, data_url, make_repo, tmp_path)
    for repo, branch in ((a, "left"), (b, "right")):
        repo.create_branch(branch, base_commit=base)
        add_rows(repo, branch, "rows", dota_rows(100, np.uint16, seed=hash(branch) % 100), branch, start=500)
    go = tmp_path / "go"
    code = ("import os,sys,time\nfrom hangar_git import Repository\nr=Repository(sys.argv[1]);r.remote.quiet=True\n"
            "while not os.path.exists(sys.argv[3]): time.sleep(0.005)\nr.remote.push('origin', sys.argv[2])\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, repo.path, branch, str(go)], env=python_env(),
                              stderr=subprocess.PIPE, text=True) for repo, branch in ((a, "left"), (b, "right"))]
    go.touch()
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert host.head("left") == a.branch_head("left") and host.head("right") == b.branch_head("right")
    assert a.fsck(remote="origin").ok
