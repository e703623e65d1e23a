"""SSH client side: run one command on a host over paramiko, the way ``ssh`` would.

Honours ``~/.ssh/config`` (HostName, Port, User, IdentityFile,
UserKnownHostsFile, ProxyCommand, ConnectTimeout), the agent and default
keys. Host keys are checked against the system and user known_hosts files:
an unknown host is refused unless the caller explicitly trusts it (the key
is then saved), a changed key is always refused.
"""
from __future__ import annotations

import getpass
import os
import socket
import sys
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import paramiko

from hangar_git.errors import AuthenticationError, HostKeyError, RemoteError

from ._channelio import StderrTail, channel_streams, use_chunk_pipe

# Tuned on loopback (tests/transport/bench_transport.py): 16 MiB windows keep the
# pipe full while bounding per-connection memory; packets up to 256 KiB (what we
# accept; OpenSSH never sends more than its own limit) cut per-packet Python cost;
# GCM needs no separate MAC.
WINDOW_SIZE = 1 << 24
MAX_PACKET_SIZE = 1 << 18
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
CONNECT_TIMEOUT = 15.0
SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"


def _nothing() -> None:
    return None


class Pipe(NamedTuple):
    """A running remote command: stdout reader, stdin writer, how to end it, its stderr.

    ``end_input`` sends EOF on the command's stdin but keeps reading possible.
    """

    reader: Any
    writer: Any
    close: Callable[[], None]
    describe_failure: Callable[[], str]
    end_input: Callable[[], None] = _nothing


@dataclass(frozen=True)
class SSHTarget:
    """Connection parameters after applying ``~/.ssh/config``."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...] = ()
    known_hosts_files: tuple[str, ...] = ()
    global_known_hosts_files: tuple[str, ...] = (SYSTEM_KNOWN_HOSTS,)
    identities_only: bool = False
    use_agent: bool = True
    proxy_command: str | None = None
    timeout: float = CONNECT_TIMEOUT

    def __str__(self) -> str:
        return f"ssh://{self.user}@{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


class SSHVendor:
    """The seam between the transport and an SSH implementation (swap it in tests)."""

    def run_command(self, host: str, port: int | None, user: str | None, command: str, *,
                    trust_host_key: bool = False) -> Pipe:
        raise NotImplementedError


def load_ssh_config() -> paramiko.SSHConfig:
    path = os.path.expanduser("~/.ssh/config")
    if not os.path.isfile(path):
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise RemoteError(f"cannot read {path}: {exc}") from None


def resolve_target(host: str, port: int | None, user: str | None) -> SSHTarget:
    """Apply ``~/.ssh/config`` to an address; explicit port/user win over the config."""
    cfg = load_ssh_config().lookup(host)
    return SSHTarget(
        alias=host,
        hostname=cfg.get("hostname", host),
        port=port or int(cfg.get("port", 22)),
        user=user or cfg.get("user") or getpass.getuser(),
        identity_files=tuple(p for p in map(os.path.expanduser, cfg.get("identityfile", [])) if os.path.isfile(p)),
        known_hosts_files=_paths(cfg.get("userknownhostsfile"), "~/.ssh/known_hosts"),
        global_known_hosts_files=_paths(cfg.get("globalknownhostsfile"), SYSTEM_KNOWN_HOSTS),
        identities_only=cfg.get("identitiesonly", "no").lower() == "yes",
        use_agent=cfg.get("identityagent", "").lower() != "none",
        proxy_command=cfg.get("proxycommand"),
        timeout=float(cfg.get("connecttimeout", CONNECT_TIMEOUT)),
    )


def _paths(value: str | None, default: str) -> tuple[str, ...]:
    return tuple(os.path.expanduser(p) for p in (value.split() if value else [default]))


def no_delay(sock: Any) -> None:
    """Turn off Nagle's algorithm on a TCP socket (not on a ProxyCommand's pipe): a small
    request held back until the previous reply's ACK costs a delayed-ACK timer (40 ms)."""
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def fast_transport(sock: Any, **kwargs: Any) -> paramiko.Transport:
    """Transport with a large window, the fastest ciphers first and no Nagle delay."""
    no_delay(sock)
    transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE,
                                   default_max_packet_size=MAX_PACKET_SIZE, **kwargs)
    options = transport.get_security_options()
    available = tuple(options.ciphers)
    options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in available) + tuple(
        c for c in available if c not in PREFERRED_CIPHERS)
    return transport


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown hosts, or (when trusted explicitly) save their key."""

    def __init__(self, target: SSHTarget, trust: bool) -> None:
        self.target, self.trust = target, trust

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        t = self.target
        if not self.trust:
            raise HostKeyError(
                f"{t}: host key of {hostname} is unknown ({key.get_name()} {key.fingerprint}), "
                f"and it is not in {' or '.join(t.known_hosts_files)}. If that fingerprint is right, "
                f"add the key with `ssh-keyscan -p {t.port} {t.hostname} >> ~/.ssh/known_hosts`, or "
                f"connect once with --trust-host-key (trust_host_key=True) to save it",
                host=hostname, fingerprint=key.fingerprint)
        save_known_host(t.known_hosts_files[0], hostname, key)
        client.get_host_keys().add(hostname, key.get_name(), key)
        print(f"Warning: permanently added {hostname} ({key.get_name()} {key.fingerprint}) "
              f"to {t.known_hosts_files[0]}", file=sys.stderr)


def save_known_host(path: str, hostname: str, key: paramiko.PKey) -> None:
    """Append one known_hosts line (creating ~/.ssh with safe permissions)."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    with open(path, "a", encoding="ascii") as fh:
        fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


