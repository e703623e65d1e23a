"""Remotes: named addresses in git config, and push/fetch/fetch-data through them.

A remote is one of two kinds, and every operation works on both:

* a hangar server (``git hangar serve`` under SSH, ``git hangar server``, a
  local hangar repository): ``hangar-remote.NAME.url`` alone;
* a plain git host plus a data store: ``hangar-remote.NAME.url`` is any git
  remote, ``hangar-remote.NAME.data`` the data URL (an ``https://`` address
  needs none: the host publishes it). A git remote of the repository
  (``remote.NAME.url``, e.g. ``origin`` of a ``git clone``) with no hangar
  remote of that name counts as one of these too.
"""
from __future__ import annotations

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

from ..bookkeeping.gitrepo import GitRepo, Oid, branch_ref, remote_ref
from ..bookkeeping.remoteconfig import CONFIG_REF
from ..bookkeeping.snapshot import Snapshot
from ..core import revisions, upstream
from ..core.layout import BRANCH_KEY, REMOTES, S3_NAMES, command_key, remote_key, remote_s3_key, remote_urls
from ..core.locate import is_initialized
from ..errors import (AuthenticationError, BranchNotFoundError, ColumnNotFoundError, DataLocationError,
                      GitCommandError, HostKeyError, IntegrityError, InvalidArgumentError, InvalidNameError,
                      NonFastForwardError, PushDataMissingError, RemoteBranchNotFoundError, RemoteError,
                      RemoteNotFoundError)
from ..transport.address import parse_address
from ..transport.fetch import FetchResult
from ..transport.fetch_data import FetchDataResult
from ..transport.gitcmd import GitHost, is_git_only_address
from ..transport.gitremote import GitDataRemote
from ..transport.links import AnyLink, ServerLink
from ..transport.push import PushResult
from ..transport.rpc import Session
from . import remoteedit as _edit
from .remoteedit import REMOTE_NAME, data_url_setting

if TYPE_CHECKING:
    from .repository import Repository

@dataclass(frozen=True, slots=True)
class RemoteInfo:
    """A remote: its address, and for a git host its data URL (None for a hangar server)."""

    name: str
    address: str
    data_url: Optional[str] = None


