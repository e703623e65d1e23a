"""Merging one branch into another: fast-forward or 3-way, from bookkeeping only.

The merge holds the writer lock while it runs, so no write checkout can
commit to the branch meanwhile, and moves the branch ref by
compare-and-swap. Sample data is never read (a partial clone holding none
of the dev branch's data can merge it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from ..bookkeeping.gitrepo import Oid, RefChangedError, branch_ref
from ..bookkeeping.merge import merge_trees
from ..core import revisions
from ..errors import (BranchNotFoundError, InvalidArgumentError, MergeConflictError, RefMovedError,
                      UnrelatedHistoriesError, WriterLockError)
from .context import RepoContext
from .diff import check_clean

if TYPE_CHECKING:
    from .writer import WriterCheckout

FAST_FORWARD = "Selected Fast-Forward Merge Strategy"
THREE_WAY = "Selected 3-Way Merge Strategy"


STRATEGIES = {"ours": "master", "theirs": "dev"}
"""``strategy=`` -> the side whose version a conflicting key (or column) takes."""


def prefer_of(strategy: Optional[str]) -> Optional[str]:
    if strategy is None:
        return None
    if strategy not in STRATEGIES:
        raise InvalidArgumentError(f"unknown merge strategy {strategy!r}: use 'ours' (keep the version of the "
                                   f"branch merged into) or 'theirs' (take the merged branch's)")
    return STRATEGIES[strategy]


def merge(ctx: RepoContext, message: str, master_branch: str, dev_branch: str,
          writer: "Optional[WriterCheckout]" = None, echo: Callable[[str], None] = print,
          strategy: Optional[str] = None, allow_unrelated_histories: bool = False) -> Oid:
    """Merge ``dev_branch`` into ``master_branch``; returns the new head of master.

    ``strategy``: None (conflicts raise MergeConflictError), ``'ours'`` or ``'theirs'``
    (each conflicting key or column takes master's or dev's version). Branches with no
    common commit raise UnrelatedHistoriesError unless ``allow_unrelated_histories``."""
    prefer = prefer_of(strategy)
    git = ctx.git
    master_head = git.get_ref(branch_ref(master_branch))
    if master_head is None:
        raise BranchNotFoundError(master_branch)
    dev_head = revisions.resolve(git, dev_branch)
    lock = ctx.writer_lock()
    try:
        lock.acquire(f"a write checkout is open ({{holder}}): close it before merging into {master_branch!r}")
    except WriterLockError:
        check_clean(ctx, master_branch, writer)
        raise
    try:
        check_clean(ctx, master_branch)
        return _merge_locked(ctx, message, master_branch, dev_branch, master_head, dev_head, echo, prefer,
                             allow_unrelated_histories)
    finally:
        lock.release()


def merge_held(ctx: RepoContext, message: str, master_branch: str, dev_branch: str,
               echo: Callable[[str], None] = print, strategy: Optional[str] = None,
               allow_unrelated_histories: bool = False) -> Oid:
    """:func:`merge` for the holder of the writer lock (a write checkout of ``master_branch``
    with a clean staging area)."""
    master_head = ctx.git.get_ref(branch_ref(master_branch))
    if master_head is None:
        raise BranchNotFoundError(master_branch)
    dev_head = revisions.resolve(ctx.git, dev_branch)
    return _merge_locked(ctx, message, master_branch, dev_branch, master_head, dev_head, echo,
                         prefer_of(strategy), allow_unrelated_histories)


def _merge_locked(ctx: RepoContext, message: str, master_branch: str, dev_branch: str,
                  master_head: Oid, dev_head: Oid, echo: Callable[[str], None],
                  prefer: Optional[str] = None, allow_unrelated: bool = False) -> Oid:
    git = ctx.git
    if git.is_ancestor(dev_head, master_head):
        echo(f"Already up to date: {master_branch!r} contains {dev_branch!r}")
        return master_head
    if git.is_ancestor(master_head, dev_head):
        _move(ctx, master_branch, dev_head, master_head)
        echo(FAST_FORWARD)  # (said once the merge is done: a merge that fails says only why)
        return dev_head
    base = git.merge_base(master_head, dev_head)
    if base is None and not allow_unrelated:
        raise UnrelatedHistoriesError(master_branch, dev_branch)
    trees = [git.commit_info(c).tree if c else None for c in (base, master_head, dev_head)]
    resolved: list = []
    try:
        root, combined = merge_trees(git, trees[0], trees[1], trees[2], prefer=prefer, resolved=resolved)
    except MergeConflictError as exc:  # the same conflicts, told with the branches' names
        raise MergeConflictError(exc.conflicts, sides=(master_branch, dev_branch)) from None
    text = message.strip() if isinstance(message, str) and message.strip() else (
        f"Merge branch '{dev_branch}' into '{master_branch}'")
    commit = git.create_commit(root, [master_head, dev_head], text + "\n", *ctx.user)
    _move(ctx, master_branch, commit, master_head)
    echo(THREE_WAY)
    if resolved:
        echo(f"Resolved {len(resolved)} conflict(s) with the version of "
             f"{(master_branch if prefer == 'master' else dev_branch)!r}")
    for merged, master_tree, dev_tree in combined.values():
        if ctx.presence.is_complete(master_tree) and ctx.presence.is_complete(dev_tree):
            ctx.presence.mark_complete(merged)
    return commit


def _move(ctx: RepoContext, branch: str, new: Oid, expected: Oid) -> None:
    try:
        ctx.git.set_ref(branch_ref(branch), new, expected=expected)
    except RefChangedError:
        raise RefMovedError(f"branch {branch!r} moved while merging; nothing was merged: "
                            f"run the merge again") from None
    ctx.staging.drop_if_clean(branch)  # a staging area with no changes is stale once the branch moves
