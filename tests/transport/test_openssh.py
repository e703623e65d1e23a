"""The transport over a real OpenSSH sshd (the ``sshd_server`` fixture of tests/conftest.py).

The remote command is a tiny script serving the built-in handler, so these
tests need nothing but this package's transport layer on the far side.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from hangar_git.errors import HostKeyError, RemoteError
from hangar_git.transport.connect import measure_raw_channel_throughput, open_session

from tests.sshd import SSHServer

from .conftest import REPO_ROOT

SERVER_SCRIPT = f"""\
import sys
sys.path.insert(0, {str(REPO_ROOT)!r})
from hangar_git.transport.rpc import ServiceHandler
assert sys.argv[1] == "serve", sys.argv
ServiceHandler().run(sys.stdin.buffer, sys.stdout.buffer)
"""


@pytest.fixture
def prefix(tmp_path: Path) -> str:
    script = tmp_path / "echo_server.py"
    script.write_text(SERVER_SCRIPT)
    return f"{sys.executable} {script}"


def test_echo_over_openssh(sshd_server: SSHServer, prefix: str, tmp_path: Path) -> None:
    with open_session(sshd_server.address(tmp_path), ssh_command_prefix=prefix) as s:
        payload = bytes(range(256)) * 40_000
        reply = s.call("echo", {"path": "ok"}, payload)
        assert reply.header == {"path": "ok"} and reply.payload == payload
        s.send("discard", {"stream": True})
        for _ in range(50):
            s.send("data", {}, payload)
        s.send("end")
        assert s.recv().header == {"frames": 50, "bytes": 50 * len(payload)}


def test_scp_style_address_via_ssh_config(sshd_server: SSHServer, prefix: str, tmp_path: Path) -> None:
    # ~/.ssh/config maps 127.0.0.1 to the fixture's port, user, key and known_hosts
    with open_session(f"127.0.0.1:{tmp_path}", ssh_command_prefix=prefix) as s:
        assert s.call("echo", {"a": 1}).header == {"a": 1}


def test_missing_remote_program_says_what_to_do(sshd_server: SSHServer, tmp_path: Path) -> None:
    # exit status 127 from the remote shell: the message names the program and how to name another
    with pytest.raises(RemoteError, match=r"cannot run 'no-such-program' \(exit status 127.*hangarcommand"):
        open_session(sshd_server.address(tmp_path), ssh_command_prefix="no-such-program")


def test_openssh_host_key_must_be_known(sshd_server: SSHServer, tmp_path: Path, prefix: str) -> None:
    known = Path(sshd_server.known_hosts_path)
    saved = known.read_text()
    known.write_text("")
    try:
        with pytest.raises(HostKeyError, match="unknown"):
            open_session(sshd_server.address(tmp_path), ssh_command_prefix=prefix)
    finally:
        known.write_text(saved)


def test_raw_channel_into_cat(sshd_server: SSHServer) -> None:
    rate = measure_raw_channel_throughput(sshd_server.address("/"), 8 << 20)
    assert rate > 1e6


def framed_discard_rate(session: object, nbytes: int, chunk: int = 8 << 20) -> float:
    block = memoryview(bytes(chunk))
    start = time.perf_counter()
    session.send("discard", {"stream": True})  # type: ignore[attr-defined]
    for done in range(0, nbytes, chunk):
        session.send("data", {}, block[: min(chunk, nbytes - done)])  # type: ignore[attr-defined]
    session.send("end")  # type: ignore[attr-defined]
    assert session.recv().header["bytes"] == nbytes  # type: ignore[attr-defined]
    return nbytes / (time.perf_counter() - start)


@pytest.mark.slow
def test_framed_throughput_is_close_to_a_raw_channel(sshd_server: SSHServer, prefix: str,
                                                     tmp_path: Path) -> None:
    nbytes = 256 << 20
    raw = max(measure_raw_channel_throughput(sshd_server.address("/"), nbytes) for _ in range(3))
    with open_session(sshd_server.address(tmp_path), ssh_command_prefix=prefix) as s:
        framed = max(framed_discard_rate(s, nbytes) for _ in range(3))
    print(f"OpenSSH loopback, 256 MB: raw channel {raw / 1e6:.0f} MB/s, framed {framed / 1e6:.0f} MB/s")
    assert framed >= 0.7 * raw
