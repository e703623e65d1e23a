"""Open a protocol session to a remote address: one connection per operation.

Two seams for tests, both module-level: :data:`local_server_command` builds
the command line of a local server and :data:`ssh_vendor` runs commands over
SSH.
"""
from __future__ import annotations

import io
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from hangar_git.errors import HangarError, RemoteError

from ._channelio import BUFFER_SIZE, StderrTail
from .address import RemoteAddress, parse_address
from .rpc import ServiceHandler, Session
from .ssh import ParamikoSSHVendor, Pipe, SSHVendor

_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl


def default_local_server_command(path: str) -> list[str]:
    """``git-hangar serve PATH`` when installed, else this interpreter's module."""
    exe = shutil.which("git-hangar")
    return [exe, "serve", path] if exe else [sys.executable, "-m", "hangar_git", "serve", path]


local_server_command: Callable[[str], list[str]] = default_local_server_command
ssh_vendor: SSHVendor = ParamikoSSHVendor()


def open_session(address: str | RemoteAddress, *, trust_host_key: bool = False,
                 ssh_command_prefix: str = "git-hangar") -> Session:
    """Connect to ``address``, check the server speaks our protocol, return the Session."""
    addr = address if isinstance(address, RemoteAddress) else parse_address(address)
    if addr.is_local:
        pipe = spawn_local(addr.path)
    else:
        command = f"{ssh_command_prefix} serve {quote_remote_path(addr.path)}"
        pipe = ssh_vendor.run_command(addr.host or "", addr.port, addr.user, command,
                                      trust_host_key=trust_host_key)
        try:
            return start_session(pipe, str(addr))
        except RemoteError as exc:
            if "(exit status 127)" in str(exc):
                raise not_on_path(str(addr), ssh_command_prefix) from None
            raise
    return start_session(pipe, str(addr))


def not_on_path(where: str, program: str) -> RemoteError:
    """The remote shell could not find the hangar program (exit status 127)."""
    return RemoteError(
        f"{where}: the remote cannot run {program!r} (exit status 127: command not found): install "
        f"hangar-git there so that `{program}` is on the PATH of non-interactive ssh sessions, or name "
        f"the program with `git config remote.<name>.hangarcommand /path/to/git-hangar` "
        f"(`git hangar clone --remote-command ...` when cloning)")


def start_session(pipe: Pipe, where: str) -> Session:
    """Wrap a running server in a Session and say hello; closes the pipe on failure."""
    session = Session(pipe.reader, pipe.writer, pipe.close, address=where,
                      describe_failure=pipe.describe_failure)
    try:
        session.hello()
    except BaseException:
        session.close(graceful=False)
        raise
    return session


def quote_remote_path(path: str) -> str:
    """Shell-quote a path for the remote command, leaving a leading ``~`` to the shell."""
    head, slash, rest = path.partition("/")
    if path.startswith("~") and all(c.isalnum() or c in "._-" for c in head[1:]):
        return head + slash + (shlex.quote(rest) if rest else "")
    return shlex.quote(path)


def spawn_local(path: str) -> Pipe:
    """Start a local server subprocess for the repository at ``path``."""
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(full):
        raise RemoteError(f"{path}: no such directory: a local remote must be an existing repository")
    command = local_server_command(full)
    try:
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=0)
    except OSError as exc:
        raise RemoteError(f"{path}: cannot start the local server {command[0]!r} ({exc})") from None
    assert proc.stdin and proc.stdout and proc.stderr
    _grow_pipes(proc.stdin, proc.stdout)
    reader = io.BufferedReader(proc.stdout, BUFFER_SIZE)  # type: ignore[type-var]
    writer = io.BufferedWriter(proc.stdin, BUFFER_SIZE)
    stderr = StderrTail(proc.stderr.read)
    return Pipe(reader, writer, _process_closer(proc, writer, stderr), _process_describer(proc, stderr))


def _grow_pipes(*files: object) -> None:
    try:
        import fcntl
        for f in files:
            fcntl.fcntl(f.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)  # type: ignore[attr-defined]
    except (ImportError, OSError):
        pass


def _process_closer(proc: "subprocess.Popen[bytes]", writer: Any,
                    stderr: StderrTail) -> Callable[[], None]:
    def close() -> None:
        try:
            writer.close()
        except (OSError, ValueError):
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr.join(1.0)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
    return close


def _process_describer(proc: "subprocess.Popen[bytes]", stderr: StderrTail) -> Callable[[], str]:
    def describe() -> str:
        text = stderr.text(wait=2.0).strip()
        try:  # the pipe closed: the process is exiting, give it a moment to report how
            code = proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        return text + (f"{chr(10) if text else ''}(exit status {code})" if code else "")
    return describe


def open_local_session_in_process(handler: ServiceHandler) -> Session:
    """A Session served by ``handler`` in a thread over a socket pair (for tests)."""
    client, server = socket.socketpair()
    thread = threading.Thread(target=_serve_socket, args=(server, handler),
                              name="hangar-inprocess-server", daemon=True)
    thread.start()
    reader, writer = client.makefile("rb", BUFFER_SIZE), client.makefile("wb", BUFFER_SIZE)

    def close() -> None:
        close_socket(client, writer, reader)
        thread.join(10)

    return start_session(Pipe(reader, writer, close, lambda: ""), "in-process")


def _serve_socket(sock: socket.socket, handler: ServiceHandler) -> None:
    reader, writer = sock.makefile("rb", BUFFER_SIZE), sock.makefile("wb", BUFFER_SIZE)
    try:
        handler.run(reader, writer)
    except HangarError:
        pass
    finally:
        close_socket(sock, writer, reader)


def close_socket(sock: socket.socket, *files: Any) -> None:
    """Close a socket's file objects, then shut it down and close it (errors of a dead peer ignored)."""
    for f in files:
        try:
            f.close()
        except OSError:
            pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def measure_raw_channel_throughput(address: str | RemoteAddress, nbytes: int, *,
                                   command: str = "cat > /dev/null", trust_host_key: bool = False,
                                   chunk: int = 1 << 20) -> float:
    """Bytes/s of writing ``nbytes`` straight into an SSH exec channel of ``command``.

    The baseline the framed protocol is measured against. ``command`` must
    read stdin to EOF (OpenSSH: the default; our own server: a raw-sink
    handler behind ``git-hangar serve PATH``).
    """
    addr = address if isinstance(address, RemoteAddress) else parse_address(address)
    if addr.is_local:
        raise RemoteError("raw channel throughput needs an ssh:// address")
    pipe = ssh_vendor.run_command(addr.host or "", addr.port, addr.user, command,
                                  trust_host_key=trust_host_key)
    block = memoryview(bytes(chunk))
    try:
        start = time.perf_counter()
        for done in range(0, nbytes, chunk):
            pipe.writer.write(block[: min(chunk, nbytes - done)])
        pipe.end_input()
        while pipe.reader.read(1 << 16):  # the command exits (and the channel ends) once it has all
            pass
        return nbytes / (time.perf_counter() - start)
    finally:
        pipe.close()

