"""The Repository: entry point of the Python API."""
from __future__ import annotations

import os
import shutil
import warnings
from typing import Any, Optional

from ..bookkeeping import branches
from ..bookkeeping.gitrepo import GitRepo, Oid
from ..errors import BranchNotFoundError, HangarError, NotInitializedError, WriterLockError
from ..locks import HeldLock
from ..storage import open_store
from .checkout import ReaderCheckout, WriterCheckout
from .context import BRANCH_KEY, STORE_KEY, USER_EMAIL_KEY, USER_NAME_KEY, RepoContext


class Repository:
    """A hangar repository inside a git repository (work tree or bare).

    >>> repo = Repository("data")                       # doctest: +SKIP
    >>> repo.init(user_name="Ann", user_email="ann@example.com")  # doctest: +SKIP
    """

    def __init__(self, path: str = ".", exists: bool = True) -> None:
        self._path = os.path.abspath(os.fspath(path))
        self._ctx: Optional[RepoContext] = None
        git = GitRepo.discover(self._path)
        if git is not None and git.config_get(STORE_KEY):
            self._ctx = RepoContext(git)
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
        """Create the hangar store (and the git repository if needed); returns the path."""
        git = GitRepo.discover(self._path)
        if git is not None and git.config_get(STORE_KEY) and not remove_old:
            raise HangarError(f"{self._path!r} is already a hangar repository: pass remove_old=True "
                              f"to start over (this deletes its hangar data)")
        if git is not None and remove_old:
            _remove_hangar_state(git)
        if git is None:
            os.makedirs(self._path, exist_ok=True)
            git = GitRepo.init(self._path, bare=bare)
        uri = store_uri or os.path.join(git.git_dir, "hangar", "store")
        os.makedirs(os.path.join(git.git_dir, "hangar"), exist_ok=True)
        open_store(uri).close()
        git.config_set(STORE_KEY, uri)
        git.config_set(USER_NAME_KEY, user_name)
        git.config_set(USER_EMAIL_KEY, user_email)
        self._ctx = RepoContext(git)
        return self._path

    # -- checkouts ---------------------------------------------------------------------
    def checkout(self, write: bool = False, *, branch: str = "", commit: str = "") -> Any:
        """A write checkout of a branch, or a read checkout of a branch head or commit."""
        ctx = self.ctx
        if write:
            if commit:
                raise HangarError("a write checkout works on a branch head: pass branch=, not commit=")
            name = branch or ctx.default_branch
            branches.check_branch_name(name)
            if ctx.git.get_ref(f"refs/hangar/heads/{name}") is None and self.list_branches():
                raise BranchNotFoundError(name)
            co = WriterCheckout(ctx, name)
            if name != ctx.default_branch:
                ctx.git.config_set(BRANCH_KEY, name)
            return co
        if commit:
            return ReaderCheckout(ctx, ctx.git.resolve_commit(commit))
        name = branch or ctx.default_branch
        return ReaderCheckout(ctx, branches.branch_head(ctx.git, name), branch=name)

    @property
    def writer_lock_held(self) -> bool:
        return HeldLock(self.ctx.path("writer.lock")).holder() is not None

    def force_release_writer_lock(self) -> bool:
        """Remove the writer lock even if its holder may be alive (use with care)."""
        path = self.ctx.path("writer.lock")
        if os.path.exists(path):
            os.remove(path)
            return True
        return False

    # -- branches ----------------------------------------------------------------------
    def create_branch(self, name: str, base_commit: Optional[str] = None) -> branches.BranchHead:
        """New branch at ``base_commit`` (default: head of the write branch)."""
        git = self.ctx.git
        if base_commit is None:
            base_commit = git.get_ref(f"refs/hangar/heads/{self.ctx.default_branch}")
        return branches.create_branch(git, name, base_commit)

    def remove_branch(self, name: str, *, force_delete: bool = False) -> branches.BranchHead:
        """Delete a branch (refused if its commits are on no other branch, unless forced)."""
        return branches.remove_branch(self.ctx.git, name, self.ctx.default_branch, force_delete)

    def list_branches(self) -> list[str]:
        return branches.list_branches(self.ctx.git)

    def branch_head(self, name: str) -> Oid:
        return branches.branch_head(self.ctx.git, name)

    def set_write_branch(self, name: str) -> None:
        """Make ``name`` the branch write checkouts use (CLI ``checkout``)."""
        ctx = self.ctx
        branches.branch_head(ctx.git, name)
        holder = HeldLock(ctx.path("writer.lock")).holder()
        if holder is not None:
            raise WriterLockError(f"a write checkout is open ({HeldLock.describe(holder)}): close it first",
                                  holder=HeldLock.describe(holder))
        with WriterCheckout(ctx, ctx.default_branch) as co:
            if co.has_changes:
                from ..errors import DirtyStagingError
                raise DirtyStagingError(
                    f"uncommitted changes on {ctx.default_branch!r}: commit or reset them before "
                    f"switching to {name!r}")
        ctx.git.config_set(BRANCH_KEY, name)

    def __repr__(self) -> str:
        state = "initialized" if self.initialized else "not initialized"
        return f"Hangar Repository\n    Path        : {self._path}\n    State       : {state}\n"


def _remove_hangar_state(git: GitRepo) -> None:
    for name in list(git.list_refs("refs/hangar/")):
        git.set_ref("refs/hangar/" + name, None)
    hangar_dir = os.path.join(git.git_dir, "hangar")
    if os.path.isdir(hangar_dir):
        shutil.rmtree(hangar_dir)
    for key in (STORE_KEY, BRANCH_KEY):
        git.config_delete(key)
