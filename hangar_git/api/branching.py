"""The branch methods of ``Repository``: create, rename, remove, list, and the write branch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Protocol

from ..bookkeeping import branches
from ..bookkeeping.gitrepo import GitRepo, Oid, branch_ref
from ..core import revisions, upstream
from ..core.layout import BRANCH_KEY, REMOTES
from ..errors import (AmbiguousBranchError, BranchExistsError, BranchNotFoundError, BranchRemovalError,
                      DirtyStagingError, InvalidNameError)

if TYPE_CHECKING:
    from .context import RepoContext

RENAME_BUSY = "a write checkout is open ({holder}): close it before renaming a branch"


@dataclass(frozen=True, slots=True)
class Switched:
    """What :meth:`BranchMethods.set_write_branch` did: ``branch`` is the write branch now;
    ``created`` if it was made first, tracking ``upstream`` (``'origin/dev'``) if that is set;
    ``already`` if it was the write branch before."""

    branch: str
    created: bool = False
    upstream: Optional[str] = None
    already: bool = False


class _Repository(Protocol):
    @property
    def ctx(self) -> "RepoContext": ...

    def create_branch(self, name: str, base_commit: Optional[str] = None) -> branches.BranchHead: ...


class BranchMethods:
    """Mixed into ``Repository``: its branches."""

    def create_branch(self: _Repository, name: str, base_commit: Optional[str] = None) -> branches.BranchHead:
        """New branch at ``base_commit``, any revision (default: head of the write branch). Made
        from a remote-tracking branch (``'origin/dev'``), it tracks that branch, as in git."""
        git = self.ctx.git
        tracked = None
        if base_commit is None:
            base_commit = git.get_ref(branch_ref(self.ctx.default_branch))
        else:
            branches.check_branch_name(name)
            tracked = upstream.named(git, base_commit)
            base_commit = self.ctx.resolve(base_commit)
        from .remotes import check_branch_not_remote
        check_branch_not_remote(git, name)
        created = branches.create_branch(git, name, base_commit)
        upstream.forget(git, name)  # a stale one, left by a branch of that name deleted by hand
        if tracked is not None:
            upstream.record(git, name, tracked)
        return created

    def remove_branch(self: _Repository, name: str, *, force_delete: bool = False) -> branches.BranchHead:
        """Delete a branch (refused if its commits are on no other branch, unless forced)."""
        removed = branches.remove_branch(self.ctx.git, name, self.ctx.default_branch, force_delete)
        upstream.forget(self.ctx.git, name)
        return removed

    def rename_branch(self: _Repository, old: str, new: str, *, force: bool = False) -> Optional[Oid]:
        """Rename branch ``old`` to ``new``, as `git branch -m`; returns its head (None for the
        write branch before its first commit). Its staged changes, and the write branch if it is
        that one, follow it. An existing ``new`` is refused (BranchExistsError) unless ``force``
        (`git branch -M`), which replaces it; never the write branch, nor one with staged changes."""
        ctx = self.ctx
        git = ctx.git
        current = ctx.default_branch
        head = git.get_ref(branch_ref(old))
        if head is None and old != current:
            raise BranchNotFoundError(old)
        if new == old:
            return head
        branches.check_branch_name(new)
        from .remotes import check_branch_not_remote
        check_branch_not_remote(git, new)
        replaced = git.get_ref(branch_ref(new))
        if replaced is not None and not force:
            raise BranchExistsError(new)
        if replaced is not None and new == current:
            raise BranchRemovalError(f"branch {new!r} is the write branch and cannot be replaced: "
                                     f"`git hangar checkout` another branch first")
        with ctx.writer_lock().acquire(RENAME_BUSY):
            if ctx.staging.of(new).changed:
                raise DirtyStagingError(f"branch {new!r} has uncommitted changes: commit or reset them "
                                        f"before replacing it")
            staged = ctx.staging.of(old)
            if head is not None:
                git.set_ref(branch_ref(new), head, expected=replaced)
            if staged.changed:
                ctx.staging.save(new, staged.base, staged.tree, ctx.user)
            if old == current:
                git.config_set(BRANCH_KEY, new)
            upstream.move(git, old, new)
            if head is not None:
                git.set_ref(branch_ref(old), None, expected=head)
        return head

    def list_branches(self: _Repository, remotes: bool = True) -> list[str]:
        """Branch names, remote-tracking ones as ``origin/master``, sorted (as Hangar sorts);
        before the first commit, the write branch (``['master']`` right after init)."""
        names = branches.list_branches(self.ctx.git, remotes=remotes)
        if not names:
            return [self.ctx.default_branch]
        return sorted(names)

    def branch_head(self: _Repository, name: str) -> Oid:
        return branches.branch_head(self.ctx.git, name)

    def resolve(self: _Repository, revision: str) -> Oid:
        """The commit digest a revision names: ``master``, ``origin/master``, ``master~1``,
        ``dev^2``, ``HEAD`` (the write branch's head), a digest or an abbreviation of one."""
        return self.ctx.resolve(revision)

    def set_write_branch(self: _Repository, name: str, *, create: bool = False,
                         base_commit: Optional[str] = None) -> Switched:
        """Make ``name``, a local branch, the branch write checkouts use (CLI ``checkout``).
        A remote-tracking branch is refused: only fetch moves it; create a local branch from it.
        ``create``: make the branch first (at ``base_commit``, default the write branch's head),
        only once switching is known to be allowed (CLI ``checkout -b``). A ``name`` that is no
        local branch but the branch of exactly one remote (``origin/name``) is made from that
        one, tracking it, as git's checkout does (AmbiguousBranchError if several remotes have
        it). Refused (DirtyStagingError) while the write branch has staged changes: there is
        one staging area, and it stays with its branch."""
        ctx = self.ctx
        if not create and ctx.git.get_ref(branch_ref(name)) is None:
            start = _only_remote_branch(ctx.git, name)
            if start is not None:
                create, base_commit = True, start
        if create:
            _check_can_leave(ctx, name)
            self.create_branch(name, base_commit=base_commit)
            ctx.git.config_set(BRANCH_KEY, name)
            tracked = upstream.of(ctx.git, name)
            return Switched(name, created=True, upstream=tracked.name if tracked else None)
        if ctx.git.get_ref(branch_ref(name)) is None:
            raise _not_a_branch(ctx.git, name)
        if name == ctx.default_branch:
            return Switched(name, already=True)  # nothing to switch, staged changes stay
        _check_can_leave(ctx, name)
        ctx.git.config_set(BRANCH_KEY, name)
        return Switched(name)


def _only_remote_branch(git: GitRepo, name: str) -> Optional[str]:
    """``REMOTE/name`` if exactly one remote has a branch ``name`` (as last fetched), None if
    none has; AmbiguousBranchError if several have."""
    found = sorted(tracking for tracking in git.list_refs(REMOTES) if tracking.partition("/")[2] == name)
    if len(found) > 1:
        raise AmbiguousBranchError(name, found)
    return found[0] if found else None


def _not_a_branch(git: GitRepo, name: str) -> Exception:
    """Why ``name``, which is no local branch, cannot become the write branch."""
    if revisions.is_remote_tracking(git, name):
        local = name.split("/", 1)[1]
        if git.get_ref(branch_ref(local)) is not None:
            how = (f"switch to the local branch with `git hangar checkout {local}` and bring it "
                   f"up to date with `git hangar merge {name}` (or `pull`)")
        else:
            how = (f"create a local branch from it with `git hangar checkout -b {local} {name}` "
                   f"(repo.create_branch({local!r}, {name!r}))")
        return InvalidNameError(
            f"{name!r} is a remote-tracking branch (only fetch moves it), so it cannot be the "
            f"write branch: {how}, or read it with repo.checkout(branch={name!r})")
    if revisions.branch_head(git, revisions.split(name)[0]) is not None or name == revisions.HEAD:
        return InvalidNameError(
            f"{name!r} names a commit, not a branch, so it cannot be the write branch: create a "
            f"branch there with `git hangar checkout -b NAME {name}`, or read it with "
            f"repo.checkout(commit={name!r})")
    return BranchNotFoundError(name)


def _check_can_leave(ctx: "RepoContext", name: str) -> None:
    """Refuse to switch the write branch to ``name`` while a write checkout is open or the
    write branch has staged changes."""
    ctx.writer_lock().check_free("a write checkout is open ({holder}): close it first")
    from .writer import WriterCheckout
    with WriterCheckout(ctx, ctx.default_branch) as writer:
        if writer.has_changes:
            raise DirtyStagingError(
                f"uncommitted changes on {ctx.default_branch!r} (the staging area stays with its branch): "
                f"commit them with `git hangar commit -m MESSAGE` or discard them with `git hangar reset` "
                f"before switching to {name!r}")

