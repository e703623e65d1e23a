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

import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import paramiko

from hangar_git.errors import HangarError, RemoteError

from .logs import logger
from ._channelio import channel_streams, use_chunk_pipe
from .access import (OPEN, STATE_DIR, AccessRules, Reloading, fingerprint, load_authorized_keys,
                     parse_serve_command, resolve_repo_path)
from .auditlog import Activity, AuditLog, CountingReader, CountingWriter
from .gate import SHUTDOWN_TIMEOUT, HandlerFactory, Opened, open_repository
from .hostkeys import host_names, known_hosts_line, load_or_create_host_key
from .rpc import ServiceHandler
from .ssh import MAX_PACKET_SIZE, WINDOW_SIZE, no_delay

__all__ = ["HangarSSHServer", "load_authorized_keys", "load_or_create_host_key", "parse_serve_command",
           "resolve_repo_path", "run_server"]
log = logger(__name__)
_CLOSE_GRACE = 5.0
_POLL = 0.1


class _Interface(paramiko.ServerInterface):
    """What a client may do: authenticate by key, open one session, exec one command."""

    def __init__(self, keys: Reloading[dict[bytes, str]]) -> None:
        self._keys = keys
        self.command: bytes | None = None
        self.exec_requested = threading.Event()
        self._sessions = 0
        self.key_name: str | None = None
        self.user: str | None = None
        self.refused: list[str] = []  # fingerprints of the keys offered in vain

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        name = self._keys.get().get(key.asbytes())
        self.user = username[:100]
        if name is None:
            if fingerprint(key.asbytes()) not in self.refused:
                self.refused.append(fingerprint(key.asbytes()))
            return paramiko.AUTH_FAILED
        self.key_name = name
        return paramiko.AUTH_SUCCESSFUL

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
                 auth_timeout: float = 20.0, max_connections: int = 64,
                 access_path: str | None = None, log_path: str | None = None) -> None:
        self.root = os.path.realpath(root)
        self.log = AuditLog(log_path)
        self._keys = Reloading(authorized_keys_path, load_authorized_keys, self._config_error)
        self._rules = Reloading(access_path, AccessRules.load, self._config_error) if access_path else None
        self.host_key = load_or_create_host_key(host_key_path or os.path.join(self.root, STATE_DIR, "host_key"))
        self.handler_factory: HandlerFactory = handler_factory or (lambda path: ServiceHandler())
        self.auth_timeout = auth_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._sock = socket.create_server((ip, port), family=_family(ip), reuse_port=False)
        self._sock.settimeout(0.2)
        self.host, self.port = self._sock.getsockname()[:2]
        self.stop_event = threading.Event()
        self.reload_requested = threading.Event()
        self._transports: set[paramiko.Transport] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _config_error(self, message: str) -> None:
        log.error("%s", message)
        self.log.write(key=None, address=None, repo=None, op="reload", result="error", error=message)

    def reload(self) -> None:
        """Read the access file again and reopen the log (SIGHUP)."""
        if self._rules is not None:
            self._rules.reload()
        self.log.reopen()

    @property
    def rules(self) -> AccessRules:
        return self._rules.get() if self._rules is not None else OPEN

    def known_hosts_line(self, host: str | None = None) -> str:
        """The line clients add to ~/.ssh/known_hosts for this server (every name it answers to)."""
        return known_hosts_line([host] if host else host_names(self.host), self.port, self.host_key)

    def banner(self) -> str:
        return (f"hangar server: serving {self.root} on {self.host}:{self.port}\n"
                f"host key fingerprint: {self.host_key.get_name()} {self.host_key.fingerprint}\n"
                f"clients add this line to ~/.ssh/known_hosts (or use --trust-host-key once):\n"
                f"{self.known_hosts_line()}")

    def serve_forever(self) -> None:
        """Accept connections until :meth:`shutdown` or ``stop_event``."""
        try:
            while not self.stop_event.is_set():
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.reload()
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
            self.log.write(key=None, address=_address(peer), repo=None, op="connect", result="busy")
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
        try:
            while chan is None and self._alive(transport, deadline):
                chan = transport.accept(timeout=_POLL)
            while chan is not None and self._alive(transport, deadline) and not iface.exec_requested.is_set():
                iface.exec_requested.wait(_POLL)
        finally:
            if not transport.is_authenticated():
                self.log.write(key=None, address=_address(peer), repo=None, op="auth", result="denied",
                               user=iface.user, offered=iface.refused)
        if chan is None or iface.command is None:
            log.info("%s authenticated and asked for a command too late, or never", peer)
            self.log.write(key=iface.key_name, address=_address(peer), repo=None, op="connect",
                           result="invalid", error="no command")
            return
        with chan:
            chan.send_exit_status(self._run(chan, iface.command, iface.key_name or "", _address(peer)))
        transport.join(_CLOSE_GRACE)  # let the client hang up first: no resets, no lost replies

    def _alive(self, transport: paramiko.Transport, deadline: float) -> bool:
        return transport.is_active() and not self.stop_event.is_set() and time.monotonic() < deadline

    def _run(self, chan: paramiko.Channel, command: bytes, key: str, address: str) -> int:
        """Run the requested serve loop on the channel; returns the exit status."""
        fields: dict[str, Any] = {"key": key, "address": address, "repo": None}
        try:
            opened = open_repository(self.root, parse_serve_command(command), key, self.rules,
                                     self.handler_factory)
        except RemoteError as exc:
            self.log.write(**fields, op="connect", result="invalid", error=str(exc))
            return _tell(chan, str(exc))
        except Exception as exc:  # a bug in the factory: tell the client, keep serving others
            log.exception("cannot serve %r", command)
            self.log.write(**fields, op="connect", result="error", error=f"{type(exc).__name__}: {exc}")
            return _tell(chan, f"internal server error: {type(exc).__name__}")
        if not isinstance(opened, Opened):
            self.log.write(**{**fields, "repo": opened.repo}, op="connect", result=opened.result,
                           error=opened.detail)
            return _tell(chan, opened.message)
        return self._serve(chan, opened, fields)

    def _serve(self, chan: paramiko.Channel, opened: Opened, fields: dict[str, Any]) -> int:
        activity = opened.handler.activity = Activity()
        raw_reader, raw_writer = channel_streams(chan)
        reader, writer = CountingReader(raw_reader), CountingWriter(raw_writer)
        start, status = time.monotonic(), 0
        try:
            opened.handler.run(reader, writer)
            writer.flush()
        except HangarError as exc:
            status = _tell(chan, opened.handler.scrub(str(exc)))
        except BaseException:
            activity.current = activity.current or "connection"
            raise
        finally:
            self.log.write(**{**fields, "repo": opened.repo}, op=activity.op,
                           result="aborted" if self.stop_event.is_set() and activity.current else activity.outcome,
                           access=opened.mode, bytes_in=reader.count, bytes_out=writer.count,
                           seconds=round(time.monotonic() - start, 3), **activity.fields())
        return status


