"""Remotes: named addresses in git config, and push/fetch/fetch-data through them."""
from __future__ import annotations

import dataclasses
import os
import re
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

from ..bookkeeping import branches
from ..bookkeeping.gitrepo import GitRepo, Oid, branch_ref, remote_ref
from ..errors import InvalidArgumentError, InvalidNameError, RemoteExistsError, RemoteNotFoundError
from ..transport.address import parse_address
from ..transport.fetch import FetchResult, fetch as fetch_records
from ..transport.fetch_data import fetch_data as fetch_samples
from ..transport.push import PushResult, push as push_branch
from ..transport.rpc import Session

if TYPE_CHECKING:
    from .repository import Repository

_REMOTE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True, slots=True)
class RemoteInfo:
    name: str
    address: str


def _key(name: str) -> str:
    return f"hangar-remote.{name}.url"


def command_key(name: str) -> str:
    """The git config key naming the program an SSH remote runs (like ``remote.<name>.uploadpack``)."""
    return f"remote.{name}.hangarcommand"


def check_branch_not_remote(git: GitRepo, name: str) -> None:
    """Refuse a local branch named ``<remote>/...``: it would hide that remote-tracking branch."""
    if not isinstance(name, str):
        return  # check_branch_name refuses it
    remote = name.split("/", 1)[0]
    if "/" in name and (git.config_get(_key(remote)) is not None
                        or any(True for _ in git.list_refs(f"refs/hangar/remotes/{remote}/"))):
        raise InvalidNameError(
            f"invalid branch name {name!r}: {remote!r} is a remote, so {name!r} names a "
            f"remote-tracking branch; pick a name that does not start with '{remote}/'")


