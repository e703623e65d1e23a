"""Parse remote addresses the way git does.

* ``ssh://[user@]host[:port]/path``  (``/~/x`` and ``/~user/x`` mean home-relative)
* ``[user@]host:path``                scp-like: a ``:`` before any ``/``
* ``file:///path`` and plain local paths (``./a:b``, ``/x/a:b``, ``C:\\x`` stay local)
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote

from hangar_git.errors import InvalidAddressError

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)\Z", re.S)
_DRIVE_RE = re.compile(r"[A-Za-z]:")
_HOST_RE = re.compile(r"[A-Za-z0-9_.-]+\Z")
_IPV6_RE = re.compile(r"[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?\Z")
_USER_RE = re.compile(r"[^\s/:@]+\Z")
_HOME_RE = re.compile(r"~[A-Za-z0-9._-]*(/|\Z)")


@dataclass(frozen=True, slots=True)
class RemoteAddress:
    """Where a remote repository lives; ``scheme`` is ``"ssh"`` or ``"file"``."""

    scheme: str
    host: str | None
    port: int | None
    user: str | None
    path: str

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    def __str__(self) -> str:
        if self.is_local:
            return self.path
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        if not self.path.startswith(("/", "~")) and not self.port:
            return f"{user}{host}:{self.path}"  # scp-like keeps a home-relative path relative
        port = f":{self.port}" if self.port else ""
        path = self.path if self.path.startswith("/") else "/" + (
            self.path if self.path.startswith("~") else "~/" + self.path)
        return f"ssh://{user}{host}{port}{path}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RemoteAddress":
        return cls(**data)


def parse_address(address: str) -> RemoteAddress:
    """Parse ``address``; raises InvalidAddressError with a hint if it is not usable."""
    if not isinstance(address, str) or not address.strip():
        raise InvalidAddressError("empty remote address: give ssh://host/path, host:path or a local path")
    if "\0" in address or "\n" in address:
        raise InvalidAddressError(f"remote address {address!r} contains control characters")
    url = _SCHEME_RE.match(address)
    if url:
        return _parse_url(address, url.group(1).lower(), url.group(2))
    if _is_scp_like(address):
        return _parse_scp(address)
    return RemoteAddress("file", None, None, None, address)


def _is_scp_like(address: str) -> bool:
    colon = address.find(":")
    if colon <= 0:
        return False
    if address.startswith("["):  # [ipv6]:path or [host:port]:path
        return "]:" in address and "/" not in address[: address.index("]:")]
    return "/" not in address[:colon] and "\\" not in address[:colon] and not _DRIVE_RE.match(address[: colon + 1])


def _parse_url(address: str, scheme: str, rest: str) -> RemoteAddress:
    if scheme == "file":
        return _parse_file_url(address, rest)
    if scheme not in ("ssh", "git+ssh", "ssh+git"):
        raise InvalidAddressError(f"unsupported scheme {scheme!r} in {address!r}: use ssh://, file:// or a local path")
    authority, slash, path = rest.partition("/")
    if not slash:
        raise InvalidAddressError(f"no repository path in {address!r}: write ssh://host/path/to/repo")
    user, host, port = _split_authority(address, authority)
    if not _HOME_RE.match(path):  # ssh://host/~/repo and /~user/repo stay home-relative, as in git
        path = "/" + path
    return RemoteAddress("ssh", host, port, user, path)


def _parse_file_url(address: str, rest: str) -> RemoteAddress:
    host, slash, path = rest.partition("/")
    if host not in ("", "localhost") or not slash:
        raise InvalidAddressError(f"file URL {address!r} must name a local path: file:///path/to/repo")
    path = unquote("/" + path)
    if re.match(r"/[A-Za-z]:[/\\]", path):  # file:///C:/repo
        path = path[1:]
    return RemoteAddress("file", None, None, None, path)


def _parse_scp(address: str) -> RemoteAddress:
    if address.startswith("[") or "@[" in address.split(":", 1)[0]:
        head, _, path = address.partition("]:")
        user, host = _split_user(address, head.replace("[", "", 1))
    else:
        head, _, path = address.partition(":")
        user, host = _split_user(address, head)
    _check_host(address, host)
    if not path:
        raise InvalidAddressError(f"no repository path in {address!r}: write host:path/to/repo")
    return RemoteAddress("ssh", host, None, user, path)


def _split_authority(address: str, authority: str) -> tuple[str | None, str, int | None]:
    user, host = _split_user(address, authority)
    port: int | None = None
    if host.startswith("["):
        inner, close, tail = host[1:].partition("]")
        if not close or (tail and not tail.startswith(":")):
            raise InvalidAddressError(f"bad IPv6 host in {address!r}: write ssh://[::1]:22/path")
        host, port_text = inner, tail[1:]
    else:
        host, _, port_text = host.partition(":")
    if port_text:
        port = _parse_port(address, port_text)
    _check_host(address, host)
    return user, host, port


def _split_user(address: str, text: str) -> tuple[str | None, str]:
    user, at, host = text.rpartition("@")
    if not at:
        return None, host
    if ":" in user:
        raise InvalidAddressError(f"passwords in addresses are not supported ({address!r}): use SSH keys or an agent")
    if not _USER_RE.match(user):
        raise InvalidAddressError(f"bad user name {user!r} in {address!r}")
    return user, host


def _parse_port(address: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidAddressError(f"bad port {text!r} in {address!r}: use a number from 1 to 65535")
    return int(text)


def _check_host(address: str, host: str) -> None:
    if host.startswith("-"):
        raise InvalidAddressError(f"host name {host!r} in {address!r} may not start with '-'")
    if not host or not (_HOST_RE.match(host) or (":" in host and _IPV6_RE.match(host))):
        raise InvalidAddressError(f"bad host name {host!r} in {address!r}")
