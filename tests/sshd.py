"""A real OpenSSH ``sshd`` on 127.0.0.1 with throwaway keys, for tests.

:func:`start_sshd` generates a host key and a client key with
``ssh-keygen``, writes an ``sshd_config`` that trusts only that client key,
starts ``sshd -D -e`` on a free port and waits until it answers with an SSH
banner.  The login user is the current user.  Remote commands run with the
PATH given (the test venv's ``bin`` first, so ``git-hangar serve PATH``
resolves) and the isolated HOME and git identity of the test session, set
with ``SetEnv`` in ``sshd_config``.

Nothing outside the given directory is touched, except that sshd's
privilege separation directory ``/run/sshd`` is created when missing.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, Mapping

from tests.subprocesses import stop

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 15.0
START_ATTEMPTS = 3


class SSHDUnavailable(RuntimeError):
    """sshd or ssh-keygen is missing, or sshd would not start."""


@dataclasses.dataclass(frozen=True)
class SSHServer:
    """A running sshd and everything a client needs to reach it."""

    host: str
    port: int
    user: str
    directory: Path
    client_key_path: Path      # private key, OpenSSH format (ed25519)
    client_pub_key_path: Path
    host_key_pub: Path         # the server's public host key
    known_hosts_path: Path     # "[127.0.0.1]:PORT <host key>"
    ssh_config_path: Path      # for `ssh -F`; also paramiko's ~/.ssh/config
    authorized_keys_path: Path
    log_path: Path             # sshd's own log (-e), read it when a test fails
    pid: int

    def address(self, path: str | os.PathLike[str]) -> str:
        """``ssh://user@127.0.0.1:PORT/abs/path`` for the repo at *path*."""
        return f"ssh://{self.user}@{self.host}:{self.port}{os.path.abspath(path)}"

    def scp_address(self, path: str | os.PathLike[str]) -> str:
        """The scp-like form ``user@127.0.0.1:/abs/path`` (default port 22:
        only reachable through the ssh config's ``Port``)."""
        return f"{self.user}@{self.host}:{os.path.abspath(path)}"

    def ssh_command(self, *remote: str) -> list[str]:
        """argv for OpenSSH's client running *remote* on this server."""
        return ["ssh", "-F", str(self.ssh_config_path), "-p", str(self.port),
                f"{self.user}@{self.host}", *remote]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def keygen(path: Path, comment: str) -> Path:
    """A new passphrase-less ed25519 key at *path*; returns the .pub path."""
    pub = path.with_name(path.name + ".pub")
    for old in (path, pub):
        old.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True, stdin=subprocess.DEVNULL, capture_output=True,
    )
    return pub


def ensure_privsep_dir() -> None:
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)


def _setenv_line(env: Mapping[str, str]) -> str:
    parts = []
    for name, value in env.items():
        if any(ch in value for ch in '"\\\n'):
            raise ValueError(f"cannot pass {name}={value!r} through sshd SetEnv")
        parts.append(f'"{name}={value}"' if any(ch.isspace() for ch in value) else f"{name}={value}")
    return "SetEnv " + " ".join(parts)


def sshd_config(directory: Path, port: int, user: str, env: Mapping[str, str],
                penalties: bool) -> str:
    lines = [
        "ListenAddress 127.0.0.1",
        f"Port {port}",
        f"HostKey {directory / 'ssh_host_ed25519_key'}",
        f"PidFile {directory / 'sshd.pid'}",
        f"AuthorizedKeysFile {directory / 'authorized_keys'}",
        f"AllowUsers {user}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        # The environment comes from SetEnv below, not from ~/.ssh/environment.
        "PermitUserEnvironment no",
        _setenv_line(env),
        "AllowAgentForwarding no",
        "AllowTcpForwarding no",
        "X11Forwarding no",
        "PrintMotd no",
        "UseDNS no",
        # Tests open many connections at once; do not drop any of them.
        "MaxStartups 100",
        "MaxSessions 100",
        "LoginGraceTime 30",
        "LogLevel VERBOSE",
    ]
    if penalties:
        # OpenSSH >= 9.8 throttles addresses that fail auth; tests of bad
        # keys must not lock 127.0.0.1 out of the following tests.
        lines.append("PerSourcePenalties no")
    return "\n".join(lines) + "\n"


