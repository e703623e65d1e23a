"""A standalone SSH server (paramiko server mode) that serves repositories and nothing else.

Public-key authentication against an OpenSSH authorized_keys file; the only
thing a client may do is ``exec`` ``git-hangar serve PATH`` (or ``git hangar
serve PATH``) where PATH resolves inside the served root, chroot-style.

:func:`run_server` stops on SIGINT or SIGTERM: it stops accepting, lets the
operations in flight finish for up to ``shutdown_timeout`` seconds, then
hangs up on the rest (an abandoned push keeps nothing half-done: the store
and refs are safe against an interruption at any point).
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import shlex
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import paramiko

from hangar_git.errors import HangarError, PermissionDeniedError, RemoteError

from ._channelio import channel_streams, use_chunk_pipe
from .rpc import ServiceHandler
from .ssh import MAX_PACKET_SIZE, WINDOW_SIZE, no_delay

log = logging.getLogger(__name__)
STATE_DIR = ".hangar-server"
_CLOSE_GRACE = 5.0
SHUTDOWN_TIMEOUT = 30.0
"""How long a stopping server lets operations in flight finish before it hangs up on them."""
_POLL = 0.1
_KEY_RE = re.compile(r"(?:^|\s)((?:ssh|ecdsa|sk-ssh|sk-ecdsa)-[A-Za-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s|$)")
HandlerFactory = Callable[[str], ServiceHandler]


def load_authorized_keys(path: str) -> set[bytes]:
    """Key blobs listed in an OpenSSH authorized_keys file (options are ignored)."""
    blobs = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            match = None if not line or line.startswith("#") else _KEY_RE.search(line)
            if match:
                try:
                    blobs.add(base64.b64decode(match.group(2), validate=True))
                except (binascii.Error, ValueError):
                    continue
    return blobs


def load_or_create_host_key(path: str) -> paramiko.PKey:
    """Load the host key at ``path``, generating (and atomically saving) one if missing."""
    if os.path.exists(path):
        try:
            return paramiko.PKey.from_path(path)
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise RemoteError(f"cannot load host key {path}: {exc}") from None
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    key = paramiko.ECDSAKey.generate()
    tmp = f"{path}.tmp{os.getpid()}"
    key.write_private_key_file(tmp)
    os.replace(tmp, path)
    return key


def parse_serve_command(command: bytes | str) -> str:
    """Return PATH from ``git-hangar serve PATH``; RemoteError for anything else."""
    try:
        text = command.decode("utf-8") if isinstance(command, bytes) else command
        argv = shlex.split(text)
    except (UnicodeDecodeError, ValueError):
        raise RemoteError(f"malformed command {command!r}") from None
    if len(argv) == 3 and argv[:2] == ["git-hangar", "serve"]:
        return argv[2]
    if len(argv) == 4 and argv[:3] == ["git", "hangar", "serve"]:
        return argv[3]
    raise RemoteError(f"this server only runs `git-hangar serve PATH`, not {text!r}")


def resolve_repo_path(root: str, requested: str) -> str:
    """Map a requested path into ``root`` (``/a`` and ``~/a`` mean root/a); refuse escapes."""
    root = os.path.realpath(root)
    rel = requested[1:] if requested == "~" or requested.startswith("~/") else requested
    if rel.startswith("~") or "\0" in rel:
        raise PermissionDeniedError(f"repository path {requested!r} is not served here")
    full = os.path.realpath(os.path.join(root, rel.lstrip("/")))
    if os.path.commonpath([full, root]) != root:
        raise PermissionDeniedError(f"repository path {requested!r} is outside the served directory")
    state = os.path.join(root, STATE_DIR)
    if os.path.commonpath([full, state]) == state:
        raise PermissionDeniedError(f"repository path {requested!r} is not served here")
    return full


class _AuthorizedKeys:
    """authorized_keys, re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._blobs: set[bytes] = set()
        self._lock = threading.Lock()

    def __contains__(self, blob: bytes) -> bool:
        with self._lock:
            try:
                st = os.stat(self.path)
                if (st.st_mtime, st.st_size) != self._stamp:
                    self._blobs, self._stamp = load_authorized_keys(self.path), (st.st_mtime, st.st_size)
            except OSError as exc:
                log.error("cannot read authorized keys %s: %s", self.path, exc)
                return False
            return blob in self._blobs