def check_branch_not_remote(git: GitRepo, name: str) -> None:
    """Refuse a local branch named ``<remote>/...``: it would hide that remote-tracking branch."""
    if not isinstance(name, str):
        return  # check_branch_name refuses it
    remote = name.split("/", 1)[0]
    if "/" in name and (git.config_get(remote_key(remote)) is not None
                        or any(True for _ in git.list_refs(f"{REMOTES}{remote}/"))):
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
    def add(self, name: str, address: str, data_url: Optional[str] = None) -> RemoteInfo:
        """Record a remote: a hangar server at ``address`` (ssh://..., user@host:path, file://, a
        path), or with ``data_url`` any git remote whose data lives at ``data_url``."""
        _edit.check_new_name(self._git, name)
        _edit.check_address(name, address, data_url)
        if data_url is not None:
            data_url = data_url_setting(data_url, os.getcwd())
            self._git.config_set(remote_key(name, "data"), data_url)
        self._git.config_set(remote_key(name), address)
        return RemoteInfo(name, address, data_url)

    def remove(self, name: str) -> RemoteInfo:
        """Forget a remote and its remote-tracking branches."""
        info = self.info(name)
        for key in (remote_key(name), remote_key(name, "data"), *(remote_s3_key(name, s) for s in S3_NAMES)):
            self._git.config_delete(key)
        self._git.config_delete(command_key(name))
        for b in list(self._git.list_refs(f"{REMOTES}{name}/")):
            self._git.set_ref(remote_ref(name, b), None)
        upstream.forget_remote(self._git, name)
        return info

    def set_url(self, name: str, address: str, data_url: Optional[str] = None) -> RemoteInfo:
        """Point remote ``name`` at ``address`` (and, given ``data_url``, its data store there)."""
        self.info(name)
        _edit.set_url(self._git, name, address, data_url)
        return self.info(name)

    def rename(self, old: str, new: str) -> RemoteInfo:
        """Rename remote ``old`` to ``new``, with its remote-tracking branches and upstreams."""
        self.info(old)
        _edit.rename(self._git, old, new)
        return self.info(new)

    def list_all(self) -> list[RemoteInfo]:
        out = []
        for name, value in sorted(remote_urls(self._git).items()):
            out.append(RemoteInfo(name, value, self._git.config_get(remote_key(name, "data"))))
        return out

    def info(self, name: str) -> RemoteInfo:
        """The remote ``name`` (RemoteNotFoundError if there is none)."""
        address = self._git.config_get(remote_key(name))
        if address is None:
            git_url = self._git.config_get(f"remote.{name}.url") if REMOTE_NAME.match(name) else None
            if git_url is None:
                raise RemoteNotFoundError(name)
            return RemoteInfo(name, git_url, None)  # the git remote of a `git clone`: data URL on the host
        return RemoteInfo(name, address, self._git.config_get(remote_key(name, "data")))

    def is_git_host(self, info: RemoteInfo) -> bool:
        """Whether ``info`` is a git host plus a data store (else a hangar server)."""
        return (info.data_url is not None or is_git_only_address(info.address)
                or self._git.config_get(remote_key(info.name)) is None)

    def connect(self, name: str, username: str = "") -> Session:
        """An open protocol session with a hangar server remote (one per operation); ``username``:
        the SSH user, instead of the address's own or ~/.ssh/config's."""
        info = self.info(name)
        if self.is_git_host(info):
            raise RemoteError(f"remote {name!r} is a git host with its data at a data URL: it has no hangar "
                              f"server to open a session with")
        address = self._located(info.address)
        if username and not parse_address(address).is_local:
            address = str(dataclasses.replace(parse_address(address), user=username))
        command = self._git.config_get(command_key(name)) or self.remote_command or "git-hangar"
        from ..transport.connect import open_session  # paramiko loads only when a remote is used
        return open_session(address, trust_host_key=self.trust_host_key, ssh_command_prefix=command)

    def open(self, name: str, username: str = "") -> AnyLink:
        """The remote ``name``, opened for one operation (a context manager)."""
        info = self.info(name)
        git = self._git
        if self.is_git_host(info):
            return GitDataRemote(git, name, self._located_git(info.address), info.data_url,
                                 trust_host_key=self.trust_host_key, quiet=self.quiet)
        return ServerLink(git, name, self.connect(name, username), quiet=self.quiet)

    def ping(self, name: str) -> float:
        """Seconds one request to the remote takes, once connected (as Hangar's ``ping``): a
        hangar server's ``list_refs``, a git host's ``git ls-remote``."""
        with self.open(name) as link:
            start = time.perf_counter()
            link.heads()
            return time.perf_counter() - start

    def _located(self, address: str) -> str:
        """A relative local path means relative to this repository (as in git), not to the cwd."""
        parsed = parse_address(address)
        if not parsed.is_local or os.path.isabs(os.path.expanduser(parsed.path)):
            return address
        return os.path.join(self._git.work_dir or self._git.git_dir, parsed.path)

    def _located_git(self, address: str) -> str:
        return address if is_git_only_address(address) else self._located(address)

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
        with self.open(remote, username) as link:
            try:
                return link.push(self._repo.ctx.store, branch)
            except NonFastForwardError as exc:  # the server names no remote: it does not know ours
                raise NonFastForwardError(remote, exc.branch) from None
            except PushDataMissingError as exc:  # named by column and key, with the fetch-data that works
                from .hints import refused_push
                raise refused_push(self._repo.ctx, exc) from None

    def fetch_result(self, remote: str, branch: str, *, refetch: bool = False) -> FetchResult:
        """:meth:`fetch` without its warning, as git fetches (the CLI's fetch). ``refetch``: ask
        for every object of the branch's history, as a fresh clone would, and store those this
        repository lacks (repairs damaged objects once their files are removed: see fsck)."""
        with self.open(remote) as link:
            try:
                return link.fetch(branch, refetch=refetch)
            except BranchNotFoundError:
                raise RemoteBranchNotFoundError(remote, branch) from None

    def delete_branch(self, remote: str, branch: str) -> str:
        """Delete ``branch`` on ``remote`` (and ``remote/branch`` here); returns the head it had.

        The remote's data stays (its gc frees what nothing references)."""
        with self.open(remote) as link:
            old = link.heads().get(branch)
            if old is None:
                raise RemoteBranchNotFoundError(remote, branch)
            link.delete(branch, old)
        self._git.set_ref(remote_ref(remote, branch), None)
        return old

    def fetch_data(self, remote: str, branch: Optional[str] = None, commit: Optional[str] = None, *,
                   column_names: Optional[Sequence[str]] = None, max_num_bytes: Optional[int] = None,
                   retrieve_all_history: bool = False) -> list[str]:
        """Materialise sample data of a branch or commit; returns the commits covered."""
        return self.fetch_data_result(remote, branch, commit, column_names=column_names,
                                      max_num_bytes=max_num_bytes, retrieve_all_history=retrieve_all_history,
                                      strict=False).commits

    def fetch_data_result(self, remote: str, branch: Optional[str] = None, commit: Optional[str] = None, *,
                          column_names: Optional[Sequence[str]] = None, max_num_bytes: Optional[int] = None,
                          retrieve_all_history: bool = False, strict: bool = True) -> FetchDataResult:
        """:meth:`fetch_data`, returning how many samples and bytes came and whether all did.

        A column none of the commits has is refused (ColumnNotFoundError, a KeyError). ``strict``
        (the CLI's way) also refuses a budget of no bytes; :meth:`fetch_data` fetches nothing
        for it, as Hangar did."""
        ctx = self._repo.ctx
        git = ctx.git
        if (branch is None) == (commit is None):
            raise InvalidNameError("fetch_data needs exactly one of branch= or commit=")
        if commit is not None:
            head: Optional[Oid] = revisions.resolve(git, commit)
        else:
            assert branch is not None
            # a local branch, else remote/branch; also the 'origin/add-train' form fetch returns
            head = git.get_ref(branch_ref(branch)) or git.get_ref(remote_ref(remote, branch))
            if head is None:
                head = revisions.resolve(git, branch)
        assert head is not None
        commits: list[Oid] = [c.oid for c in git.walk([head])] if retrieve_all_history else [head]
        columns = set(column_names) if column_names else None
        if strict and max_num_bytes is not None and max_num_bytes <= 0:
            raise InvalidArgumentError(f"a byte budget of {max_num_bytes} allows no data at all: give a positive "
                                       f"size (e.g. 500M), or none for everything")
        if columns:
            check_columns_exist(git, commits, columns)
        with self.open(remote) as link:
            try:
                return link.fetch_data(ctx.store, list(commits), columns=columns, max_num_bytes=max_num_bytes,
                                       presence=ctx.presence)
            except IntegrityError as exc:  # damage the remote found in its store: say which remote
                from ..transport.objectdamage import naming_remote
                renamed = naming_remote(exc, remote)
                if renamed is None:
                    raise
                raise renamed from None

    def list_remote_branches(self, remote: str) -> dict[str, str]:
        with self.open(remote) as link:
            return link.heads()


