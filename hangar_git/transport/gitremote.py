"""A remote that is a plain git host (bookkeeping) plus a data store (sample data).

No hangar runs on either side. Bookkeeping travels with the ``git`` binary
(:mod:`.gitcmd`); sample data goes straight between this repository's store
and the store at the data URL (an S3 prefix or a shared folder,
:mod:`.storecopy`); the data URL itself is published on the git host
(:mod:`~hangar_git.bookkeeping.remoteconfig`), so a clone needs no more
than credentials.

The guarantees are a hangar server's: a push sends only the commits the
host lacks (git's negotiation) and only the samples the store's index says
it lacks; it copies and verifies the data before the branch moves, and
moves it by compare-and-swap, refusing a non-fast-forward.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Optional, Sequence

from ..bookkeeping.added import added_raws
from ..bookkeeping.gitrepo import HEADS, GitRepo, branch_ref, remote_ref
from ..bookkeeping.remoteconfig import CONFIG_REF, DataLocation, read_location, write_location
from ..bookkeeping.transfer import new_commits
from ..core.layout import remote_key
from ..core.repostore import open_data_store, remote_s3_settings
from ..errors import (BranchNotFoundError, DataLocationError, GitCommandError, IntegrityError,
                      NonFastForwardError, RefMovedError, StoreNotFoundError)
from ..faults import checkpoint
from ..storage import Digest, ObjectStore
from .fetch import FetchResult
from .fetch_data import FetchDataResult, Presence, StoreSource, fetch_data_from
from .gitcmd import GitHost, RefUpdate
from .progress import progress
from .push import PushResult, data_to_send
from .storecopy import copy_objects


def same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class GitDataRemote:
    """The remote ``name`` of the repository ``git``: the git host at ``address``, the data
    at ``data_url`` (None: the URL the host publishes)."""

    def __init__(self, git: GitRepo, name: str, address: str, data_url: Optional[str], *,
                 trust_host_key: bool = False, quiet: bool = False) -> None:
        self.git, self.name, self.quiet = git, name, quiet
        self.host = GitHost(git.git_dir, address, trust_host_key=trust_host_key)
        self.configured_url = data_url
        self.published_s3: dict[str, str] = {}
        """S3 settings the host publishes, when the data URL was learned from it."""
        self._refs: Optional[dict[str, str]] = None
        self._store: Optional[ObjectStore] = None

    # -- the host's refs and the data location ---------------------------------------------
    def refs(self, fresh: bool = False) -> dict[str, str]:
        """The host's refs under ``refs/hangar/`` (asked once per operation unless ``fresh``)."""
        if self._refs is None or fresh:
            self._refs = self.host.list_refs("refs/hangar/")
        return self._refs

    def heads(self) -> dict[str, str]:
        """Branch -> commit of the host's hangar branches."""
        return {name[len(HEADS):]: oid for name, oid in self.refs().items() if name.startswith(HEADS)}

    def default_branch(self) -> str:
        heads = self.heads()
        return "master" if "master" in heads or not heads else sorted(heads)[0]

    def published(self) -> Optional[DataLocation]:
        """The data location the host publishes (None before the first push with a data URL)."""
        oid = self.refs().get(CONFIG_REF)
        if oid is None:
            return None
        if not self.git.has_object(oid):
            self.host.fetch([CONFIG_REF])
        return read_location(self.git, oid)

    @property
    def data_url(self) -> str:
        """Where the data is: the configured URL, else the one the host publishes."""
        if self.configured_url:
            return self.configured_url
        found = self.published()
        if found is None:
            raise DataLocationError(
                f"{self.host.address} holds no hangar data location (refs/hangar/config): nothing was "
                f"pushed there with a data URL yet; add it with `git hangar remote add {self.name} "
                f"{self.host.address} --data s3://bucket/prefix`")
        self.configured_url, self.published_s3 = found.url, dict(found.s3)
        return found.url

    def data_store(self, create: bool = False) -> ObjectStore:
        """The store at the data URL (StoreNotFoundError-free: a clear DataLocationError instead)."""
        if self._store is None:
            url = self.data_url
            try:
                self._store = open_data_store(self.git, self.name, url, create=create,
                                              published=self.published_s3)
            except StoreNotFoundError:
                raise DataLocationError(f"no hangar data at {url} (the data URL of remote {self.name!r}): "
                                        f"nothing was pushed there yet, or the URL is wrong") from None
        return self._store

    def _publish_location(self) -> None:
        """Record the data URL on the host, or check it agrees with the one there."""
        mine = DataLocation(self.data_url, tuple(sorted(remote_s3_settings(self.git, self.name).items())))
        there = self.published()
        if there is None:
            outcome = self.host.push([RefUpdate(CONFIG_REF, write_location(self.git, mine), None)])
            if not outcome.rejected:
                return
            there = self.published() if self.refs(fresh=True).get(CONFIG_REF) else None
        if there is None or not same_url(there.url, mine.url):
            raise DataLocationError(
                f"{self.host.address} keeps its data at {there.url if there else 'an unknown place'}, but remote "
                f"{self.name!r} is set to {mine.url}: one git host has one data location; fix the remote with "
                f"`git config {remote_key(self.name, 'data')} {there.url if there else 'URL'}`")

    # -- operations ----------------------------------------------------------------------------
    def push(self, store: ObjectStore, branch: str) -> PushResult:
        """Send ``branch``: its samples to the data store (verified), then its commits and the
        branch to the git host (fast-forward only, compare-and-swap)."""
        git = self.git
        local = git.get_ref(branch_ref(branch))
        if local is None:
            raise BranchNotFoundError(branch)
        old = self.refs().get(HEADS + branch)
        if old == local:
            git.set_ref(remote_ref(self.name, branch), local)
            return PushResult(branch, old, local, 0, 0, 0, 0)
        if old is not None and (not git.has_object(old) or not git.is_ancestor(old, local)):
            raise NonFastForwardError(self.name, branch)
        self._publish_location()
        haves = [oid for oid in self.heads().values() if git.has_object(oid)]
        commits = new_commits(git, [local], haves)
        target = self.data_store(create=True)
        raws = added_raws(git, commits)
        sending = data_to_send(store, raws, partial(target.absent, raws) if len(raws) else None, self.name, branch)
        digests, nbytes = sending.digests(), sending.nbytes
        with progress("Pushing data", total=nbytes, unit="B", quiet=self.quiet) as bar:
            copy_objects(store, target, sending.raws, progress=bar, fault="push.between_data_frames",
                         described=sending.described)
        checkpoint("push.after_data")
        self._verify_uploaded(digests)
        checkpoint("push.before_update_ref")
        with progress("Pushing commit records", total=1, quiet=self.quiet) as bar:
            outcome = self.host.push([RefUpdate(HEADS + branch, local, old)])
            bar.update(1)
        if outcome.rejected:
            raise NonFastForwardError(self.name, branch)
        git.set_ref(remote_ref(self.name, branch), local)
        return PushResult(branch, old, local, len(commits), len(commits), len(digests), nbytes)

    def delete(self, branch: str, old: str) -> None:
        """Delete ``branch`` on the git host if it is still at ``old`` (its data stays in the store)."""
        outcome = self.host.push([RefUpdate(HEADS + branch, "", old)])
        if outcome.rejected:
            raise RefMovedError(f"branch {branch!r} moved on {self.host.address} since it was listed; nothing "
                                f"was deleted: fetch it and look before deleting")

    def _verify_uploaded(self, digests: Sequence[str]) -> None:
        """Every copied sample is in the data store, as a fresh reader of it sees it."""
        if not digests:
            return
        fresh = open_data_store(self.git, self.name, self.data_url, published=self.published_s3)
        try:
            absent = fresh.missing([Digest(d) for d in digests])
        finally:
            fresh.close()
        if absent:
            raise IntegrityError(f"{len(absent)} sample(s) copied to {self.data_url} are not there "
                                 f"(e.g. {absent[0]}); the branch was not moved: push again")

    def fetch(self, branch: str, refetch: bool = False) -> FetchResult:
        """Bring ``branch``'s commits (no data) into ``NAME/branch``; ``refetch``: all its
        history's objects, as a fresh clone would."""
        tracking = remote_ref(self.name, branch)
        before = self.git.get_ref(tracking)
        try:
            with progress("Fetching commit records", quiet=self.quiet):
                self.host.fetch([f"+{HEADS}{branch}:{tracking}"], refetch=refetch)
        except GitCommandError as exc:
            if "couldn't find remote ref" in exc.detail:
                raise BranchNotFoundError(f"{self.name}/{branch}") from None
            raise
        head = self.git.get_ref(tracking)
        assert head is not None
        return FetchResult(self.name, branch, head, 0 if head == before else 1)

    def fetch_data(self, store: ObjectStore, commits: list[str], *, columns: Optional[set[str]] = None,
                   max_num_bytes: Optional[int] = None, presence: Optional[Presence] = None) -> FetchDataResult:
        """Copy the samples of ``commits`` this repository lacks from the data store."""
        return fetch_data_from(self.git, store, StoreSource(self.data_store()), commits, columns=columns,
                               max_num_bytes=max_num_bytes, quiet=self.quiet, presence=presence)

    def missing(self, digests: list[str]) -> list[str]:
        """The digests the data store does not hold (asked of its index, never by listing)."""
        return list(self.data_store().missing([Digest(d) for d in digests]))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> "GitDataRemote":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
