"""Finding a hangar repository, as git finds its repository: from the work tree's top, any
subdirectory of it, a linked worktree, or the git dir itself (bare repositories too)."""
from __future__ import annotations

import os
from typing import Optional

from ..bookkeeping.gitrepo import GitRepo
from ..errors import NotInitializedError
from .layout import STORE_KEY


def is_initialized(git: GitRepo) -> bool:
    """True when ``git`` holds a hangar repository (``hangar.store`` is set)."""
    return bool(git.config_get(STORE_KEY))


def find_git(start: str) -> Optional[GitRepo]:
    """The git repository containing ``start`` (itself or its nearest parent), or None."""
    return GitRepo.find(os.path.abspath(os.fspath(start)))


def find(start: str) -> Optional[GitRepo]:
    """The hangar repository containing ``start``, or None (no git repository there, or one
    without hangar)."""
    git = find_git(start)
    return git if git is not None and is_initialized(git) else None


def at(path: str) -> Optional[GitRepo]:
    """The hangar repository at exactly ``path`` (a work tree's top or a git dir: what a
    server or a pickled checkout names), or None."""
    git = GitRepo.discover(path)
    return git if git is not None and is_initialized(git) else None


def require(start: str) -> GitRepo:
    """:func:`find`, or NotInitializedError naming the git repository's top (or ``start``)."""
    git = find_git(start)
    if git is None or not is_initialized(git):
        raise NotInitializedError(git.root if git is not None else os.path.abspath(start))
    return git
