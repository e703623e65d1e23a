"""Errors of transport: a remote or a data store that cannot be used as asked."""
from __future__ import annotations

from typing import Sequence

from .base import HangarError
from .usage import InvalidArgumentError


# -- transport: a remote or store could not be used ---------------------------
class RemoteError(HangarError):
    """A remote could not be reached, refused a request, or broke the protocol."""


class StoreUnreachableError(RemoteError, ConnectionError):
    """The data store's server could not be reached or refused the request."""

    def __init__(self, uri: str, detail: str) -> None:
        self.uri, self.detail = uri, detail
        super().__init__(
            f"cannot reach the data store at {uri}: {detail}; check that its server is up and the "
            f"repository's S3 settings (`git config --get-regexp hangar.s3`, TILEDB_VFS_S3_* and AWS_* "
            f"in the environment)")


class RemoteDataError(RemoteError):
    """The remote lacks data or commits asked of it, or refused part of a transfer."""


class PushDataMissingError(RemoteDataError):
    """A push would bring samples whose data is on neither this machine nor the remote;
    ``digests`` names them (the api layer names their column, key and commit)."""

    def __init__(self, message: str, *, remote: str, branch: str, digests: Sequence[str]) -> None:
        self.remote, self.branch, self.digests = remote, branch, list(digests)
        super().__init__(message)


class ProtocolError(RemoteError):
    """A peer sent a malformed or oversized message."""


class ConnectionClosed(RemoteError):
    """The peer closed the connection cleanly between two messages."""


class HostKeyError(RemoteError):
    """An SSH server's host key is unknown or has changed."""

    def __init__(self, message: str, *, host: str = "", fingerprint: str = "") -> None:
        self.host, self.fingerprint = host, fingerprint
        super().__init__(message)


class AuthenticationError(RemoteError):
    """An SSH server refused every credential we offered."""


class InvalidAddressError(RemoteError, ValueError):
    """A remote address cannot be parsed."""


class ServerConfigError(InvalidArgumentError):
    """A server's authorized-keys or access file cannot be used (names the file and line)."""


class GitCommandError(RemoteError):
    """The ``git`` command that moves bookkeeping to or from a git host failed."""

    def __init__(self, message: str, *, address: str = "", detail: str = "") -> None:
        self.address, self.detail = address, detail
        super().__init__(message)


class DataLocationError(RemoteError):
    """A git remote's data location is unknown, unreachable, or not the one it published."""
