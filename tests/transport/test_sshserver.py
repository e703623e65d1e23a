"""Our paramiko SSH server and client against each other, over real loopback sockets."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Callable

import paramiko
import pytest

from hangar_git.errors import (AuthenticationError, HostKeyError, NotInitializedError, ServerConfigError,
                               PermissionDeniedError, RemoteError)
from hangar_git.transport import connect
from hangar_git.transport.connect import measure_raw_channel_throughput, open_session
from hangar_git.transport.rpc import ServiceHandler
from hangar_git.transport.sshserver import (load_authorized_keys, load_or_create_host_key,
                                            parse_serve_command, resolve_repo_path)

from .conftest import ServerSetup, authorized_line, new_key


def url_for(setup: ServerSetup, path: str) -> str:
    """An ssh:// URL whose remote path is exactly ``path`` (relative ones via ``~/``)."""
    if path.startswith("/"):
        return setup.url(path)
    return setup.url("/" + path if path.startswith("~") else "/~/" + path)


def test_echo_over_ssh(ssh_server: ServerSetup) -> None:
    with open_session(ssh_server.url()) as s:
        assert s.server_info["server"] == "hangar-git"
        reply = s.call("echo", {"k": "v"}, b"\x01" * 3_000_000)
        assert reply.header == {"k": "v"} and reply.payload == b"\x01" * 3_000_000


@pytest.mark.parametrize("path, served", [
    ("/repo", "repo"), ("repo", "repo"), ("~/repo", "repo"), ("/team/../repo", "repo"), ("/", ""),
], ids=["absolute", "relative", "home", "dotdot-inside", "root"])
def test_paths_are_served_relative_to_root(make_server: Callable[..., ServerSetup], path: str,
                                           served: str) -> None:
    seen: list[str] = []
    setup = make_server(lambda p: seen.append(p) or ServiceHandler())
    setup.trust()
    open_session(url_for(setup, path)).close()
    assert seen == [os.path.join(str(setup.root.resolve()), served).rstrip("/")]


def test_scp_style_address_uses_ssh_config_port(ssh_server: ServerSetup) -> None:
    (ssh_server.home / ".ssh" / "config").write_text(
        f"Host myalias\n  HostName 127.0.0.1\n  Port {ssh_server.server.port}\n  User tester\n"
        f"  IdentityFile ~/.ssh/other_key\n")
    os.replace(ssh_server.home / ".ssh" / "id_ecdsa", ssh_server.home / ".ssh" / "other_key")
    with open_session("myalias:repo") as s:
        assert s.call("echo", {"via": "config"}).header == {"via": "config"}


def test_user_known_hosts_file_from_config(make_server: Callable[..., ServerSetup]) -> None:
    setup = make_server()
    elsewhere = setup.home / "elsewhere_known_hosts"
    elsewhere.write_text(setup.server.known_hosts_line() + "\n")
    (setup.home / ".ssh" / "config").write_text(f"Host 127.0.0.1\n  UserKnownHostsFile {elsewhere}\n")
    open_session(setup.url()).close()


def test_wrong_key_is_refused(ssh_server: ServerSetup) -> None:
    new_key(ssh_server.home / ".ssh" / "id_ecdsa")  # replace the authorised key with another
    with pytest.raises(AuthenticationError, match=r"ssh://tester@127\.0\.0\.1:\d+: authentication failed"):
        open_session(ssh_server.url())


def test_unknown_host_is_refused(make_server: Callable[..., ServerSetup]) -> None:
    setup = make_server()
    with pytest.raises(HostKeyError, match=r"unknown .*`ssh-keyscan -p \d+ 127\.0\.0\.1 .*--trust-host-key"):
        open_session(setup.url())
    assert not (setup.home / ".ssh" / "known_hosts").exists()


