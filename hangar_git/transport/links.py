"""One open remote, whatever it is: a hangar server, or a git host plus a data store.

Both kinds answer the same calls (push, fetch, fetch_data, heads,
default_branch, missing), so the API works on either without asking which;
both are context managers, opened per operation.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol, Union

from ..bookkeeping.gitrepo import GitRepo
from ..storage import ObjectStore
from .fetch import FetchResult, fetch as fetch_records
from .fetch_data import FetchDataResult, Presence, fetch_data as fetch_samples
from .gitremote import GitDataRemote
from .push import PushResult, push as push_branch, remote_missing
from .rpc import Session


class Link(Protocol):
    def push(self, store: ObjectStore, branch: str) -> PushResult: ...

    def fetch(self, branch: str, refetch: bool = False) -> FetchResult: ...

    def fetch_data(self, store: ObjectStore, commits: list[str], *, columns: Optional[set[str]] = None,
                   max_num_bytes: Optional[int] = None, presence: Optional[Presence] = None) -> FetchDataResult: ...

    def heads(self) -> dict[str, str]: ...

    def delete(self, branch: str, old: str) -> None: ...

    def default_branch(self) -> str: ...

    def missing(self, digests: list[str]) -> list[str]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: Any) -> None: ...


class ServerLink:
    """A hangar server (``git hangar serve`` or ``git hangar server``), over one open session."""

    def __init__(self, git: GitRepo, name: str, session: Session, *, quiet: bool = False) -> None:
        self.git, self.name, self.quiet = git, name, quiet
        self.session = session

    def push(self, store: ObjectStore, branch: str) -> PushResult:
        return push_branch(self.git, store, self.session, self.name, branch, quiet=self.quiet)

    def fetch(self, branch: str, refetch: bool = False) -> FetchResult:
        return fetch_records(self.git, self.session, self.name, branch, quiet=self.quiet, refetch=refetch)

    def fetch_data(self, store: ObjectStore, commits: list[str], *, columns: Optional[set[str]] = None,
                   max_num_bytes: Optional[int] = None, presence: Optional[Presence] = None) -> FetchDataResult:
        return fetch_samples(self.git, store, self.session, commits, columns=columns,
                             max_num_bytes=max_num_bytes, quiet=self.quiet, presence=presence)

    def heads(self) -> dict[str, str]:
        return dict(self.session.call("list_refs").header["heads"])

    def delete(self, branch: str, old: str) -> None:
        """Delete ``branch`` on the server if it is still at ``old``."""
        self.session.call("delete_ref", {"branch": branch, "old": old})

    def default_branch(self) -> str:
        return str(self.session.server_info.get("default_branch") or "master")

    def missing(self, digests: list[str]) -> list[str]:
        return remote_missing(self.session, digests)

    def close(self, graceful: bool = True) -> None:
        self.session.close(graceful=graceful)

    def __enter__(self) -> "ServerLink":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(graceful=exc_type is None)


AnyLink = Union[ServerLink, GitDataRemote]