class _Interface(paramiko.ServerInterface):
    """What a client may do: authenticate by key, open one session, exec one command."""

    def __init__(self, keys: _AuthorizedKeys) -> None:
        self._keys = keys
        self.command: bytes | None = None
        self.exec_requested = threading.Event()
        self._sessions = 0

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = key.asbytes() in self._keys
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind != "session" or self._sessions:
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        self._sessions += 1
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        if self.command is not None:
            return False
        self.command = command
        use_chunk_pipe(channel)  # before the reply: no data can have arrived yet
        self.exec_requested.set()
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        return False

    def check_channel_pty_request(self, *args: Any) -> bool:
        return False

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        return False

    def check_channel_env_request(self, channel: paramiko.Channel, name: bytes, value: bytes) -> bool:
        return False

    def check_channel_forward_agent_request(self, channel: paramiko.Channel) -> bool:
        return False


class HangarSSHServer:
    """Listens on (ip, port) and serves repositories under ``root``; a context manager runs it in a thread."""

    def __init__(self, ip: str, port: int, root: str, authorized_keys_path: str,
                 host_key_path: str | None = None, handler_factory: HandlerFactory | None = None, *,
                 auth_timeout: float = 20.0, max_connections: int = 64) -> None:
        self.root = os.path.realpath(root)
        self.host_key = load_or_create_host_key(host_key_path or os.path.join(self.root, STATE_DIR, "host_key"))
        self._keys = _AuthorizedKeys(authorized_keys_path)
        self.handler_factory: HandlerFactory = handler_factory or (lambda path: ServiceHandler())
        self.auth_timeout = auth_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._sock = socket.create_server((ip, port), family=_family(ip), reuse_port=False)
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self.stop_event = threading.Event()
        self._transports: set[paramiko.Transport] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def known_hosts_line(self, host: str | None = None) -> str:
        """The line clients add to ~/.ssh/known_hosts for this server."""
        name = host or self.host
        name = name if self.port == 22 else f"[{name}]:{self.port}"
        return f"{name} {self.host_key.get_name()} {self.host_key.get_base64()}"

    def banner(self) -> str:
        return (f"hangar server: serving {self.root} on {self.host}:{self.port}\n"
                f"host key fingerprint: {self.host_key.get_name()} {self.host_key.fingerprint}\n"
                f"clients add this line to ~/.ssh/known_hosts (or use --trust-host-key once):\n"
                f"{self.known_hosts_line()}")

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` or ``stop_event``."""
        try:
            while not self.stop_event.is_set():
                try:
                    sock, peer = self._sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    if self.stop_event.is_set():
                        break
                    raise
                self._spawn(sock, peer)
        finally:
            self._sock.close()

    def __enter__(self) -> "HangarSSHServer":
        self._thread = threading.Thread(target=self.serve_forever, name="hangar-sshd", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def shutdown(self, timeout: float = 5.0, grace: float = 0.0) -> int:
        """Stop accepting, give open connections ``grace`` seconds to finish, then drop them
        and wait up to ``timeout`` for their threads; returns how many still run."""
        self.stop_event.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._sock.close()
        self._join_connections(time.monotonic() + grace)
        with self._lock:
            transports = list(self._transports)
        for t in transports:
            t.close()
        return self._join_connections(time.monotonic() + timeout)

    def _join_connections(self, deadline: float) -> int:
        """Wait until every connection thread ended or ``deadline``; how many still run."""
        with self._lock:
            threads = list(self._threads)
        for th in threads:
            th.join(max(0.0, deadline - time.monotonic()))
        return sum(th.is_alive() for th in threads)

    def _spawn(self, sock: socket.socket, peer: Any) -> None:
        if not self._slots.acquire(blocking=False):
            log.warning("too many connections, dropping %s", peer)
            sock.close()
            return
        th = threading.Thread(target=self._connection, args=(sock, peer), name=f"hangar-sshd-{peer}", daemon=True)
        with self._lock:
            self._threads.add(th)
        th.start()

    def _connection(self, sock: socket.socket, peer: Any) -> None:
        transport = None
        try:
            transport = self._start_transport(sock)
            self._session(transport, peer)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            log.info("connection from %s ended: %s", peer, exc)
        except Exception:  # never let one peer take the server down
            if self.stop_event.is_set():  # hung up on while stopping: expected, not a bug
                log.info("connection from %s abandoned at shutdown", peer, exc_info=True)
            else:
                log.exception("connection from %s failed", peer)
        finally:
            if transport is not None:
                transport.close()
            sock.close()
            with self._lock:
                self._transports.discard(transport)
                self._threads.discard(threading.current_thread())
            self._slots.release()

    def _start_transport(self, sock: socket.socket) -> paramiko.Transport:
        sock.settimeout(None)
        no_delay(sock)
        transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE)
        transport.set_log_channel("hangar_git.transport.sshd")
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = self.auth_timeout
        transport.add_server_key(self.host_key)
        with self._lock:
            self._transports.add(transport)
        if self.stop_event.is_set():
            raise EOFError("server is shutting down")
        return transport

    def _session(self, transport: paramiko.Transport, peer: Any) -> None:
        iface = _Interface(self._keys)
        transport.start_server(server=iface)
        deadline = time.monotonic() + self.auth_timeout
        chan = None
        while chan is None and self._alive(transport, deadline):
            chan = transport.accept(timeout=_POLL)
        while chan is not None and self._alive(transport, deadline) and not iface.exec_requested.is_set():
            iface.exec_requested.wait(_POLL)
        if chan is None or iface.command is None:
            log.info("%s authenticated and asked for a command too late, or never", peer)
            return
        with chan:
            chan.send_exit_status(self._run(chan, iface.command))
        transport.join(_CLOSE_GRACE)  # let the client hang up first: no resets, no lost replies

    def _alive(self, transport: paramiko.Transport, deadline: float) -> bool:
        return transport.is_active() and not self.stop_event.is_set() and time.monotonic() < deadline

    def _run(self, chan: paramiko.Channel, command: bytes) -> int:
        """Run the requested serve loop on the channel; returns the exit status."""
        try:
            handler = self.handler_factory(resolve_repo_path(self.root, parse_serve_command(command)))
        except HangarError as exc:
            chan.sendall_stderr(f"error: {exc}\n".encode("utf-8", "replace"))
            return 1
        except Exception as exc:  # a bug in the factory: tell the client, keep serving others
            log.exception("cannot serve %r", command)
            chan.sendall_stderr(f"error: internal server error: {type(exc).__name__}: {exc}\n".encode())
            return 1
        reader, writer = channel_streams(chan)
        try:
            handler.run(reader, writer)
            writer.flush()
            return 0
        except HangarError as exc:
            chan.sendall_stderr(f"error: {exc}\n".encode("utf-8", "replace"))
            return 1


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _announce(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_server(ip: str, port: int, root: str, authorized_keys_path: str, host_key_path: str | None = None,
               handler_factory: HandlerFactory | None = None, ready_event: threading.Event | None = None,
               stop_event: threading.Event | None = None,
               announce: Callable[[str], None] = _announce,
               shutdown_timeout: float = SHUTDOWN_TIMEOUT) -> int:
    """Serve until ``stop_event`` is set, SIGINT or SIGTERM (or forever); prints the host
    key to trust at startup. Returns how many connections still ran when it gave up on them."""
    server = HangarSSHServer(ip, port, root, authorized_keys_path, host_key_path, handler_factory)
    if stop_event is not None:
        server.stop_event = stop_event
    with _stop_on_signals(server.stop_event):
        announce(server.banner())
        if ready_event is not None:
            ready_event.set()
        try:
            server.serve_forever()
        finally:
            left = server.shutdown(timeout=_CLOSE_GRACE, grace=shutdown_timeout)
    announce(f"hangar server: stopped{f' ({left} connection(s) abandoned)' if left else ''}")
    return left


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` instead of raising in the middle of the serve loop
    (only in the main thread, the only one Python lets install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in handled}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