def test_trust_option_saves_the_key(make_server: Callable[..., ServerSetup],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    setup = make_server()
    open_session(setup.url(), trust_host_key=True).close()
    assert "permanently added" in capsys.readouterr().err
    known = (setup.home / ".ssh" / "known_hosts").read_text()
    assert known == setup.server.known_hosts_line() + "\n"
    open_session(setup.url()).close()  # trusted from now on


@pytest.mark.parametrize("trust", [False, True], ids=["plain", "even-with-trust-option"])
def test_changed_host_key_is_refused(make_server: Callable[..., ServerSetup], trust: bool) -> None:
    setup = make_server()
    impostor = new_key()
    name = f"[127.0.0.1]:{setup.server.port}"
    known = setup.home / ".ssh" / "known_hosts"
    known.write_text(f"{name} {impostor.get_name()} {impostor.get_base64()}\n")
    with pytest.raises(HostKeyError, match=r"has CHANGED \(possible man-in-the-middle.*ssh-keygen -R"):
        open_session(setup.url(), trust_host_key=trust)
    assert known.read_text().count("\n") == 1


@pytest.mark.parametrize("path", ["/../outside", "../outside", "/repo/../../outside", "/escape",
                                  "/.hangar-server", "~root/x"],
                         ids=["dotdot-abs", "dotdot-rel", "dotdot-deep", "symlink", "server-state", "other-home"])
def test_paths_outside_root_are_refused(ssh_server: ServerSetup, path: str) -> None:
    (ssh_server.root / "escape").symlink_to(ssh_server.root.parent)
    address = url_for(ssh_server, path)
    with pytest.raises(RemoteError, match=r"(?s)(remote closed the connection|connection lost).*remote: error: repository "
                                          r"path .* (outside the served directory|not served here).*exit status 1"):
        open_session(address)


def test_handler_factory_errors_go_to_stderr(make_server: Callable[..., ServerSetup]) -> None:
    def factory(path: str) -> ServiceHandler:
        raise NotInitializedError(path)
    setup = make_server(factory)
    setup.trust()
    with pytest.raises(RemoteError, match="no hangar repository '/repo' on this server") as caught:
        open_session(setup.url())
    assert str(setup.root) not in str(caught.value)


def test_handler_factory_bug_is_reported(make_server: Callable[..., ServerSetup]) -> None:
    setup = make_server(lambda path: 1 / 0)
    setup.trust()
    with pytest.raises(RemoteError, match="internal server error: ZeroDivisionError"):
        open_session(setup.url())
    with pytest.raises(RemoteError, match="internal server error"):
        open_session(setup.url())  # the server is still up


def paramiko_client(setup: ServerSetup) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(setup.home / ".ssh" / "known_hosts"))
    client.connect("127.0.0.1", setup.server.port, "tester", pkey=setup.client_key,
                   allow_agent=False, look_for_keys=False, timeout=10)
    return client


def test_shell_pty_subsystem_and_forwarding_are_refused(ssh_server: ServerSetup) -> None:
    client = paramiko_client(ssh_server)
    try:
        transport = client.get_transport()
        with pytest.raises(paramiko.SSHException):
            client.invoke_shell()
        with pytest.raises(paramiko.SSHException):
            transport.open_session().get_pty()
        with pytest.raises(paramiko.SSHException):
            transport.open_session().invoke_subsystem("sftp")
        with pytest.raises(paramiko.ChannelException):
            transport.open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 1))
        with pytest.raises(paramiko.SSHException):
            transport.request_port_forward("127.0.0.1", 0)
    finally:
        client.close()


@pytest.mark.parametrize("command", ["cat > /dev/null", "git-hangar serve", "git-hangar serve a b",
                                     "git-hangar serve 'unbalanced", "sh -c 'git-hangar serve x'"],
                         ids=["cat", "no-path", "two-paths", "bad-quoting", "shell"])
def test_other_commands_are_refused(ssh_server: ServerSetup, command: str) -> None:
    client = paramiko_client(ssh_server)
    try:
        _, stdout, stderr = client.exec_command(command, timeout=10)
        assert stdout.read() == b""
        assert stdout.channel.recv_exit_status() == 1
        assert b"error: " in stderr.read()
    finally:
        client.close()


