"""Streaming checkouts: read a commit whose data is on a remote, without fetching it first.

``repo.checkout(branch=..., stream_from='origin')`` gives a read checkout whose store is a
:class:`~.streamstore.StreamingStore`: samples not on this machine are read from the
remote (one connection, opened on first need and kept; batched requests; read ahead),
verified, and held in a bounded cache instead of the store. With ``keep=True`` they are
also written to the store, in large flushes, as ``fetch-data`` would.

A streaming checkout pickles as its names and options; each process that unpickles it
(a DataLoader worker) opens its own connection, lazily.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import shutil
import weakref
from dataclasses import astuple, dataclass, replace
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ..bookkeeping.gitrepo import Oid
from ..errors import InvalidArgumentError
from ..core.layout import STREAM_CACHE, hangar_path
from ..storage.packcache import PackCache
from ..storage.readcache import DEFAULT_CACHE_BYTES, MemoryCache
from ..transport.streamsource import STALL_SECONDS, ObjectSource, SessionObjects, StoreObjects
from .checkout import ReaderCheckout
from .context import RepoContext
from .hints import fetch_data_command, revision_words
from .streamnear import Neighbourhood
from .streamstore import StreamingStore, split_budget

if TYPE_CHECKING:
    from .remotes import Remotes
    from .repository import Repository

DEFAULT_DISK_CACHE_BYTES = 4 << 30
"""The directory cache's budget unless told: 4 GiB, or half the disk's free space if less."""


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What a streaming checkout was opened with (travels in its pickle)."""

    remote: str
    keep: bool = False
    cache_bytes: int = DEFAULT_CACHE_BYTES
    cache_dir: Optional[str] = None
    cache_dir_bytes: Optional[int] = None
    stream_timeout: float = STALL_SECONDS

    def __post_init__(self) -> None:
        if not isinstance(self.remote, str) or not self.remote:
            raise InvalidArgumentError(f"stream_from takes a remote name such as 'origin', not {self.remote!r}")
        if type(self.keep) is not bool:
            raise InvalidArgumentError(f"keep takes True or False, not {self.keep!r}")
        for name in ("cache_bytes", "cache_dir_bytes"):
            value = getattr(self, name)
            if value is None and name == "cache_dir_bytes":
                continue
            if type(value) is not int or value < 0:
                raise InvalidArgumentError(f"{name} takes a number of bytes (an int >= 0), not {value!r}")
        if type(self.stream_timeout) not in (int, float) or not self.stream_timeout > 0:
            raise InvalidArgumentError(f"stream_timeout takes a number of seconds (> 0), not {self.stream_timeout!r}")
        if self.cache_dir is not None and not isinstance(self.cache_dir, (str, os.PathLike)):
            raise InvalidArgumentError(f"cache_dir takes a directory path, not {self.cache_dir!r}")


class _Unmarked:
    """A presence cache seen through a streaming checkout: asked, never told (a column read
    through the remote is not complete on this machine)."""

    def __init__(self, presence: Any) -> None:
        self._presence = presence

    def is_complete(self, tree: str) -> bool:
        return bool(self._presence.is_complete(tree))

    def mark_complete(self, tree: str) -> None:
        pass

    def clear(self) -> None:
        self._presence.clear()