def changed_key_error(target: SSHTarget, exc: paramiko.BadHostKeyException) -> HostKeyError:
    name = target.known_hosts_name
    return HostKeyError(
        f"{target}: WARNING: the host key of {name} has CHANGED (possible man-in-the-middle "
        f"attack): it now offers {exc.key.get_name()} {exc.key.fingerprint}, but "
        f"{' or '.join(target.known_hosts_files)} records {exc.expected_key.get_name()} "
        f"{exc.expected_key.fingerprint}. Refusing to connect. If the change is legitimate, "
        f"remove the old key with `ssh-keygen -R '{name}'` and connect again",
        host=name, fingerprint=exc.key.fingerprint)


class ParamikoSSHVendor(SSHVendor):
    """Runs commands with paramiko's SSHClient."""

    def run_command(self, host: str, port: int | None, user: str | None, command: str, *,
                    trust_host_key: bool = False) -> Pipe:
        target = resolve_target(host, port, user)
        client = self.connect(target, trust_host_key=trust_host_key)
        try:
            return self._exec(client, target, command)
        except BaseException:
            client.close()
            raise

    def connect(self, target: SSHTarget, *, trust_host_key: bool = False) -> paramiko.SSHClient:
        """Open an authenticated SSHClient to ``target`` or raise a RemoteError subclass."""
        client = paramiko.SSHClient()
        client.set_log_channel("hangar_git.transport.ssh")
        try:
            _load_known_hosts(client, target)
            client.set_missing_host_key_policy(_HostKeyPolicy(target, trust_host_key))
            client.connect(
                target.hostname, target.port, target.user, key_filename=list(target.identity_files) or None,
                timeout=target.timeout, banner_timeout=target.timeout, auth_timeout=target.timeout,
                allow_agent=target.use_agent and not target.identities_only,
                look_for_keys=not target.identities_only, transport_factory=fast_transport,
                sock=paramiko.ProxyCommand(target.proxy_command) if target.proxy_command else None)
            return client
        except BaseException as exc:
            client.close()
            if isinstance(exc, Exception):
                raise _translate(exc, target) from None
            raise

    def _exec(self, client: paramiko.SSHClient, target: SSHTarget, command: str) -> Pipe:
        transport = client.get_transport()
        assert transport is not None
        try:
            chan = transport.open_session(window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET_SIZE,
                                          timeout=target.timeout)
            use_chunk_pipe(chan)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError) as exc:
            raise RemoteError(f"{target}: the server refused to run {command!r} ({exc})") from None
        reader, writer = channel_streams(chan)
        stderr = StderrTail(chan.recv_stderr)
        return Pipe(reader, writer, _closer(client, chan, writer, stderr), _describer(chan, stderr),
                    _input_ender(chan, writer))


def _load_known_hosts(client: paramiko.SSHClient, target: SSHTarget) -> None:
    for path in (*target.global_known_hosts_files, *target.known_hosts_files):
        if os.path.isfile(path):
            try:
                client.load_system_host_keys(path)
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise HostKeyError(f"cannot read known hosts file {path}: {exc}") from None


def _translate(exc: Exception, target: SSHTarget) -> Exception:
    """Turn paramiko/socket failures into our error classes, naming the address."""
    if isinstance(exc, (HostKeyError, RemoteError)):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        return changed_key_error(target, exc)
    if isinstance(exc, paramiko.AuthenticationException):
        tried = ", ".join(target.identity_files) or "the agent and ~/.ssh/id_* keys"
        return AuthenticationError(
            f"{target}: authentication failed ({exc}); offered {tried}. Add your public key to the "
            f"server's authorized_keys, load it into ssh-agent, or set IdentityFile for "
            f"{target.alias} in ~/.ssh/config")
    if isinstance(exc, socket.gaierror):
        return RemoteError(f"{target}: cannot resolve host name {target.hostname!r} ({exc})")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return RemoteError(f"{target}: connection timed out after {target.timeout:g} s")
    if isinstance(exc, (paramiko.ssh_exception.NoValidConnectionsError, ConnectionRefusedError)):
        return RemoteError(f"{target}: connection refused (is the SSH server running on port {target.port}?)")
    if isinstance(exc, (paramiko.SSHException, OSError, EOFError)):
        return RemoteError(f"{target}: SSH connection failed: {exc or type(exc).__name__}")
    return exc


def _closer(client: paramiko.SSHClient, chan: paramiko.Channel, writer: Any,
            stderr: StderrTail) -> Callable[[], None]:
    def close() -> None:
        for step in (writer.flush, chan.shutdown_write, chan.close):
            try:
                step()
            except (OSError, ValueError, EOFError, paramiko.SSHException):
                pass
        client.close()
        stderr.join(1.0)
    return close


def _input_ender(chan: paramiko.Channel, writer: Any) -> Callable[[], None]:
    def end_input() -> None:
        writer.flush()
        chan.shutdown_write()
    return end_input


def _describer(chan: paramiko.Channel, stderr: StderrTail) -> Callable[[], str]:
    def describe() -> str:
        text = stderr.text(wait=2.0).strip()
        chan.status_event.wait(1.0)  # the exit status may trail the end of stderr
        if chan.exit_status_ready() and chan.recv_exit_status() not in (0, -1):
            text += f"{chr(10) if text else ''}(exit status {chan.recv_exit_status()})"
        return text
    return describe