def test_git_hangar_with_a_space_is_accepted(ssh_server: ServerSetup, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_session(ssh_server.url(), ssh_command_prefix="git hangar") as s:
        assert s.call("echo", {"a": 1}).header == {"a": 1}


def test_garbage_peer_does_not_disturb_a_good_client(make_server: Callable[..., ServerSetup]) -> None:
    setup = make_server(auth_timeout=2.0)
    setup.trust()
    with open_session(setup.url()) as good:
        bad = [socket.create_connection(("127.0.0.1", setup.server.port)) for _ in range(3)]
        bad[0].sendall(os.urandom(4096))
        bad[1].sendall(b"SSH-2.0-evil\r\n" + os.urandom(4096))
        # bad[2] says nothing at all
        for i in range(20):
            assert good.call("echo", {"i": i}, b"x" * 10_000).header == {"i": i}
        for sock in bad[:2]:
            sock.settimeout(5)
            try:
                while sock.recv(4096):
                    pass  # the server hangs up on them
            except ConnectionResetError:
                pass
        with open_session(setup.url()) as second:
            assert second.call("echo", {"second": True}).header == {"second": True}
    idle = bad[2]
    idle.settimeout(10)
    started = time.monotonic()
    while idle.recv(4096):
        pass  # banner, then EOF once the auth timeout expires
    assert time.monotonic() - started < 8
    for sock in bad:
        sock.close()


def test_concurrent_clients(ssh_server: ServerSetup) -> None:
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with open_session(ssh_server.url()) as s:
                for i in range(5):
                    assert s.call("echo", {"n": n, "i": i}).header == {"n": n, "i": i}
        except BaseException as exc:  # reported below
            failures.append(exc)
    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures


def test_connection_refused_names_the_address(fake_home: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RemoteError, match=rf"ssh://\w+@127\.0\.0\.1:{port}: connection refused"):
        open_session(f"ssh://127.0.0.1:{port}/repo")


def test_unknown_host_name(fake_home: Path) -> None:
    with pytest.raises(RemoteError, match="cannot resolve host name 'no-such-host.invalid'"):
        open_session("no-such-host.invalid:repo")


def test_not_an_ssh_server(fake_home: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def answer() -> None:
            conn, _ = listener.accept()
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()
        threading.Thread(target=answer, daemon=True).start()
        with pytest.raises(RemoteError, match=rf"127\.0\.0\.1:{port}: SSH connection failed"):
            open_session(f"ssh://127.0.0.1:{port}/repo")


def test_raw_channel_throughput_helper(make_server: Callable[..., ServerSetup]) -> None:
    class Sink(ServiceHandler):
        def run(self, reader, writer) -> None:  # type: ignore[no-untyped-def]
            while reader.read(1 << 16):
                pass
    setup = make_server(lambda path: Sink())
    setup.trust()
    rate = measure_raw_channel_throughput(setup.url(), 4 << 20, command="git-hangar serve repo")
    assert rate > 1e6


def test_handlers_may_read_into_their_own_buffers(make_server: Callable[..., ServerSetup], tmp_path: Path) -> None:
    """The reader a handler gets keeps the channel stream's readinto (the bench's raw sinks
    use it): it was dropped by the audit log's byte-counting wrapper, the handler's thread
    died and the client saw only 'Socket is closed'."""
    got: list[int] = []

    class IntoSink(ServiceHandler):
        def run(self, reader, writer) -> None:  # type: ignore[no-untyped-def]
            buf, total = bytearray(1 << 20), 0
            while n := reader.readinto(buf):
                total += n
            got.append(total)
    setup = make_server(lambda path: IntoSink(), log_path=str(tmp_path / "audit.log"))
    setup.trust()
    nbytes = (3 << 20) + 1
    assert measure_raw_channel_throughput(setup.url(), nbytes, command="git-hangar serve repo") > 0
    assert got == [nbytes]
    setup.server.shutdown()
    log = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [entry["bytes_in"] for entry in log if "bytes_in" in entry] == [nbytes]  # counted as read


def test_ssh_vendor_is_a_swappable_seam(monkeypatch: pytest.MonkeyPatch, fake_home: Path) -> None:
    calls = []

    class Recorder(connect.SSHVendor):
        def run_command(self, host, port, user, command, *, trust_host_key=False):  # type: ignore[no-untyped-def]
            calls.append((host, port, user, command, trust_host_key))
            raise RemoteError("recorded")
    monkeypatch.setattr(connect, "ssh_vendor", Recorder())
    with pytest.raises(RemoteError, match="recorded"):
        open_session("ssh://bob@example.org:2200/~/data/my repo", trust_host_key=True)
    assert calls == [("example.org", 2200, "bob", "git-hangar serve ~/'data/my repo'", True)]


# -- server pieces -----------------------------------------------------------------
@pytest.mark.parametrize("command, path", [
    (b"git-hangar serve /a/b", "/a/b"),
    (b"git-hangar serve '/a b/c'", "/a b/c"),
    (b"git hangar serve repo", "repo"),
    ("git-hangar serve ~/'x y'", "~/x y"),
], ids=["plain", "quoted", "git-space-hangar", "tilde"])
def test_parse_serve_command(command: bytes | str, path: str) -> None:
    assert parse_serve_command(command) == path


def test_resolve_repo_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "team").mkdir(parents=True)
    assert resolve_repo_path(str(root), "/team/repo") == str(root / "team" / "repo")
    assert resolve_repo_path(str(root), "~") == str(root)
    with pytest.raises(PermissionDeniedError):
        resolve_repo_path(str(root), "/team/../../x")
    with pytest.raises(PermissionDeniedError):
        resolve_repo_path(str(root), "a\0b")


def test_authorized_keys_format(tmp_path: Path) -> None:
    keys = [new_key() for _ in range(3)]
    path = tmp_path / "authorized_keys"
    path.write_text(
        "\n# a comment\n"
        + authorized_line(keys[0])
        + 'command="echo hi",no-pty,from="10.0.0.1 ,x" ' + authorized_line(keys[1], "with options")
        + f"{keys[2].get_name()} not-base64!!\n"
        + "garbage line\n")
    with pytest.raises(ServerConfigError, match=r"authorized_keys:5: not a public key line"):
        load_authorized_keys(str(path))
    path.write_text(path.read_text().replace("garbage line\n", "").replace("not-base64!!", "bm90IGJhc2U2NA== x"))
    named = load_authorized_keys(str(path))
    assert named[keys[0].asbytes()] == authorized_line(keys[0]).split()[-1]
    assert named[keys[1].asbytes()] == "options"


def test_host_key_is_created_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "host_key"
    first = load_or_create_host_key(str(path))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_host_key(str(path)).asbytes() == first.asbytes()


def test_authorized_keys_are_reloaded(ssh_server: ServerSetup, tmp_path: Path) -> None:
    newcomer = new_key(ssh_server.home / ".ssh" / "id_ecdsa")
    with pytest.raises(AuthenticationError):
        open_session(ssh_server.url())
    keys_file = tmp_path / "authorized_keys0"
    keys_file.write_text(keys_file.read_text() + authorized_line(newcomer))
    os.utime(keys_file, (time.time() + 5, time.time() + 5))
    open_session(ssh_server.url()).close()


def test_silent_server_times_out_with_the_address(fake_home: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        (fake_home / ".ssh" / "config").write_text("Host 127.0.0.1\n  ConnectTimeout 1\n")
        with pytest.raises(RemoteError, match=rf"ssh://\w+@127\.0\.0\.1:{port}: "):
            open_session(f"ssh://127.0.0.1:{port}/repo")