class Remotes:
    """``repo.remote``: manage remotes and move records and data through them."""

    def __init__(self, repo: "Repository") -> None:
        self._repo = repo
        self.quiet = False
        self.trust_host_key = False
        self.remote_command: Optional[str] = None
        """The program to run on an SSH remote (default ``git-hangar``); a clone records it
        as ``remote.origin.hangarcommand``."""

    @property
    def _git(self):  # type: ignore[no-untyped-def]
        return self._repo.ctx.git

    # -- configuration -------------------------------------------------------------
    def add(self, name: str, address: str) -> RemoteInfo:
        """Record a remote; ``address`` is ssh://..., user@host:path, file:// or a local path."""
        if not isinstance(name, str) or not _REMOTE_NAME.match(name):
            raise InvalidNameError(f"invalid remote name {name!r}: use letters, digits, '.', '_' or '-'")
        if self._git.config_get(_key(name)) is not None:
            raise RemoteExistsError(name)
        shadowed = sorted(b for b in self._git.list_refs("refs/hangar/heads/") if b.startswith(name + "/"))
        if shadowed:
            raise InvalidNameError(
                f"invalid remote name {name!r}: local branch {shadowed[0]!r} would hide its "
                f"remote-tracking branches; rename that branch or pick another remote name")
        self._git.config_set(_key(name), address)
        return RemoteInfo(name, address)

    def remove(self, name: str) -> RemoteInfo:
        """Forget a remote and its remote-tracking branches."""
        info = self._info(name)
        self._git.config_delete(_key(name))
        self._git.config_delete(command_key(name))
        for b in list(self._git.list_refs(f"refs/hangar/remotes/{name}/")):
            self._git.set_ref(remote_ref(name, b), None)
        return info

    def list_all(self) -> list[RemoteInfo]:
        out = []
        for key, value in sorted(self._git.config_items("hangar-remote.").items()):
            if key.endswith(".url"):
                out.append(RemoteInfo(key[len("hangar-remote."):-len(".url")], value))
        return out

    def _info(self, name: str) -> RemoteInfo:
        address = self._git.config_get(_key(name))
        if address is None:
            raise RemoteNotFoundError(name)
        return RemoteInfo(name, address)

    def connect(self, name: str, username: str = "") -> Session:
        """An open protocol session with a remote (one per operation); ``username``: the SSH
        user, instead of the address's own or ~/.ssh/config's."""
        address = self._located(self._info(name).address)
        if username and not parse_address(address).is_local:
            address = str(dataclasses.replace(parse_address(address), user=username))
        command = self._git.config_get(command_key(name)) or self.remote_command or "git-hangar"
        from ..transport.connect import open_session  # paramiko loads only when a remote is used
        return open_session(address, trust_host_key=self.trust_host_key, ssh_command_prefix=command)

    def ping(self, name: str) -> float:
        """Seconds one request to the remote takes, once connected (as Hangar's ``ping``)."""
        with self.connect(name) as session:
            start = time.perf_counter()
            session.call("list_refs")
            return time.perf_counter() - start

    def _located(self, address: str) -> str:
        """A relative local path means relative to this repository (as in git), not to the cwd."""
        parsed = parse_address(address)
        if not parsed.is_local or os.path.isabs(os.path.expanduser(parsed.path)):
            return address
        return os.path.join(self._git.work_dir or self._git.git_dir, parsed.path)

    # -- operations ------------------------------------------------------------------
    def push(self, remote: str, branch: str, *, username: str = "", password: str = "") -> str:
        """Send ``branch`` (commits and missing data) to ``remote``; fast-forward only.

        ``username`` is the SSH user; a ``password`` is refused: SSH keys authenticate.
        Warns (UserWarning) when the remote already has the branch's head, as Hangar does.
        """
        if password:
            raise InvalidArgumentError(
                "push does not take a password: hangar-git authenticates with SSH keys (ssh-agent, "
                "~/.ssh/config or the key files ssh uses); add your public key to the server")
        result = self.push_result(remote, branch, username=username)
        if result.up_to_date:
            warnings.warn(f"nothing to push: {remote!r} already has {branch!r} at {result.new}",
                          UserWarning, stacklevel=2)
        return branch

    def fetch(self, remote: str, branch: str) -> str:
        """Fetch a branch's records (no data) into ``remote/branch``; returns that name.

        When the local ``branch`` already contains the remote's head there is nothing to
        fetch: it warns (UserWarning) and returns ``branch``, as Hangar does.
        """
        git = self._repo.ctx.git
        local = git.get_ref(branch_ref(branch))
        result = self.fetch_result(remote, branch)
        if local is not None and (result.head == local or git.is_ancestor(result.head, local)):
            warnings.warn(f"nothing to fetch: {branch!r} already contains {remote}/{branch} "
                          f"({result.head})", UserWarning, stacklevel=2)
            return branch
        return result.tracking_name

    def push_result(self, remote: str, branch: str, *, username: str = "") -> PushResult:
        """:meth:`push` without its warning, returning what moved (the CLI's push)."""
        ctx = self._repo.ctx
        with self.connect(remote, username) as session:
            return push_branch(ctx.git, ctx.store, session, remote, branch, quiet=self.quiet)

    def fetch_result(self, remote: str, branch: str) -> FetchResult:
        """:meth:`fetch` without its warning, as git fetches (the CLI's fetch)."""
        with self.connect(remote) as session:
            return fetch_records(self._repo.ctx.git, session, remote, branch, quiet=self.quiet)

    def fetch_data(self, remote: str, branch: Optional[str] = None, commit: Optional[str] = None, *,
                   column_names: Optional[Sequence[str]] = None, max_num_bytes: Optional[int] = None,
                   retrieve_all_history: bool = False) -> list[str]:
        """Materialise sample data of a branch or commit; returns the commits covered."""
        ctx = self._repo.ctx
        git = ctx.git
        if (branch is None) == (commit is None):
            raise InvalidNameError("fetch_data needs exactly one of branch= or commit=")
        if commit is not None:
            head: Optional[Oid] = git.resolve_commit(commit)
        else:
            assert branch is not None
            # a local branch, else remote/branch; also the 'origin/add-train' form fetch returns
            head = git.get_ref(branch_ref(branch)) or git.get_ref(remote_ref(remote, branch))
            if head is None:
                head = branches.branch_head(git, branch)
        assert head is not None
        commits: list[Oid] = [c.oid for c in git.walk([head])] if retrieve_all_history else [head]
        columns = set(column_names) if column_names else None
        with self.connect(remote) as session:
            fetch_samples(git, ctx.store, session, list(commits), columns=columns,
                          max_num_bytes=max_num_bytes, quiet=self.quiet, presence=ctx.presence)
        return list(commits)

    def list_remote_branches(self, remote: str) -> dict[str, str]:
        with self.connect(remote) as session:
            return dict(session.call("list_refs").header["heads"])


def clone_into(repo: "Repository", remote_address: str, branch: Optional[str] = None) -> str:
    """Add ``origin``, fetch the default branch's records, make it the local write branch."""
    remotes = repo.remote  # its trust_host_key / quiet settings apply to the clone too
    local = parse_address(remote_address)
    if local.is_local and not os.path.isabs(os.path.expanduser(local.path)):
        remote_address = os.path.abspath(local.path)  # like git clone: origin works from anywhere
    remotes.add("origin", remote_address)
    if remotes.remote_command:
        repo.ctx.git.config_set(command_key("origin"), remotes.remote_command)
    with remotes.connect("origin") as session:
        default = branch or session.server_info.get("default_branch") or "master"
        heads = session.call("list_refs").header["heads"]
        if default not in heads:
            default = "master" if "master" in heads else (sorted(heads)[0] if heads else default)
        if default in heads:
            result = fetch_records(repo.ctx.git, session, "origin", default, quiet=remotes.quiet)
            repo.ctx.git.set_ref(branch_ref(default), result.head)
    repo.ctx.git.config_set("hangar.branch", default)
    return default