def check_columns_exist(git: GitRepo, commits: Sequence[str], columns: set[str]) -> None:
    """ColumnNotFoundError naming a column none of ``commits`` has."""
    present: set[str] = set()
    for commit in commits:
        present |= set(Snapshot(git, git.commit_info(commit).tree).column_trees)
    absent = sorted(columns - present)
    if absent:
        raise ColumnNotFoundError(absent[0], where=f"in commit {commits[0]}", known=sorted(present))


def clone_into(repo: "Repository", remote_address: str, branch: Optional[str] = None) -> str:
    """Add ``origin``, fetch the default branch's records, make it the local write branch.

    ``remote_address`` may be a hangar server or a git host that publishes a data
    location (``refs/hangar/config``); the latter becomes a git-host remote.
    """
    remotes = repo.remote  # its trust_host_key / quiet settings apply to the clone too
    if not is_git_only_address(remote_address):
        local = parse_address(remote_address)
        if local.is_local and not os.path.isabs(os.path.expanduser(local.path)):
            remote_address = os.path.abspath(local.path)  # like git clone: origin works from anywhere
    link, data_url = _open_for_clone(repo, remote_address)
    with link:
        remotes.add("origin", remote_address, data_url)
        if remotes.remote_command:
            repo.ctx.git.config_set(command_key("origin"), remotes.remote_command)
        heads = link.heads()
        default = branch or link.default_branch()
        if default not in heads:
            default = "master" if "master" in heads else (sorted(heads)[0] if heads else default)
        if default in heads:
            result = link.fetch(default)
            repo.ctx.git.set_ref(branch_ref(default), result.head)
    repo.ctx.git.config_set(BRANCH_KEY, default)
    return default


