"""Merging one branch into another: fast-forward or 3-way, from bookkeeping only.

The merge holds the writer lock while it runs, so no write checkout can
commit to the branch meanwhile, and moves the branch ref by
compare-and-swap. Sample data is never read (a partial clone holding none
of the dev branch's data can merge it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

from ..bookkeeping import branches
from ..bookkeeping.gitrepo import STAGING, STAGING_MESSAGE, GitRepo, Oid, RefChangedError, branch_ref
from ..bookkeeping.merge import merge_trees
from ..errors import BranchNotFoundError, RefMovedError, WriterLockError
from ..locks import HeldLock
from .context import RepoContext
from .diff import check_clean

if TYPE_CHECKING:
    from .writer import WriterCheckout

FAST_FORWARD = "Selected Fast-Forward Merge Strategy"
THREE_WAY = "Selected 3-Way Merge Strategy"


def merge(ctx: RepoContext, message: str, master_branch: str, dev_branch: str,
          writer: "Optional[WriterCheckout]" = None, echo: Callable[[str], None] = print) -> Oid:
    """Merge ``dev_branch`` into ``master_branch``; returns the new head of master."""
    git = ctx.git
    master_head = git.get_ref(branch_ref(master_branch))
    if master_head is None:
        raise BranchNotFoundError(master_branch)
    dev_head = branches.branch_head(git, dev_branch)
    lock = HeldLock(ctx.path("writer.lock"))
    holder = lock.try_acquire()
    if holder is not None:
        check_clean(ctx, master_branch, writer)
        raise WriterLockError(
            f"a write checkout is open ({HeldLock.describe(holder)}): close it before merging into "
            f"{master_branch!r}", holder=HeldLock.describe(holder))
    try:
        check_clean(ctx, master_branch)
        return _merge_locked(ctx, message, master_branch, dev_branch, master_head, dev_head, echo)
    finally:
        lock.release()


def merge_held(ctx: RepoContext, message: str, master_branch: str, dev_branch: str,
               echo: Callable[[str], None] = print) -> Oid:
    """:func:`merge` for the holder of the writer lock (a write checkout of ``master_branch``
    with a clean staging area)."""
    master_head = ctx.git.get_ref(branch_ref(master_branch))
    if master_head is None:
        raise BranchNotFoundError(master_branch)
    dev_head = branches.branch_head(ctx.git, dev_branch)
    return _merge_locked(ctx, message, master_branch, dev_branch, master_head, dev_head, echo)


def _merge_locked(ctx: RepoContext, message: str, master_branch: str, dev_branch: str,
                  master_head: Oid, dev_head: Oid, echo: Callable[[str], None]) -> Oid:
    git = ctx.git
    if git.is_ancestor(dev_head, master_head):
        echo(f"Nothing to merge: {dev_branch!r} is already contained in {master_branch!r}")
        return master_head
    if git.is_ancestor(master_head, dev_head):
        echo(FAST_FORWARD)
        _move(git, master_branch, dev_head, master_head)
        return dev_head
    echo(THREE_WAY)
    base = git.merge_base(master_head, dev_head)
    trees = [git.commit_info(c).tree if c else None for c in (base, master_head, dev_head)]
    root, combined = merge_trees(git, *trees)
    text = message.strip() if isinstance(message, str) and message.strip() else (
        f"Merge branch '{dev_branch}' into '{master_branch}'")
    commit = git.create_commit(root, [master_head, dev_head], text + "\n", *ctx.user)
    _move(git, master_branch, commit, master_head)
    for merged, master_tree, dev_tree in combined.values():
        if ctx.presence.is_complete(master_tree) and ctx.presence.is_complete(dev_tree):
            ctx.presence.mark_complete(merged)
    return commit


def _move(git: GitRepo, branch: str, new: Oid, expected: Oid) -> None:
    try:
        git.set_ref(branch_ref(branch), new, expected=expected)
    except RefChangedError:
        raise RefMovedError(f"branch {branch!r} moved while merging; nothing was merged: "
                          f"run the merge again") from None
    _drop_clean_staging(git, branch)


def _drop_clean_staging(git: GitRepo, branch: str) -> None:
    """A staging area of ``branch`` with no changes is stale once the branch moves."""
    ref = git.get_ref(STAGING)
    if ref is None:
        return
    info = git.commit_info(ref)
    if info.message != STAGING_MESSAGE.format(branch=branch) or not info.parents:
        return
    if git.commit_info(info.parents[0]).tree == info.tree:
        try:
            git.set_ref(STAGING, None, expected=ref)
        except RefChangedError:
            pass