def _tell(chan: paramiko.Channel, message: str) -> int:
    """Send one error line on the channel's stderr; the exit status of a refusal."""
    if message:
        try:
            chan.sendall_stderr(f"error: {message}\n".encode("utf-8", "replace"))
        except (OSError, EOFError, paramiko.SSHException):
            pass
    return 1


def _address(peer: Any) -> str:
    host, port = (peer[0], peer[1]) if isinstance(peer, tuple) and len(peer) >= 2 else (peer, "")
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _announce(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_server(ip: str, port: int, root: str, authorized_keys_path: str, host_key_path: str | None = None,
               handler_factory: HandlerFactory | None = None, ready_event: threading.Event | None = None,
               stop_event: threading.Event | None = None,
               announce: Callable[[str], None] = _announce,
               shutdown_timeout: float = SHUTDOWN_TIMEOUT, access_path: str | None = None,
               log_path: str | None = None) -> int:
    """Serve until ``stop_event`` is set, SIGINT or SIGTERM (or forever); SIGHUP reloads the
    access file and reopens the log; prints the host key to trust at startup. Returns how
    many connections still ran when it gave up on them."""
    server = HangarSSHServer(ip, port, root, authorized_keys_path, host_key_path, handler_factory,
                             access_path=access_path, log_path=log_path)
    if stop_event is not None:
        server.stop_event = stop_event
    server.log.write(key=None, address=f"{server.host}:{server.port}", repo=None, op="start", result="ok")
    with _stop_on_signals(server.stop_event, server.reload_requested):
        announce(server.banner())
        if ready_event is not None:
            ready_event.set()
        try:
            server.serve_forever()
        finally:
            left = server.shutdown(timeout=_CLOSE_GRACE, grace=shutdown_timeout)
    server.log.write(key=None, address=f"{server.host}:{server.port}", repo=None, op="stop", result="ok",
                     abandoned=left)
    announce(f"hangar server: stopped{f' ({left} connection(s) abandoned)' if left else ''}")
    return left


@contextmanager
def _stop_on_signals(stop: threading.Event, reload: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` instead of raising in the middle of the serve loop,
    SIGHUP sets ``reload`` (only in the main thread, the only one Python lets install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers: dict[signal.Signals, Any] = {signal.SIGINT: lambda *_: stop.set(),
                                           signal.SIGTERM: lambda *_: stop.set()}
    if hasattr(signal, "SIGHUP"):
        handlers[signal.SIGHUP] = lambda *_: reload.set()
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
