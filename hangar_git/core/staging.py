"""The staging area: the one home of its on-disk format, reading it, writing it, and
committing it by compare-and-swap.

Format (permanent: repositories keep it across versions): the ref ``refs/hangar/staging``
points at a commit whose tree is the staged root tree, whose one parent is the head of the
branch it was staged on (none before that branch's first commit), and whose message is
``STAGING_MESSAGE`` (defined beside ``STAGING`` in the bookkeeping) naming that branch. There is one staging area per repository; it belongs to
the branch its message names. A branch whose staging area is absent (or belongs to another
branch) has its head's tree staged, i.e. no changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..bookkeeping.gitrepo import CommitInfo, GitRepo, Oid, RefChangedError, branch_ref
from ..bookkeeping.merge import Conflict, merge_trees
from ..bookkeeping.refnames import STAGING, STAGING_MESSAGE
from ..errors import DirtyStagingError, MergeConflictError, RefMovedError
from ..faults import checkpoint


@dataclass(frozen=True, slots=True)
class Staged:
    """The staging area of one branch: the commit it is based on (None before the branch's
    first commit), that commit's tree and the staged tree (equal when nothing is staged)."""

    base: Optional[Oid]
    base_tree: Optional[Oid]
    tree: Optional[Oid]

    @property
    def changed(self) -> bool:
        return self.base_tree != self.tree


def message(branch: str) -> str:
    return STAGING_MESSAGE.format(branch=branch)


def _tree(git: GitRepo, commit: Optional[str]) -> Optional[Oid]:
    return git.commit_info(commit).tree if commit else None


class StagingArea:
    """The staging area of one repository."""

    def __init__(self, git: GitRepo) -> None:
        self.git = git

    def ref(self) -> Optional[Oid]:
        """The staging commit (None when nothing is staged): what :meth:`restore` takes back."""
        return self.git.get_ref(STAGING)

    def _info(self) -> Optional[CommitInfo]:
        ref = self.ref()
        return self.git.commit_info(ref) if ref is not None else None

    def of(self, branch: str) -> Staged:
        """What is staged on ``branch`` (read only: nothing is checked or dropped)."""
        info = self._info()
        if info is not None and info.message == message(branch):
            parent = info.parents[0] if info.parents else None
            return Staged(parent, _tree(self.git, parent), info.tree)
        head = self.git.get_ref(branch_ref(branch))
        tree = _tree(self.git, head)
        return Staged(head, tree, tree)

    def open(self, branch: str) -> Staged:
        """The staging area a writer of ``branch`` starts from. One staged on another branch
        is dropped when it holds no changes and refused (DirtyStagingError) when it does. One
        staged on this branch before it moved (a push into this repository, a plain `git push`
        or `git update-ref` of its ref) is merged onto the new head, 3-way (as `git stash pop`
        would); where its changes conflict with the new commits, DirtyStagingError says how
        to discard them (:meth:`drop`)."""
        git = self.git
        head = git.get_ref(branch_ref(branch))
        head_tree = _tree(git, head)
        info = self._info()
        if info is None:
            return Staged(head, head_tree, head_tree)
        same_branch = info.message == message(branch)
        same_base = (info.parents[:1] == [head]) if head else not info.parents
        if same_branch and same_base:
            return Staged(head, head_tree, info.tree)
        if self._is_clean(info) or (same_branch and info.tree == head_tree):
            git.set_ref(STAGING, None)  # nothing staged, or nothing the new head lacks
            return Staged(head, head_tree, head_tree)
        if not same_branch:
            raise DirtyStagingError(
                f"the staging area holds uncommitted changes made on another base "
                f"({info.message.splitlines()[-1]}): check out that branch and commit or "
                f"reset them first")
        tree = self._onto(branch, info, head, head_tree)
        if tree == head_tree:  # the new commits made the same changes
            git.set_ref(STAGING, None)
        return Staged(head, head_tree, tree)

    def _onto(self, branch: str, info: CommitInfo, head: Optional[Oid], head_tree: Optional[Oid]) -> Optional[Oid]:
        """The staged tree of ``info`` (staged on an earlier head of ``branch``) merged onto ``head``."""
        base = info.parents[0] if info.parents else None
        try:
            root, _ = merge_trees(self.git, _tree(self.git, base), head_tree, info.tree)
        except MergeConflictError as exc:
            first = exc.conflicts[0]
            example = first.describe(f"{branch} now", "the staging area") if isinstance(first, Conflict) else first
            raise DirtyStagingError(
                f"the staged changes of {branch!r} conflict with the commits that moved it since they were "
                f"staged ({len(exc.conflicts)} conflict(s), e.g. {example}): discard them with "
                f"`git hangar reset` (in Python: repo.reset_staging_area()), then redo them") from None
        return root

    def _is_clean(self, info: CommitInfo) -> bool:
        if not info.parents:
            return not self.git.tree_entries(info.tree).get("columns")
        return self.git.commit_info(info.parents[0]).tree == info.tree

    def save(self, branch: str, base: Optional[Oid], tree: Optional[Oid], user: tuple[str, str]) -> Oid:
        """Record ``tree`` as the staging area of ``branch`` based on ``base``."""
        staged = self.git.create_commit(tree, [base] if base else [], message(branch), *user)
        checkpoint("staging.before_ref")
        self.git.set_ref(STAGING, staged)
        return staged

    def commit(self, branch: str, base: Optional[Oid], tree: Optional[Oid], text: str,
               user: tuple[str, str]) -> Oid:
        """Make ``tree`` a commit on ``branch`` if the branch is still at ``base``
        (compare-and-swap: RefMovedError, nothing committed, if it moved), then empty the
        staging area; returns the commit."""
        git = self.git
        commit = git.create_commit(tree, [base] if base else [], text, *user)
        checkpoint("commit.before_branch_ref")
        try:
            git.set_ref(branch_ref(branch), commit, expected=base)
        except RefChangedError:
            raise RefMovedError(
                f"branch {branch!r} moved while this checkout was open; nothing was committed, "
                f"and its staged changes are kept: close this checkout and open a new one to "
                f"commit them onto the new head") from None
        checkpoint("commit.before_staging_drop")
        self.drop()
        return commit

    def drop(self) -> None:
        """Empty the staging area (every staged change is discarded)."""
        self.git.set_ref(STAGING, None)

    def restore(self, ref: Optional[Oid]) -> None:
        """Put back the staging area :meth:`ref` returned earlier."""
        self.git.set_ref(STAGING, ref)

    def drop_if_clean(self, branch: str) -> None:
        """Drop a staging area of ``branch`` that holds no changes (stale once the branch
        moved, as by a merge); one that changed meanwhile is left alone."""
        ref = self.ref()
        if ref is None:
            return
        info = self.git.commit_info(ref)
        if info.message != message(branch) or not info.parents:
            return
        if self.git.commit_info(info.parents[0]).tree == info.tree:
            try:
                self.git.set_ref(STAGING, None, expected=ref)
            except RefChangedError:
                pass
