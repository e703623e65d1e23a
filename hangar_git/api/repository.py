"""The Repository: entry point of the Python API."""
from __future__ import annotations

import os
import shutil
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..bookkeeping import branches
from ..bookkeeping.gitrepo import GitRepo, Oid, branch_ref
from ..core import locate, revisions
from ..core.layout import BRANCH_KEY, HANGAR_NS, ID_KEY, STORE_KEY, USER_EMAIL_KEY, USER_NAME_KEY, hangar_dir
from ..core.repostore import open_repo_store
from ..errors import (BranchNotFoundError, HangarError, InvalidArgumentError,
                      NotInitializedError, RepositoryExistsError, StoreNotFoundError)
from ..storage import DEFAULT_STORE, registry, remove_store, store_exists, store_setting
from .gc import DEFAULT_GRACE_SECONDS
from .branching import BranchMethods
from .hangar_compat import HangarCompat
from .context import RepoContext
from . import diff as _diff, log as _log, merge as _merge, sharing

if TYPE_CHECKING:  # loaded by the methods that use them: `git hangar log` needs no numpy
    from .fsck import FsckReport
    from .gc import GcResult
    from .remotes import Remotes
    from .writer import WriterCheckout


class Repository(BranchMethods, HangarCompat):
    """A hangar repository inside a git repository (work tree or bare).

    >>> repo = Repository("data")                       # doctest: +SKIP
    >>> repo.init(user_name="Ann", user_email="ann@example.com")  # doctest: +SKIP
    """

    def __init__(self, path: str = ".", exists: bool = True) -> None:
        self._path = os.path.abspath(os.fspath(path))
        self._ctx: Optional[RepoContext] = None
        self._remotes: Optional[Remotes] = None
        self._writer: Optional[weakref.ref] = None
        git = locate.find(self._path)  # like git: from a subdirectory or a linked worktree too
        if git is not None:
            self._ctx = _open_context(git)
        elif exists:
            warnings.warn(f"no hangar repository at {self._path!r}: call repo.init(user_name, "
                          f"user_email) or run `git hangar init`", UserWarning, stacklevel=2)

    # -- set-up ----------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._path

    @property
    def initialized(self) -> bool:
        return self._ctx is not None

    @property
    def ctx(self) -> RepoContext:
        if self._ctx is None:
            raise NotInitializedError(self._path)
        return self._ctx

    def init(self, user_name: str, user_email: str, remove_old: bool = False,
             bare: bool = False, store_uri: Optional[str] = None) -> str:
        """Create the hangar store (and the git repository if needed); returns the path.

        ``store_uri``: where the data lives, a TileDB URI (``s3://bucket/prefix``) or a
        path (relative to the current directory); default: inside the git dir.
        ``remove_old`` deletes this repository's hangar branches and data first (the
        data of a store other repositories share is kept) and keeps the configured
        store location unless ``store_uri`` is given.
        """
        git = GitRepo.discover(self._path)  # like `git init PATH`: exactly there
        if git is not None and git.config_get(STORE_KEY) and not remove_old:
            raise RepositoryExistsError(self._path)
        typed_in = os.getcwd()
        if git is None:
            os.makedirs(self._path, exist_ok=True)
            git = GitRepo.init(self._path, bare=bare)
        old_setting = git.config_get(STORE_KEY)
        if remove_old:
            _remove_hangar_state(git)
        setting = (store_setting(store_uri, typed_in, git.git_dir, git.main_root) if store_uri
                   else old_setting or DEFAULT_STORE)
        os.makedirs(hangar_dir(git), exist_ok=True)
        open_repo_store(git, create=True, register_here=False, setting=setting).close()
        git.config_set(STORE_KEY, setting)
        for key, value in ((USER_NAME_KEY, user_name), (USER_EMAIL_KEY, user_email)):
            if value:  # a bare server repository makes no commit and needs no identity
                git.config_set(key, value)
        self._ctx = _open_context(git)
        return self._path

    def recreate_store(self) -> bool:
        """Make an empty data store where ``hangar.store`` points when none is there (deleted,
        or its disk replaced), keeping branches and history; fetch-data then brings the data
        back. False, doing nothing, when the store is there."""
        ctx = self.ctx
        try:
            ctx.store
            return False
        except StoreNotFoundError:
            pass
        open_repo_store(ctx.git, create=True).close()
        ctx.reset_store()
        ctx.presence.clear()  # no column is complete here any more: fetch-data fetches every one
        return True

    # -- checkouts ---------------------------------------------------------------------
    def checkout(self, write: bool = False, *, branch: str = "", commit: str = "", stream_from: str = "",
                 keep: bool = False, cache_bytes: Optional[int] = None, cache_dir: Optional[str] = None,
                 cache_dir_bytes: Optional[int] = None, stream_timeout: Optional[float] = None) -> Any:
        """A write checkout of a branch, or a read checkout of a branch head or commit.

        ``stream_from='origin'``: a read checkout that reads samples not on this machine from
        that remote, through a memory cache of ``cache_bytes`` (default 512 MiB) and a directory
        cache that all processes share (DataLoader workers, later checkouts): ``cache_dir``
        (default ``<git dir>/hangar/streamcache``) of ``cache_dir_bytes`` (default 4 GiB, or half
        the free disk if less; 0 for none); ``keep=True`` also keeps them in the store, and uses no
        directory cache unless given one. A remote that sends nothing for ``stream_timeout``
        seconds (default 60) while a read waits on it (or on its connection) is a RemoteError
        (see :mod:`.streaming`)."""
        ctx = self.ctx
        if stream_from or keep or cache_dir is not None or stream_timeout is not None:
            if write:
                from .hints import fetch_data_hint, revision_words
                hint = fetch_data_hint(ctx, revision_words(branch or ("" if commit else ctx.default_branch), commit))
                raise InvalidArgumentError(f"a streaming checkout is read-only: drop write=True, or get the data "
                                           f"here first ({hint}) and then check out for writing")
            from .streaming import StreamOptions, open_streaming
            sizes: dict[str, Any] = {k: v for k, v in (("cache_bytes", cache_bytes),
                                                      ("cache_dir_bytes", cache_dir_bytes),
                                                      ("stream_timeout", stream_timeout)) if v is not None}
            options = StreamOptions(stream_from, keep, cache_dir=cache_dir, **sizes)
            oid = ctx.git.resolve_commit(commit) if commit else revisions.head_of(
                ctx.git, branch or ctx.default_branch)
            return open_streaming(self, oid, "" if commit else branch or ctx.default_branch, options)
        if type(write) is not bool:
            raise InvalidArgumentError(f"write must be True or False, not {write!r}: name a branch "
                                       f"with branch=, as in repo.checkout(branch={write!r})")
        if write:
            if commit:
                raise InvalidArgumentError("a write checkout works on a branch head: pass branch=, not commit=")
            name = branch or ctx.default_branch
            branches.check_branch_name(name)
            from .remotes import check_branch_not_remote
            from .writer import WriterCheckout
            check_branch_not_remote(ctx.git, name)
            if ctx.git.get_ref(branch_ref(name)) is None and branches.list_branches(ctx.git):
                raise BranchNotFoundError(name)
            co = WriterCheckout(ctx, name)
            self._writer = weakref.ref(co)
            if name != ctx.default_branch:
                ctx.git.config_set(BRANCH_KEY, name)
            return co
        from .checkout import ReaderCheckout
        if commit:
            return ReaderCheckout(ctx, ctx.resolve(commit))
        name = branch or ctx.default_branch
        head = revisions.branch_head(ctx.git, name)
        if head is None and revisions.has_suffix(name):  # branch='master~1': a commit, as git names one
            return ReaderCheckout(ctx, ctx.resolve(name))
        return ReaderCheckout(ctx, revisions.head_of(ctx.git, name), branch=name)

    @property
    def writer_lock_held(self) -> bool:
        return self.ctx.writer_lock().held

    def force_release_writer_lock(self) -> bool:
        """Remove the writer lock even if its holder may be alive (use with care)."""
        return self.ctx.writer_lock().force_release()

    def reset_staging_area(self, branch: Optional[str] = None) -> bool:
        """Discard the staged changes of ``branch`` (default: the write branch) without opening a
        write checkout, so also those one refuses to open on (staged before the branch moved,
        conflicting with the commits since). True if there were any; WriterLockError while a
        write checkout is open (``co.reset_staging_area()`` there)."""
        ctx = self.ctx
        name = branch or ctx.default_branch
        branches.check_branch_name(name)
        with ctx.writer_lock():
            if not ctx.staging.of(name).changed:
                return False
            ctx.staging.drop()
        return True

    # -- history: diff, merge, log, summary ---------------------------------------------
    def _open_writer(self) -> Optional[WriterCheckout]:
        co = self._writer() if self._writer is not None else None
        return co if co is not None and not co.closed else None

    def diff(self, a: Optional[str] = None, b: Optional[str] = None, *, branch: Optional[str] = None,
             onto: Optional[str] = None) -> _diff.DiffResult:
        """What changed, as a DiffResult (``print()`` it for a readable report).

        * ``diff()``: the staging area against the head of the write branch (``status()``);
        * ``diff(a, b)``: from ``a`` to ``b`` (branch names, ``remote/branch`` or commit digests);
          ``diff(a)`` is ``diff(a, <write branch>)``; ``diff('a..b')`` is ``diff(a, b)`` and
          ``diff('a...b')`` is from the merge base of a and b to b, as in git;
        * ``diff(branch='dev')``: what ``dev`` changed since it forked from the write branch
          (or from ``onto``), i.e. from their merge base to ``dev``.
        """
        return _diff.diff(self.ctx, a, b, branch=branch, onto=onto, writer=self._open_writer())

    def status(self, branch: Optional[str] = None) -> _diff.DiffResult:
        """Uncommitted changes: the staging area of the write branch (or ``branch``) against its head.

        A write checkout open in this process is flushed first, so its changes are included.
        """
        return _diff.status(self.ctx, branch, writer=self._open_writer())

    def merge(self, message: str, master_branch: str, dev_branch: str, *, strategy: Optional[str] = None,
              allow_unrelated_histories: bool = False) -> str:
        """Merge ``dev_branch`` into ``master_branch``; returns master's new head digest.

        Prints the strategy: fast-forward when master is an ancestor of dev, else a 3-way
        merge against the merge base. Raises MergeConflictError (nothing changed) on
        conflicts and DirtyStagingError if master has uncommitted changes.
        ``strategy='ours'`` / ``'theirs'`` resolves each conflicting key (or column) with
        master's / dev's version instead of raising. Branches with no commit in common
        (another dataset's history) raise UnrelatedHistoriesError, as git refuses them, unless
        ``allow_unrelated_histories=True``.
        """
        return _merge.merge(self.ctx, message, master_branch, dev_branch, writer=self._open_writer(),
                            strategy=strategy, allow_unrelated_histories=allow_unrelated_histories)

    def log(self, branch: Optional[str] = None, commit: Optional[str] = None, *,
            return_contents: bool = False, show_time: bool = False, show_user: bool = False,
            all_branches: bool = False, color: Optional[bool] = None, max_count: Optional[int] = None,
            abbrev: Optional[int] = None) -> Optional[dict]:
        """Print the commit graph from a branch (default: write branch) or commit, newest first
        (the newest ``max_count`` commits; digests cut to ``abbrev`` hex digits).

        With ``return_contents=True`` return a dict instead: ``head``, ``order`` (digests,
        newest first), ``heads`` (branch -> digest, remotes as ``origin/x``), ``ancestors``
        (digest -> parents) and ``specs`` (digest -> message, author, email, time).
        """
        ctx = self.ctx
        if commit:
            start: Optional[Oid] = ctx.resolve(commit)
        elif all_branches:
            start = None
        elif branch:
            start = ctx.resolve(branch)
        else:
            start = ctx.git.get_ref(branch_ref(ctx.default_branch))
        heads = list(_log.branch_labels(ctx).values()) if all_branches else None
        return _log.log(ctx, start, heads=heads, return_contents=return_contents, show_time=show_time,
                        show_user=show_user, colour=color, max_count=max_count, abbrev=abbrev)

    def summary(self, branch: Optional[str] = None, commit: Optional[str] = None,
                return_contents: bool = False) -> Optional[dict]:
        """Print the tutorial's summary of a commit (default: head of the write branch)."""
        ctx = self.ctx
        if commit:
            oid: Optional[Oid] = ctx.resolve(commit)
        elif branch:
            oid = ctx.resolve(branch)
        else:
            oid = ctx.git.get_ref(branch_ref(ctx.default_branch))
        if oid is None:
            print("No commits made")
            return {} if return_contents else None
        from . import summary as _summary
        contents = _summary.contents(ctx, oid)
        if return_contents:
            return contents
        print(_summary.report(contents))
        return None

    # -- maintenance -----------------------------------------------------------------
    def fsck(self, quick: bool = False, *, remote: Optional[str] = None) -> "FsckReport":
        """Check records, data presence and stored bytes; ``report.ok`` tells the outcome.

        With ``remote``: check instead that the remote holds the data of every sample its
        branches' histories reference (their records are fetched first).
        """
        from .fsck import fsck, fsck_remote
        if remote is not None:
            with self.remote.open(remote) as link:
                return fsck_remote(self.ctx, remote, link)
        self.ctx.store.flush()
        return fsck(self.ctx, quick=quick)

    def gc(self, grace_seconds: float = DEFAULT_GRACE_SECONDS, *, forget: Sequence[str] = ()) -> GcResult:
        """Free stored data that no commit of any repository using the store references
        (objects younger than the grace period stay).

        Raises SharedStoreError when a repository registered in the store cannot be
        seen; ``forget`` (paths, as the error names them) unregisters such
        repositories first, for those gone for good.
        """
        from .gc import gc
        return gc(self.ctx, grace_seconds, forget)

    def drop(self, remote: str, branch: Optional[str] = None, commit: Optional[str] = None, *,
             column_names: Optional[list[str]] = None):  # type: ignore[no-untyped-def]
        """Free local data of a branch/commit that ``remote`` is confirmed to hold."""
        head = self.ctx.resolve(commit or branch or self.ctx.default_branch)
        from .gc import drop
        with self.remote.open(remote) as link:
            return drop(self.ctx, link.missing, [head], column_names)

    # -- remotes ---------------------------------------------------------------------
    @property
    def remote(self) -> "Remotes":
        """Remotes of this repository: add/remove/list, push, fetch, fetch_data."""
        if self._remotes is None:
            from .remotes import Remotes
            self._remotes = Remotes(self)
        return self._remotes

    def clone(self, user_name: str, user_email: str, remote_address: str, *,
              remove_old: bool = False, branch: Optional[str] = None, store_uri: Optional[str] = None) -> str:
        """Create this repository from a remote: its default branch's records, no data
        (``store_uri`` as for :meth:`init`)."""
        self.init(user_name, user_email, remove_old=remove_old, store_uri=store_uri)
        if remove_old and any(r.name == "origin" for r in self.remote.list_all()):
            self.remote.remove("origin")  # starting over: a failed clone's origin must not block this one
        from .remotes import clone_into
        return clone_into(self, remote_address, branch)

    def __repr__(self) -> str:
        state = "initialized" if self.initialized else "not initialized"
        return f"Hangar Repository\n    Path        : {self._path}\n    State       : {state}\n"


