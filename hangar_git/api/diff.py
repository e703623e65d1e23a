"""Diffs between commits, branches and the staging area (bookkeeping only)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..bookkeeping.diff import ColumnDiff, DiffResult, diff_trees
from ..bookkeeping.gitrepo import GitRepo, Oid
from ..core import revisions
from ..core.staging import StagingArea
from ..errors import DirtyStagingError
from .context import RepoContext

if TYPE_CHECKING:
    from .writer import WriterCheckout

__all__ = ["ColumnDiff", "DiffResult", "diff", "resolve", "staged", "status", "check_clean"]


def resolve(git: GitRepo, spec: str) -> Oid:
    """The commit a revision names (see :mod:`hangar_git.core.revisions`)."""
    return revisions.resolve(git, spec)


def _tree(git: GitRepo, commit: Optional[str]) -> Optional[Oid]:
    return git.commit_info(commit).tree if commit else None


def _label(spec: str, oid: Optional[str]) -> str:
    if oid is None:
        return f"{spec} (no commits)"
    return f"a={oid}" if spec.removeprefix("a=") == oid else f"{spec} (a={oid})"


def staged(git: GitRepo, branch: str) -> tuple[Optional[Oid], Optional[Oid], Optional[Oid]]:
    """(base commit, base tree, staged tree) of the staging area of ``branch``.

    The staged tree is the base tree when the staging area holds nothing for
    this branch.
    """
    area = StagingArea(git).of(branch)
    return area.base, area.base_tree, area.tree


def _flush_writer(writer: "Optional[WriterCheckout]", branch: str) -> None:
    if writer is not None and not writer.closed and writer.branch_name == branch:
        writer.flush()


def status(ctx: RepoContext, branch: Optional[str] = None,
           writer: "Optional[WriterCheckout]" = None) -> DiffResult:
    """What the staging area of ``branch`` (default: the write branch) changes on its head."""
    branch = branch or ctx.default_branch
    _flush_writer(writer, branch)
    base, base_tree, tree = staged(ctx.git, branch)
    if base_tree == tree:
        return DiffResult(source=_label(branch, base), target="staging area")
    return diff_trees(ctx.git, base_tree, tree, source=_label(branch, base), target="staging area")


def check_clean(ctx: RepoContext, branch: str, writer: "Optional[WriterCheckout]" = None) -> None:
    """Raise DirtyStagingError if ``branch`` has uncommitted changes (open writer or staging area)."""
    dirty = (writer is not None and not writer.closed and writer.branch_name == branch
             and writer.has_changes)
    if not dirty:
        _, base_tree, tree = staged(ctx.git, branch)
        dirty = base_tree != tree and diff_trees(ctx.git, base_tree, tree).has_changes
    if dirty:
        raise DirtyStagingError(
            f"branch {branch!r} has uncommitted changes in the staging area: commit them "
            f"(co.commit / `git hangar commit`) or reset them (co.reset_staging_area()) first")


def _range(ctx: RepoContext, spec: str) -> DiffResult:
    """git's ranges: ``A..B`` is from A to B, ``A...B`` from the merge base of A and B to B
    (an empty side is the write branch)."""
    dots = "..." if "..." in spec else ".."
    left, _, right = spec.partition(dots)
    left, right = left or ctx.default_branch, right or ctx.default_branch
    if dots == "..":
        return diff(ctx, left, right)
    git = ctx.git
    head, other = resolve(git, right), resolve(git, left)
    base = git.merge_base(head, other)
    source = f"merge base of {left} and {right} (a={base})" if base else "empty (no common history)"
    return diff_trees(git, _tree(git, base), _tree(git, head), source=source, target=_label(right, head))


def diff(ctx: RepoContext, a: Optional[str] = None, b: Optional[str] = None, *,
         branch: Optional[str] = None, onto: Optional[str] = None,
         writer: "Optional[WriterCheckout]" = None) -> DiffResult:
    """See :meth:`hangar_git.api.repository.Repository.diff`."""
    git = ctx.git
    if branch is not None:
        if a is not None or b is not None:
            raise TypeError("diff takes either commits/branches a, b or branch=, not both")
        onto = onto or ctx.default_branch
        head, other = resolve(git, branch), resolve(git, onto)
        base = git.merge_base(head, other)
        source = f"merge base of {branch} and {onto} (a={base})" if base else "empty (no common history)"
        return diff_trees(git, _tree(git, base), _tree(git, head), source=source, target=_label(branch, head))
    if a is None and b is None:
        return status(ctx, writer=writer)
    write_branch = ctx.default_branch
    if b is None and a is not None and ".." in a:
        return _range(ctx, a)
    specs = [s if s is not None else write_branch for s in (a, b)]
    oids: list[Optional[Oid]] = []
    for spec in specs:
        oids.append(revisions.resolve_or_none(git, spec))  # None: no commits yet on the write branch
    return diff_trees(git, _tree(git, oids[0]), _tree(git, oids[1]),
                      source=_label(specs[0], oids[0]), target=_label(specs[1], oids[1]))
