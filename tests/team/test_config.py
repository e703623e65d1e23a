"""Bad authorized-keys and access files, reloading rules, and the known_hosts line printed at start."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hangar_git.errors import ServerConfigError
from hangar_git.transport.access import AccessRules, glob_regex, load_authorized_keys, repo_name
from tests import subprocesses
from tests.remote.conftest import init_bare

from .conftest import TeamKeys, TeamServer, client, start_server, stop_server

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice\n"


def run_server(tmp_path: Path, keys: str | None, access: str | None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "hangar_git", "server", "--port", "0", "--root", str(tmp_path)]
    for option, text, name in (("--authorized-keys", keys, "keys"), ("--access", access, "access")):
        if text is not None:
            (tmp_path / name).write_text(text)
            args += [option, str(tmp_path / name)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=subprocesses.python_env(),
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("keys, access, message", [
    ("", None, r"authorized keys .*keys lists no key"),
    ("# only a comment\n\n", None, r"authorized keys .*keys lists no key"),
    (KEY + "ssh-rsa not*base64 bob\n", None, r"keys:2: not a public key line"),
    (KEY + "hello world\n", None, r"keys:2: not a public key line"),
    (KEY + KEY.replace("alice", "bob"), None, r"keys:2: this key is already listed as 'alice'"),
    (KEY, "", r"access file .*access has no rule"),
    (KEY, "# nothing\n", r"access file .*access has no rule"),
    (KEY, "team/* alice rw\nteam/* bob\n", r"access:2: expected '<repository glob> <key name> <r\|rw>'"),
    (KEY, "team/* alice write\n", r"access:1: expected"),
], ids=["empty-keys", "comment-keys", "bad-base64", "garbage", "one-key-two-names", "empty-access",
        "comment-access", "two-fields", "bad-mode"])
def test_server_refuses_to_start_on_a_bad_file(tmp_path: Path, keys: str, access: str | None,
                                               message: str) -> None:
    done = run_server(tmp_path, keys, access)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert re.search(message, done.stderr), done.stderr


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    with pytest.raises(ServerConfigError, match=rf"cannot read authorized keys {tmp_path}/keys"):
        load_authorized_keys(str(tmp_path / "keys"))
    (tmp_path / "access").write_bytes(b"\xff\xfe team/* alice r\n")
    with pytest.raises(ServerConfigError, match=rf"cannot read access file {tmp_path}/access"):
        AccessRules.load(str(tmp_path / "access"))


@pytest.mark.parametrize("pattern, name, match", [
    ("team/*.git", "team/a.git", True),
    ("team/*.git", "team/sub/a.git", False),
    ("team/**", "team/sub/a.git", True),
    ("**/a.git", "a.git", True),
    ("**/a.git", "x/y/a.git", True),
    ("/team/a.git/", "team/a.git", True),
    ("team/?.git", "team/ab.git", False),
    ("team/[ab].git", "team/b.git", True),
    ("team/[!ab].git", "team/b.git", False),
    ("team/a+b.git", "team/a+b.git", True),
])
def test_globs(pattern: str, name: str, match: bool) -> None:
    assert bool(glob_regex(repo_name(pattern)).match(name)) is match


def test_rules_add_up_and_star_means_every_key(tmp_path: Path) -> None:
    (tmp_path / "access").write_text("team/** * r\nteam/a.git bob rw\n")
    rules = AccessRules.load(str(tmp_path / "access"))
    assert rules.mode("bob", "/team/a.git") == "rw"
    assert rules.mode("eve", "team/a.git") == "r"
    assert rules.mode("eve", "other.git") is None


def test_access_changes_apply_to_the_next_connection(team_server: TeamServer, tmp_path: Path) -> None:
    name = "team/reload.git"
    init_bare(team_server.root / name)
    carol = client(tmp_path, "carol")
    carol.remote.add("origin", team_server.url("carol", name))
    original = team_server.access.read_text()
    try:
        team_server.access.write_text(original + "team/reload.git carol r\n")
        assert carol.remote.list_remote_branches("origin") == {}
        team_server.access.write_text(original + "this line is broken\n")  # kept: the last good rules
        team_server.sighup()
        line = team_server.wait_log(lambda l: l["op"] == "reload")
        assert line["result"] == "error" and "access:6: expected" in line["error"]
        assert carol.remote.list_remote_branches("origin") == {}
    finally:
        team_server.access.write_text(original)
        stamp = time.time() + 2
        os.utime(team_server.access, (stamp, stamp))
    with pytest.raises(Exception, match="no hangar repository"):
        carol.remote.list_remote_branches("origin")


def test_wildcard_bind_prints_reachable_names(tmp_path: Path, team_keys: TeamKeys) -> None:
    (tmp_path / "keys").write_text(team_keys.public_line("alice"))
    proc, banner = start_server(tmp_path, "--ip", "0.0.0.0", "--root", str(tmp_path),
                                "--authorized-keys", str(tmp_path / "keys"))
    try:
        line = banner.strip().splitlines()[-1]
        names = line.split()[0].split(",")
        assert "0.0.0.0" not in line
        assert any(n.startswith("[127.0.0.1]:") for n in names)
    finally:
        stop_server(proc)