def _open_context(git: GitRepo) -> RepoContext:
    """The context of an initialised repository, registered in its store.

    A repository opened in a new place (moved, copied) registers there; entries
    that provably no longer use the store (a copy's original) are dropped then.
    """
    ctx = RepoContext(git)
    if ctx.register():
        try:
            sharing.drop_stale(ctx, sharing.store_users(ctx))
        except HangarError:
            pass  # a damaged registry entry: gc reports it
    return ctx


def _remove_hangar_state(git: GitRepo) -> None:
    """Delete this repository's hangar branches, state and data (a shared store's data stays)."""
    if git.config_get(STORE_KEY):
        _remove_store_data(RepoContext(git))
    for name in list(git.list_refs(HANGAR_NS + "/")):
        git.set_ref(f"{HANGAR_NS}/{name}", None)
    state_dir = hangar_dir(git)
    if os.path.isdir(state_dir):
        shutil.rmtree(state_dir)
    for key in (STORE_KEY, BRANCH_KEY, ID_KEY):
        git.config_delete(key)


def _remove_store_data(ctx: RepoContext) -> None:
    """Remove the store, or only this repository's registration if others use it."""
    uri = ctx.store_uri
    if not store_exists(uri):
        return
    users = sharing.store_users(ctx)
    others = [u.entry.label for u in users if u.state in ("user", "unseen")]
    if not others:
        remove_store(uri)
        return
    for user in users:
        if user.state == "self":
            registry.unregister(uri, user.entry)
    warnings.warn(f"the store at {uri} is shared with {len(others)} other repositories "
                  f"({', '.join(others)}): only this repository was unregistered from it, and its data "
                  f"was kept (`git hangar gc` in one of them frees what none of them needs)",
                  UserWarning, stacklevel=4)
