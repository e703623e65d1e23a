"""OpenSSH hosts: `remote.<name>.hangarcommand` / `clone --remote-command` name the remote program,
and a missing program (exit status 127) gets a message that says what to do."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hangar_git import Repository
from hangar_git.errors import RemoteError
from tests import subprocesses
from tests.remote.conftest import init_bare
from tests.sshd import SSHServer

from .conftest import client
from .test_access import commit_rows


def test_missing_remote_program_says_what_to_do(sshd_server: SSHServer, tmp_path: Path) -> None:
    server = init_bare(tmp_path / "server.git")
    repo = client(tmp_path, "alice")
    repo.remote.add("origin", sshd_server.address(server))
    repo.ctx.git.config_set("remote.origin.hangarcommand", "no-such-git-hangar")
    with pytest.raises(RemoteError, match=r"cannot run 'no-such-git-hangar' \(exit status 127.*hangarcommand"):
        repo.remote.list_remote_branches("origin")
    real = os.path.join(os.path.dirname(sys.executable), "git-hangar")
    repo.ctx.git.config_set("remote.origin.hangarcommand", real)
    commit_rows(repo)
    repo.remote.push("origin", "master")
    assert Repository(server).ctx.git.list_refs("refs/hangar/heads/")


def test_clone_remote_command(sshd_server: SSHServer, tmp_path: Path) -> None:
    server = init_bare(tmp_path / "server.git")
    cli = [sys.executable, "-m", "hangar_git", "clone", "--name", "a", "--email", "a@x"]
    env = subprocesses.python_env()
    bad = subprocess.run([*cli, "--remote-command", "nope-hangar", sshd_server.address(server),
                          str(tmp_path / "bad")], capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode != 0 and "remote.<name>.hangarcommand" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    real = os.path.join(os.path.dirname(sys.executable), "git-hangar")
    good = subprocess.run([*cli, "--remote-command", real, sshd_server.address(server), str(tmp_path / "ok")],
                          capture_output=True, text=True, timeout=120, env=env)
    assert good.returncode == 0, good.stderr
    assert Repository(tmp_path / "ok").ctx.git.config_get("remote.origin.hangarcommand") == real


def test_remote_remove_forgets_its_remote_command(tmp_path: Path) -> None:
    # a remote removed and added again (another host) must not inherit the old host's program
    repo = client(tmp_path, "alice")
    repo.remote.add("origin", "ssh://old.example/srv/a.git")
    repo.ctx.git.config_set("remote.origin.hangarcommand", "/opt/old/git-hangar")
    repo.remote.remove("origin")
    assert repo.ctx.git.config_get("remote.origin.hangarcommand") is None
    repo.remote.add("origin", "ssh://new.example/srv/a.git")
    assert repo.ctx.git.config_get("remote.origin.hangarcommand") is None


def test_cli_remote_remove_forgets_its_remote_command(tmp_path: Path) -> None:
    repo = client(tmp_path, "alice")
    repo.remote.add("origin", "ssh://old.example/srv/a.git")
    repo.ctx.git.config_set("remote.origin.hangarcommand", "/opt/old/git-hangar")
    done = subprocess.run([sys.executable, "-m", "hangar_git", "remote", "remove", "origin"], cwd=repo.path,
                          capture_output=True, text=True, timeout=60, env=subprocesses.python_env())
    assert done.returncode == 0, done.stderr
    config = subprocess.run(["git", "config", "--get", "remote.origin.hangarcommand"], cwd=repo.path,
                            capture_output=True, text=True, timeout=60)
    assert config.returncode == 1 and config.stdout == ""