def _open_for_clone(repo: "Repository", address: str) -> tuple[AnyLink, Optional[str]]:
    """What ``address`` is, opened: a hangar server (data URL None), or a git host and the data
    URL it publishes (its S3 settings saved for ``origin``)."""
    remotes = repo.remote
    git = repo.ctx.git
    if not is_git_only_address(address):
        parsed = parse_address(address)
        there = GitRepo.discover(os.path.expanduser(parsed.path)) if parsed.is_local else None
        if not parsed.is_local or there is None or is_initialized(there):
            try:
                from ..transport.connect import open_session  # paramiko loads only when a remote is used
                session = open_session(address, trust_host_key=remotes.trust_host_key,
                                       ssh_command_prefix=remotes.remote_command or "git-hangar")
                return ServerLink(git, "origin", session, quiet=remotes.quiet), None
            except (HostKeyError, AuthenticationError):
                raise
            except RemoteError as exc:
                if parsed.is_local or remotes.remote_command:  # a program named: its failure is the answer
                    raise
                server_failure: Optional[RemoteError] = exc  # a host with git only: ask git
        else:
            server_failure = None
    else:
        server_failure = None
    probe = GitDataRemote(git, "origin", address, None, trust_host_key=remotes.trust_host_key,
                          quiet=remotes.quiet)
    try:
        location = probe.published()
    except GitCommandError:
        if server_failure is not None:
            raise server_failure from None
        raise
    if location is None:
        raise DataLocationError(f"{address} holds no hangar data: no hangar server answered there and its git "
                                f"refs have no data location (refs/hangar/config); push to it first with "
                                f"`git hangar remote add NAME {address} --data URL`")
    for name, value in location.s3:
        git.config_set(remote_s3_key("origin", name), value)
    probe.configured_url, probe.published_s3 = location.url, dict(location.s3)
    return probe, location.url


def check_git_remote_has_data(path: str, remote: str) -> None:
    """DataLocationError unless the git remote ``remote`` of the git repository at ``path`` (a
    plain ``git clone`` of a code repository, say) is a git host that publishes hangar data."""
    git = GitRepo.find(path)
    url = git.config_get(f"remote.{remote}.url") if git is not None else None
    if git is None or url is None:
        raise RemoteNotFoundError(remote)
    if CONFIG_REF not in GitHost(git.git_dir, url).list_refs(CONFIG_REF):
        raise DataLocationError(f"{url} (git remote {remote!r}) holds no hangar data location "
                                f"(refs/hangar/config): nothing was pushed there with a data URL yet")


__all__ = ["RemoteInfo", "Remotes", "check_branch_not_remote", "check_git_remote_has_data", "clone_into",
           "data_url_setting"]
