"""gc and drop: free store space no commit needs, or that a remote is confirmed to hold."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from ..bookkeeping.gitrepo import HANGAR_NS, GitRepo, Oid
from ..errors import RemoteDataError, SharedStoreError
from ..storage.identity import Digest
from . import sharing
from .context import RepoContext

DEFAULT_GRACE_SECONDS = 3600.0


def all_referenced(git: GitRepo) -> set[str]:
    """Digests recorded by any commit reachable from any hangar ref (staging included)."""
    from ..bookkeeping.transfer import history_digests  # (with packwriter: 7 ms of every command's start)
    return set(history_digests(git, list(git.list_refs(HANGAR_NS + "/").values())))


@dataclass
class GcResult:
    """What gc removed and kept, and which other repositories sharing the store it kept
    data for (``shared_with``) or found no longer use it (``forgotten``)."""

    removed: int = 0
    removed_bytes: int = 0
    kept: int = 0
    shared_with: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    repacked: int = 0
    """Packs rewritten into one (0: gc rewrote nothing); their files stay for the grace period."""
    pack_files: int = 0
    """The data files of those packs."""
    spared: int = 0
    """Unreferenced objects kept because they are younger than the grace period."""
    freed_bytes: int = 0
    """What the store shrank by on disk: the files removed less those written (negative: it grew)."""
    waiting_bytes: int = 0
    """Bytes of replaced pack files kept for the grace period (a later gc removes them)."""
    waiting_seconds: float = 0.0
    """How long the last of them still waits, for a gc with the same grace period."""


def gc(ctx: RepoContext, grace_seconds: float = DEFAULT_GRACE_SECONDS,
       forget: Sequence[str] = ()) -> GcResult:
    """Remove stored objects that no repository using the store references and that are
    older than the grace period.

    Every repository registered in the store counts; ``forget`` first unregisters
    repositories that are gone for good. Raises SharedStoreError, removing nothing,
    when a registered repository cannot be seen.
    """
    store = ctx.store  # StoreNotFoundError if missing: gc never makes a store
    ctx.register(check=True)
    forgotten = [label for name in forget for label in sharing.forget(ctx, name)]
    users = sharing.store_users(ctx)
    unseen = [u for u in users if u.state == "unseen"]
    if unseen:
        raise SharedStoreError(unseen[0].entry.label, unseen[0].reason)
    live = all_referenced(ctx.git)
    others = [u for u in users if u.state == "user" and u.git is not None]
    for user in others:
        live |= all_referenced(user.git)  # type: ignore[arg-type]
    forgotten += sharing.drop_stale(ctx, users)
    rewrite = store.rewrite(lambda d: d in live, grace_seconds=grace_seconds,  # type: ignore[attr-defined]
                            force=True)
    sharing.forget_presence(ctx, others)  # unreachable trees they knew may have lost their data
    ctx.git.record_cache.prune(ctx.git.has_object)  # entries of shards git has pruned
    ctx.git.key_indexes.prune(ctx.git.has_object)  # key indexes of records trees git has pruned
    # locations of pruned trees, and every one once gc moved objects (stale hints cost speed only)
    ctx.git.locations.prune(lambda tree: not rewrite.removed and ctx.git.has_object(tree))
    return GcResult(rewrite.removed, rewrite.removed_bytes, rewrite.kept, [u.entry.label for u in others],
                    forgotten, rewrite.repacked, rewrite.pack_files, rewrite.spared, rewrite.freed_bytes,
                    rewrite.waiting_bytes, rewrite.waiting_seconds)


def drop(ctx: RepoContext, remote_lacks: Callable[[list[str]], list[str]], commits: Sequence[Oid],
         column_names: Optional[Sequence[str]] = None):  # type: ignore[no-untyped-def]
    """Free local data of ``commits`` (and columns) that the remote holds: ``remote_lacks``
    tells which of some digests it does not (a hangar server or a git remote's data store).

    Objects still needed by the staging area are kept. Dropped samples
    become remote references again; fetch-data brings them back.
    """
    from ..bookkeeping.transfer import referenced_digests
    git = ctx.git
    columns = set(column_names) if column_names else None
    wanted = list(referenced_digests(git, list(commits), (), columns))
    absent_here = set(ctx.store.missing([Digest(x) for x in wanted]))
    local = [d for d in wanted if d not in absent_here]
    confirmed = set(local) - set(remote_lacks(local))
    staged = ctx.staging.ref()
    if staged is not None:
        confirmed -= set(referenced_digests(git, [staged], git.commit_info(staged).parents))
    if not confirmed:
        if local:
            raise RemoteDataError("nothing dropped: the remote does not hold any of this data yet; push it first")
        return ctx.store.rewrite(lambda d: True)  # type: ignore[attr-defined]
    result = ctx.store.rewrite(lambda d: d not in confirmed)  # type: ignore[attr-defined]
    sharing.forget_presence(ctx)
    return result
