"""The remote workflow through real `git hangar` subprocesses (git finds `git-hangar` on PATH)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import MissingDataError, Repository

from tests.subprocesses import stop

from .conftest import ServerRepo, add_rows, assert_fsck_clean, assert_rows, dota_rows, python_env, reader

TEST_ROWS = dota_rows(300, np.uint8, seed=51)
TRAIN_ROWS = dota_rows(500, np.uint16, seed=52)


def git_hangar(*args: Any, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["git", "hangar", *map(str, args)], cwd=cwd, env=python_env(),
                          capture_output=True, text=True, timeout=120)
    if ok:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> str:
    """A failed command: one ``Error:`` line (after any ``Warning:`` lines), no traceback.

    The fragments may also be in the ``remote:`` detail lines that follow
    when a server explained its refusal on stderr.
    """
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, (fragment, done.stderr)
    return errors[0]


def test_cli_remote_workflow(server_address: Callable[[str], ServerRepo], tmp_path: Path) -> None:
    """init --bare, remote add/list, push, clone, fetch, log, fetch-data (every selector), non-fast-forward.

    The data is made with the API (fast); every remote step is a `git hangar` process.
    """
    kind = "openssh"
    server = server_address(kind)        # for its address; the repository itself is made by the CLI below
    bare = tmp_path / "cli-server.git"
    address = server.address.replace(server.path.name, bare.name)
    git_hangar("init", "--bare", bare, cwd=tmp_path)
    first = tmp_path / "first"
    repo = Repository(first, exists=False)
    repo.init("first", "first@x")
    add_rows(repo, "master", "dota_test", TEST_ROWS, "test games")
    repo.create_branch("add-train")
    add_rows(repo, "add-train", "dota_train", TRAIN_ROWS, "training games")

    git_hangar("remote", "add", "origin", address, cwd=first)
    assert git_hangar("remote", "list", cwd=first).stdout == f"origin\t{address}\n"
    assert "Pushed master to origin" in git_hangar("push", "origin", "master", cwd=first).stdout
    git_hangar("push", "origin", "add-train", cwd=first)
    one_line_error(git_hangar("push", "elsewhere", "master", cwd=first, ok=False), "'elsewhere'")
    heads = ServerRepo(kind, bare, address).heads()
    assert heads == {"master": repo.branch_head("master"), "add-train": repo.branch_head("add-train")}

    # clone: records only
    git_hangar("clone", address, "second", cwd=tmp_path)
    second = tmp_path / "second"
    assert Repository(second).list_branches() == ["master", "origin/master"]
    with pytest.warns(UserWarning, match="dota_test"):
        co = Repository(second).checkout()
    with co:
        with pytest.raises(MissingDataError):
            co["dota_test"][0]

    # fetch the other branch
    assert "Fetched origin/add-train" in git_hangar("fetch", "origin", "add-train", cwd=second).stdout
    assert "origin/add-train" in git_hangar("log", "origin/add-train", cwd=second).stdout

    # fetch-data: a budget, then a column, then a commit, then a branch's whole history
    git_hangar("fetch-data", "origin", "master", "--max-bytes", "2k", cwd=second)
    with reader(Repository(second)) as co:
        assert 0 < len(list(co["dota_test"].keys(local=True))) <= 2048 // TEST_ROWS[0].nbytes
    git_hangar("fetch-data", "origin", "master", "--column", "dota_test", cwd=second)
    with reader(Repository(second)) as co:
        assert co["dota_test"].contains_remote_references is False
        assert_rows(co, "dota_test", TEST_ROWS)
    assert f"Fetched {len(TRAIN_ROWS)} sample(s)" in git_hangar("fetch-data", "origin", "--commit", heads["add-train"],
                                                            cwd=second).stdout
    with reader(Repository(second), commit=heads["add-train"]) as co:
        assert_rows(co, "dota_train", TRAIN_ROWS)
    assert "2 commit(s)" in git_hangar("fetch-data", "origin", "add-train", "--all-history", cwd=second).stdout

    # the clone pushes a new commit; the first repository's own new commit is then refused
    add_rows(Repository(second), "master", "dota_test", TEST_ROWS[:3], "more", start=1000)
    add_rows(repo, "master", "dota_test", TEST_ROWS[3:6], "other more", start=1000)
    git_hangar("push", "origin", "master", cwd=second)
    pushed = ServerRepo(kind, bare, address).heads()
    assert pushed["master"] == Repository(second).branch_head("master")
    one_line_error(git_hangar("push", "origin", "master", cwd=first, ok=False),
                   "non-fast-forward", "git hangar fetch origin master")
    assert ServerRepo(kind, bare, address).heads() == pushed

    for path in (bare, first, second):
        assert_fsck_clean(path)


def test_cli_standalone_server(sshd_server: Any, tmp_path: Path) -> None:
    """`git hangar server` in its own process; a client trusts its host key once, then pushes and clones."""
    from tests.sshd import free_port
    root = tmp_path / "root"
    root.mkdir()
    keys = tmp_path / "authorized_keys"
    keys.write_text(Path(sshd_server.client_pub_key_path).read_text())
    git_hangar("init", "--bare", root / "team.git", cwd=tmp_path)
    port = free_port()
    proc = subprocess.Popen(["git", "hangar", "server", "--ip", "127.0.0.1", "--port", str(port),
                             "--root", str(root), "--authorized-keys", str(keys)],
                            env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    known = Path(os.path.expanduser("~/.ssh/known_hosts"))
    saved = known.read_text()
    try:
        banner = []
        while not (banner and banner[-1].startswith(f"[127.0.0.1]:{port} ")):   # the known_hosts line
            banner.append(proc.stderr.readline())  # type: ignore[union-attr]
            assert banner[-1] and len(banner) < 50, banner
        address = f"ssh://{sshd_server.user}@127.0.0.1:{port}/team.git"
        client = Repository(tmp_path / "client", exists=False)
        client.init("client", "client@x")
        add_rows(client, "master", "games", TEST_ROWS[:20], "games")
        client.remote.add("origin", address)
        one_line_error(git_hangar("push", "origin", "master", cwd=tmp_path / "client", ok=False),
                       "host key", "unknown", "--trust-host-key")
        git_hangar("push", "--trust-host-key", "origin", "master", cwd=tmp_path / "client")
        with pytest.warns(UserWarning, match="nothing to fetch"):
            client.remote.fetch("origin", "master")                          # the key is known now
        known.write_text(saved)                                                # forget it again
        one_line_error(git_hangar("clone", address, "copy", cwd=tmp_path, ok=False), "--trust-host-key")
        git_hangar("clone", "--trust-host-key", address, "copy", cwd=tmp_path)
        git_hangar("fetch-data", "origin", "master", cwd=tmp_path / "copy")
        with reader(Repository(tmp_path / "copy")) as co:
            assert_rows(co, "games", TEST_ROWS[:20])
        one_line_error(git_hangar("clone", f"ssh://{sshd_server.user}@127.0.0.1:{port}/../outside", "x",
                                  cwd=tmp_path, ok=False), "outside the served directory")
        assert_fsck_clean(root / "team.git")
    finally:
        known.write_text(saved)
        stop(proc)
        proc.stderr.close()  # type: ignore[union-attr]
