"""The server's host key and the known_hosts line its clients add."""
from __future__ import annotations

import os
import socket

import paramiko

from ..errors import RemoteError
from ..fileio import move_into_place

WILDCARDS = ("0.0.0.0", "::", "")


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
    move_into_place(tmp, path)
    return key


def host_names(bound: str) -> list[str]:
    """Names clients can reach a server bound to ``bound`` by: that address, or for a
    wildcard address this host's names and addresses (never the wildcard itself)."""
    if bound not in WILDCARDS:
        return [bound]
    family = socket.AF_INET6 if ":" in bound else socket.AF_INET
    names = [socket.gethostname(), socket.getfqdn()]
    try:
        names += [str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, family)]
    except OSError:
        pass
    names.append("::1" if family == socket.AF_INET6 else "127.0.0.1")
    return [n for i, n in enumerate(names) if n and n not in WILDCARDS and n not in names[:i]]


def known_hosts_line(names: list[str], port: int, key: paramiko.PKey) -> str:
    """One known_hosts line naming the server by every name in ``names``."""
    listed = ",".join(n if port == 22 else f"[{n}]:{port}" for n in names)
    return f"{listed} {key.get_name()} {key.get_base64()}"
