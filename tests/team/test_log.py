"""The audit log of `git hangar server --log` and `git hangar serve --user --log`."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hangar_git import Repository
from hangar_git.errors import AuthenticationError, PermissionDeniedError, RemoteError
from hangar_git.transport.auditlog import AuditLog
from tests.remote.conftest import init_bare

from .conftest import TeamServer, client
from .test_access import commit_rows

REQUIRED = ("time", "key", "address", "repo", "op", "result")


def well_formed(line: dict[str, Any]) -> None:
    assert all(key in line for key in REQUIRED), line
    assert line["time"].endswith("Z") and "T" in line["time"]
    text = json.dumps(line)
    assert "PRIVATE" not in text and "BEGIN" not in text


def test_every_kind_of_event_is_logged(team_server: TeamServer, tmp_path: Path) -> None:
    name = f"team/log{id(tmp_path)}.git"
    init_bare(team_server.root / name)
    alice = client(tmp_path, "alice")
    head = commit_rows(alice)
    alice.remote.add("origin", team_server.url("alice", name))
    alice.remote.push("origin", "master")
    push = team_server.wait_log(lambda l: l["repo"] == name and l["op"] == "push")
    assert push["key"] == "alice" and push["result"] == "ok" and push["access"] == "rw"
    assert push["refs"] == [{"branch": "master", "old": None, "new": head}]
    assert push["bytes_in"] > 0 and push["objects_in"] > 0 and push["address"].startswith("127.0.0.1:")

    bob = Repository(tmp_path / "bob", exists=False)
    bob.clone("bob", "bob@x", team_server.url("bob", name))
    bob.remote.quiet = True
    bob.remote.fetch_data("origin", "master")
    fetch_data = team_server.wait_log(lambda l: l["repo"] == name and l["op"] == "fetch-data")
    assert fetch_data["key"] == "bob" and fetch_data["result"] == "ok" and fetch_data["objects_out"] == 10
    assert fetch_data["bytes_out"] > 10 * 32

    commit_rows(bob, 10)
    with pytest.raises(PermissionDeniedError):
        bob.remote.push("origin", "master")
    refused = team_server.wait_log(lambda l: l["repo"] == name and l["key"] == "bob" and l["op"] == "push")
    assert refused["result"] == "denied" and "not push" in refused["error"]

    for who, repo in (("bob", "secret.git"), ("carol", "nothere.git")):
        other = client(tmp_path, who)
        other.remote.add("origin", team_server.url(who, repo))
        with pytest.raises(RemoteError):
            other.remote.list_remote_branches("origin")
    assert team_server.wait_log(lambda l: l["key"] == "bob" and l["repo"] == "secret.git")["result"] == "denied"
    assert team_server.wait_log(lambda l: l["key"] == "carol" and l["repo"] == "nothere.git")["result"] == "denied"

    mallory = client(tmp_path, "mallory")
    mallory.remote.add("origin", team_server.url("mallory", name))
    with pytest.raises(AuthenticationError):
        mallory.remote.list_remote_branches("origin")
    auth = team_server.wait_log(lambda l: l["op"] == "auth")
    assert auth["result"] == "denied" and auth["key"] is None and auth["offered"][0].startswith("SHA256:")

    escape = client(tmp_path, "alice")
    escape.remote.add("origin", team_server.url("alice", "../../etc"))
    with pytest.raises(RemoteError):
        escape.remote.list_remote_branches("origin")
    assert team_server.wait_log(lambda l: l["result"] == "invalid")["key"] == "alice"
    for line in team_server.log_lines():
        well_formed(line)


def test_forced_command_logs_too(forced_sshd: Any, tmp_path: Path) -> None:
    name = f"team/forced{id(tmp_path)}.git"
    init_bare(forced_sshd.root / name)
    alice = client(tmp_path, "alice")
    head = commit_rows(alice)
    alice.remote.add("origin", forced_sshd.url("alice", name))
    alice.remote.push("origin", "master")
    # the serve process writes its line once the connection ended, maybe after push returned
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in forced_sshd.log.read_text().splitlines()]
        push = [line for line in lines if line["repo"] == name and line["op"] == "push"]
        if push or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert push and push[-1]["refs"][0]["new"] == head and push[-1]["address"].startswith("127.0.0.1:")
    for line in lines:
        well_formed(line)


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    """Threads of one process and two processes' handles append whole lines only."""
    path = tmp_path / "audit.log"
    logs = [AuditLog(str(path)), AuditLog(str(path))]
    filler = "x" * 5000

    def write(log: AuditLog, who: int) -> None:
        for i in range(300):
            log.write(key=f"k{who}", address=None, repo=filler, op="push", result="ok", n=i)
    threads = [threading.Thread(target=write, args=(logs[i % 2], i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    lines = path.read_text().splitlines()
    assert len(lines) == 8 * 300
    assert all(json.loads(line)["repo"] == filler for line in lines)
