"""Fixtures for the transport tests: a fake ~/.ssh per test and our own SSH server."""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import paramiko
import pytest

from hangar_git.transport.rpc import ServiceHandler
from hangar_git.transport.sshserver import HangarSSHServer

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME (and so ~/.ssh) is a fresh directory of this test; no agent."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    return home


def new_key(path: Path | None = None) -> paramiko.PKey:
    key = paramiko.ECDSAKey.generate()
    if path is not None:
        key.write_private_key_file(str(path))
    return key


def authorized_line(key: paramiko.PKey, comment: str = "test@host") -> str:
    return f"{key.get_name()} {key.get_base64()} {comment}\n"


@dataclasses.dataclass
class ServerSetup:
    server: HangarSSHServer
    root: Path
    client_key: paramiko.PKey
    home: Path

    def url(self, path: str = "/repo") -> str:
        return f"ssh://tester@127.0.0.1:{self.server.port}{path}"

    def trust(self) -> None:
        """Put the server's key in the fake ~/.ssh/known_hosts."""
        with open(self.home / ".ssh" / "known_hosts", "a") as fh:
            fh.write(self.server.known_hosts_line() + "\n")


@pytest.fixture
def make_server(tmp_path: Path, fake_home: Path) -> Iterator[Callable[..., ServerSetup]]:
    """Start HangarSSHServer instances on free ports; the client key is ~/.ssh/id_ecdsa."""
    started: list[HangarSSHServer] = []
    client_key = new_key(fake_home / ".ssh" / "id_ecdsa")

    def make(handler_factory: Callable[[str], ServiceHandler] | None = None, **kwargs: object) -> ServerSetup:
        root = tmp_path / f"root{len(started)}"
        (root / "repo").mkdir(parents=True)
        keys = tmp_path / f"authorized_keys{len(started)}"
        keys.write_text("# comment line\n" + authorized_line(client_key))
        server = HangarSSHServer("127.0.0.1", 0, str(root), str(keys), handler_factory=handler_factory,
                                 **kwargs)  # type: ignore[arg-type]
        started.append(server.__enter__())
        return ServerSetup(server, root, client_key, fake_home)

    yield make
    for server in started:
        server.shutdown()


@pytest.fixture
def ssh_server(make_server: Callable[..., ServerSetup]) -> ServerSetup:
    """A running server whose host key is already in the fake known_hosts."""
    setup = make_server()
    setup.trust()
    return setup


def serve_command(path: str) -> list[str]:
    """A local server command serving the built-in handler on stdin/stdout."""
    code = ("import sys; from hangar_git.transport.rpc import ServiceHandler; "
            "ServiceHandler().run(sys.stdin.buffer, sys.stdout.buffer)")
    return [sys.executable, "-c", code, path]