class StreamingCheckout(ReaderCheckout):
    """A read-only checkout whose missing samples come from a remote (see the module doc)."""

    def __init__(self, ctx: RepoContext, commit: Oid, branch: str, options: StreamOptions,
                 source: ObjectSource) -> None:
        disk = None
        if options.cache_dir is not None and options.cache_dir_bytes:
            disk = PackCache(os.fspath(options.cache_dir), options.cache_dir_bytes)
        held, request = split_budget(options.cache_bytes)
        store = StreamingStore(ctx.store, source, MemoryCache(held), disk, keep=options.keep, request_bytes=request)
        view = ctx.with_store(store)
        view.presence = _Unmarked(ctx.presence)  # type: ignore[assignment]
        self.stream_from = options.remote
        self.keep = options.keep
        self._options = options
        super().__init__(view, commit, branch)
        self.neighbourhood = Neighbourhood(self.values)
        """Single reads' neighbours (``.max_bytes = 0`` turns them off)."""
        store.near = self.neighbourhood.around
        self._finalizer = weakref.finalize(self, store.close)
        if multiprocessing.parent_process() is not None:
            # a worker: it connects on first need (its first batch may come through the shared cache);
            multiprocessing.util.Finalize(None, self._finalizer, exitpriority=10)  # atexit does not run there
        elif not options.keep:
            # the remote's answer to the first read is then one round trip away. Not with keep=True:
            # an earlier epoch may have kept every sample here, and a session opened for nothing
            # cost a kept epoch through a 20 ms link 0.4 s; there the first sample found missing
            # (or a DataLoader sampler's lead) connects
            source.connect_ahead()

    @property
    def stream_args(self) -> tuple:
        return astuple(self._options)

    @property
    def stream_store(self) -> StreamingStore:
        """The read-through store (its ``source`` counts requests and bytes received)."""
        return self._store  # type: ignore[return-value]

    def _warn_remote_references(self, revision: Sequence[str]) -> None:
        """Nothing to warn about: every sample is readable through the remote."""

    def __reduce__(self) -> tuple:
        from . import reopen
        self._check_open()
        return reopen.reader, (self._ctx.git.git_dir, self.commit_hash, self.branch_name, *self.stream_args)

    def __repr__(self) -> str:
        return (super().__repr__().replace("ReaderCheckout", "StreamingCheckout", 1)
                + f"    Streaming    : from {self.stream_from!r} (keep={self.keep})\n")

    def close(self) -> None:
        """Write what ``keep`` holds, hang up, and close."""
        if not self.closed:
            self._finalizer()
        super().close()


def source_for(remotes: "Remotes", name: str, stall: float = STALL_SECONDS,
               revision: Sequence[str] = ()) -> ObjectSource:
    """The objects of remote ``name``: its hangar server over one lazily opened session, or its
    data store read directly (a git host plus an object store). ``revision``: what the checkout
    shows (a branch, or ``--commit DIGEST``), for the fetch-data an unreachable server suggests."""
    info = remotes.info(name)  # RemoteNotFoundError for an unknown name
    if remotes.is_git_host(info):
        link: Any = None

        def data_store() -> Any:
            nonlocal link
            link = remotes.open(name)
            return link.data_store()

        return StoreObjects(name, data_store, lambda: link.close() if link is not None else None)
    return SessionObjects(name, lambda: remotes.connect(name), stall, fetch_command=fetch_data_command(name, revision))


def with_directory_cache(repo: "Repository", options: StreamOptions) -> StreamOptions:
    """``options`` with the directory cache settled: ``cache_dir`` defaults to the repository's
    ``<git dir>/hangar/streamcache`` (none by default with ``keep=True``: the store keeps the
    data), ``cache_dir_bytes`` to :data:`DEFAULT_DISK_CACHE_BYTES` (0: no directory cache)."""
    if options.cache_dir is None and options.cache_dir_bytes is None and options.keep:
        return replace(options, cache_dir_bytes=0)
    path = os.fspath(options.cache_dir) if options.cache_dir is not None else hangar_path(repo.ctx.git, STREAM_CACHE)
    budget = options.cache_dir_bytes
    if budget is None:
        os.makedirs(path, exist_ok=True)
        budget = min(DEFAULT_DISK_CACHE_BYTES, (shutil.disk_usage(path).free + _folder_bytes(path)) // 2)
    return replace(options, cache_dir=path, cache_dir_bytes=budget)


def _folder_bytes(path: str) -> int:
    with os.scandir(path) as it:
        return sum(e.stat().st_size for e in it if e.is_file())


def open_streaming(repo: "Repository", commit: Oid, branch: str, options: StreamOptions) -> StreamingCheckout:
    options = with_directory_cache(repo, options)
    source = source_for(repo.remote, options.remote, options.stream_timeout, revision_words(branch, commit))
    return StreamingCheckout(repo.ctx, commit, branch, options, source)


def reopen(git_dir: str, commit: str, branch: str, *options: Any) -> StreamingCheckout:
    """The streaming checkout a pickle names, opened in this process."""
    from .repository import Repository
    repo = Repository(git_dir)
    return open_streaming(repo, Oid(commit), branch, StreamOptions(*options))


__all__ = ["DEFAULT_CACHE_BYTES", "StreamOptions", "StreamingCheckout", "open_streaming"]
