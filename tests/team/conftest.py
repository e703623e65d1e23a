"""Fixtures of the team-server suite: named keys, a real `git hangar server` process with an
access file and an audit log, and an OpenSSH sshd whose keys run forced `serve --user` commands.

* ``team_keys``: ed25519 keys named alice, bob and carol (their authorized_keys comments) and
  mallory (authorized nowhere); each reachable as the ssh host alias ``<name>.team`` (an entry
  in the isolated ~/.ssh/config using only that key).
* ``team_server``: ``git hangar server`` (a subprocess) on 127.0.0.1 with :data:`RULES`,
  ``--log``; ``url(name, repo)``, ``init(repo)``, ``log_lines()``; ``sighup()``.
* ``forced_sshd``: a second real sshd where every key's line is
  ``command="git-hangar serve --user NAME --access ... --root ... --log ..."``.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from hangar_git import Repository
from tests import subprocesses
from tests.conftest import GitEnv, remote_env
from tests.sshd import SSHServer, keygen, start_sshd

NAMES = ("alice", "bob", "carol", "mallory")
RULES = """\
# team repositories: alice writes, bob reads
team/*.git   alice rw
team/*.git   bob   r
secret.git   alice rw   # nobody else
pub/**       *     r
"""
START_TIMEOUT = 60.0


@dataclass
class TeamKeys:
    directory: Path

    def private(self, name: str) -> Path:
        return self.directory / name

    def public_line(self, name: str) -> str:
        return (self.directory / f"{name}.pub").read_text()


@pytest.fixture(scope="session")
def team_keys(isolated_git_env: GitEnv, sshd_server: SSHServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamKeys]:
    directory = tmp_path_factory.mktemp("team-keys")
    for name in NAMES:
        keygen(directory / name, name)
    config = isolated_git_env.ssh_dir / "config"
    config.parent.mkdir(mode=0o700, exist_ok=True)
    before = config.read_text() if config.exists() else ""
    aliases = "".join(f"Host {name}.team\n    HostName 127.0.0.1\n    IdentityFile {directory / name}\n"
                      f"    IdentitiesOnly yes\n    IdentityAgent none\n" for name in NAMES)
    config.write_text(aliases + before)  # first match wins in ssh config: ours come first
    try:
        yield TeamKeys(directory)
    finally:
        config.write_text(config.read_text().replace(aliases, ""))


@dataclass
class TeamServer:
    root: Path
    port: int
    log: Path
    access: Path
    authorized_keys: Path
    proc: subprocess.Popen
    banner: str

    def url(self, name: str, repo: str) -> str:
        return f"ssh://{name}.team:{self.port}/{repo}"

    def init(self, repo: str) -> Path:
        path = self.root / repo
        Repository(path, exists=False).init("server", "server@hangar.invalid", bare=True)
        return path

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def wait_log(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first log line matching ``predicate`` (the line is written as the connection ends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.log_lines() if predicate(line)]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no matching log line in:\n{self.log.read_text()}")

    def sighup(self) -> None:
        self.proc.send_signal(signal.SIGHUP)


def start_server(directory: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """Start `git hangar server` on a free port (stderr to ``directory/server.err``);
    returns it and its start-up banner."""
    cmd = [sys.executable, "-m", "hangar_git", "server", "--ip", "127.0.0.1", "--port", "0",
           "--shutdown-timeout", "5", *extra]
    err = directory / "server.err"
    with err.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=fh,
                                env=subprocesses.python_env(), cwd=directory)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        text = err.read_text()
        if re.search(r"^\S*\[127\.0\.0\.1\]:\d+ \S+ \S+$", text, re.M):
            return proc, text
        time.sleep(0.05)
    stop_server(proc)
    raise AssertionError("server did not start:\n" + err.read_text())


def stop_server(proc: subprocess.Popen) -> None:
    subprocesses.stop(proc, timeout=20)


@pytest.fixture(scope="module")
def team_server(team_keys: TeamKeys, sshd_server: SSHServer,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    state = tmp_path_factory.mktemp("team-state")
    root = tmp_path_factory.mktemp("team-root")
    (root / "team").mkdir()
    keys = state / "authorized_keys"
    keys.write_text("".join(team_keys.public_line(n) for n in ("alice", "bob", "carol")))
    access = state / "access"
    access.write_text(RULES)
    log = state / "audit.log"
    proc, banner = start_server(state, "--root", str(root), "--authorized-keys", str(keys), "--access",
                                str(access), "--log", str(log), "--host-key", str(state / "host_key"))
    port = int(re.search(r"\[127\.0\.0\.1\]:(\d+) ", banner).group(1))  # type: ignore[union-attr]
    line = banner.strip().splitlines()[-1] + "\n"
    known = Path(sshd_server.known_hosts_path)
    with known.open("a") as fh:
        fh.write(line)
    try:
        yield TeamServer(root, port, log, access, keys, proc, banner)
    finally:
        known.write_text(known.read_text().replace(line, ""))
        stop_server(proc)


@dataclass
class ForcedSSHD:
    sshd: SSHServer
    root: Path
    log: Path

    def url(self, name: str, repo: str) -> str:
        return f"ssh://{name}.team:{self.sshd.port}/{repo}"


@pytest.fixture(scope="module")
def forced_sshd(team_keys: TeamKeys, isolated_git_env: GitEnv, sshd_server: SSHServer,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForcedSSHD]:
    """An OpenSSH sshd where each key may only run `git-hangar serve --user NAME` under RULES."""
    directory = tmp_path_factory.mktemp("forced-sshd")
    root = tmp_path_factory.mktemp("forced-root")
    (root / "team").mkdir()
    access, log = directory / "access", directory / "audit.log"
    access.write_text(RULES)
    with start_sshd(directory / "sshd", remote_env(isolated_git_env)) as sshd:
        lines = [f'command="git-hangar serve --user {name} --access {access} --root {root} --log {log}",'
                 f'no-pty,no-port-forwarding {team_keys.public_line(name)}' for name in ("alice", "bob", "carol")]
        sshd.authorized_keys_path.write_text("".join(lines))
        host_line = f"[127.0.0.1]:{sshd.port} {sshd.host_key_pub.read_text().split()[0]} " \
                    f"{sshd.host_key_pub.read_text().split()[1]}\n"
        known = Path(sshd_server.known_hosts_path)
        with known.open("a") as fh:
            fh.write(host_line)
        try:
            yield ForcedSSHD(sshd, root, log)
        finally:
            known.write_text(known.read_text().replace(host_line, ""))


def client(tmp_path: Path, name: str) -> Repository:
    repo = Repository(tmp_path / f"client-{name}-{len(os.listdir(tmp_path))}", exists=False)
    repo.init(name, f"{name}@hangar.invalid")
    repo.remote.quiet = True
    return repo