def client_config(server_port: int, user: str, key: Path, known_hosts: Path) -> str:
    return "\n".join([
        "Host 127.0.0.1 localhost",
        "    HostName 127.0.0.1",
        f"    Port {server_port}",
        f"    User {user}",
        f"    IdentityFile {key}",
        "    IdentitiesOnly yes",
        "    IdentityAgent none",
        f"    UserKnownHostsFile {known_hosts}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    BatchMode yes",
        "    LogLevel ERROR",
        "",
    ])


def _write_checked_config(directory: Path, port: int, user: str,
                          env: Mapping[str, str]) -> Path:
    """Write sshd_config, dropping options this sshd does not know."""
    config = directory / "sshd_config"
    for penalties in (True, False):
        config.write_text(sshd_config(directory, port, user, env, penalties))
        check = subprocess.run([SSHD, "-t", "-f", str(config)],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if check.returncode == 0:
            return config
        if not (penalties and "PerSourcePenalties" in check.stderr):
            break
    raise SSHDUnavailable(f"sshd rejected {config}:\n{check.stderr}")


def _banner(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=1.0) as sock:
        return sock.recv(64)


def _wait_ready(proc: subprocess.Popen, host: str, port: int, log: Path) -> bool:
    """True once sshd answers with an SSH banner, False if it exited."""
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.005
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            if _banner(host, port).startswith(b"SSH-2.0-"):
                return True
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    stop(proc)
    raise SSHDUnavailable(f"sshd did not answer on {host}:{port} within "
                          f"{START_TIMEOUT}s; log:\n{log.read_text(errors='replace')}")




def _launch(directory: Path, user: str, env: Mapping[str, str]
            ) -> tuple[subprocess.Popen, int, Path]:
    """Start sshd on a free port; retries when another process took the port."""
    log = directory / "sshd.log"
    for _ in range(START_ATTEMPTS):
        port = free_port()
        config = _write_checked_config(directory, port, user, env)
        with log.open("ab") as log_file:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                    stdin=subprocess.DEVNULL, stdout=log_file,
                                    stderr=subprocess.STDOUT)
        if _wait_ready(proc, "127.0.0.1", port, log):
            return proc, port, log
        proc.wait()
    raise SSHDUnavailable(f"sshd would not start after {START_ATTEMPTS} tries; "
                          f"log:\n{log.read_text(errors='replace')}")


def _check_tools() -> None:
    missing = [tool for tool in (SSHD, "ssh-keygen", "ssh")
               if not (os.access(tool, os.X_OK) if tool.startswith("/") else shutil.which(tool))]
    if missing:
        raise SSHDUnavailable(
            f"missing {', '.join(missing)}: install openssh-server and "
            "openssh-client (`make sysdeps` does it)")


@contextlib.contextmanager
def start_sshd(directory: Path, env: Mapping[str, str],
               client_dir: Path | None = None) -> Iterator[SSHServer]:
    """Run sshd for the duration of the ``with`` block.

    *directory* receives keys, config, pid file and log.  *env* is what
    remote commands see (``SetEnv``), PATH included.  When *client_dir* is
    given (the isolated ``~/.ssh``), the client key, ``known_hosts`` and
    ``config`` are also installed there, so OpenSSH's and paramiko's
    defaults find them.
    """
    _check_tools()
    ensure_privsep_dir()
    directory.mkdir(parents=True, exist_ok=True)
    user = current_user()
    host_pub = keygen(directory / "ssh_host_ed25519_key", "hangar-git test host")
    client_key = (client_dir or directory) / "id_ed25519"
    if client_dir is not None:
        client_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    client_pub = keygen(client_key, "hangar-git test client")
    authorized = directory / "authorized_keys"
    authorized.write_text(client_pub.read_text())

    proc, port, log = _launch(directory, user, env)
    try:
        host_key = " ".join(host_pub.read_text().split()[:2])
        known_hosts = (client_dir or directory) / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key}\n")
        ssh_config = (client_dir or directory) / "config"
        ssh_config.write_text(client_config(port, user, client_key, known_hosts))
        yield SSHServer(
            host="127.0.0.1", port=port, user=user, directory=directory,
            client_key_path=client_key, client_pub_key_path=client_pub,
            host_key_pub=host_pub, known_hosts_path=known_hosts,
            ssh_config_path=ssh_config, authorized_keys_path=authorized,
            log_path=log, pid=proc.pid,
        )
    finally:
        stop(proc)
