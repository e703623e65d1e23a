"""Upstreams: the remote-tracking branch a local branch tracks, as git's ``branch.NAME.remote``
and ``branch.NAME.merge`` record it (here ``hangar-branch.NAME.*``, see :mod:`.layout`).

A branch made from a remote-tracking branch (`checkout -b dev origin/dev`, `checkout dev` when
only origin has dev, `branch dev origin/dev`) tracks it: `status` compares the branch with it
and `pull` merges it. Renaming the branch moves its upstream; deleting the branch or removing
the remote forgets it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..bookkeeping.gitrepo import GitRepo
from .layout import UPSTREAM_PREFIX, upstream_key
from .revisions import is_remote_tracking


@dataclass(frozen=True, slots=True)
class Upstream:
    """Branch ``branch`` of remote ``remote``: the remote-tracking branch ``remote/branch``."""

    remote: str
    branch: str

    @property
    def name(self) -> str:
        return f"{self.remote}/{self.branch}"


def of(git: GitRepo, branch: str) -> Optional[Upstream]:
    """The upstream ``branch`` tracks, or None."""
    remote = git.config_get(upstream_key(branch, "remote"))
    merge = git.config_get(upstream_key(branch, "merge"))
    return Upstream(remote, merge) if remote and merge else None


def named(git: GitRepo, revision: str) -> Optional[Upstream]:
    """The remote-tracking branch ``revision`` names exactly (``origin/dev``, not ``origin/dev~1``
    nor a local branch), or None."""
    if not is_remote_tracking(git, revision):
        return None
    remote, _, branch = revision.partition("/")
    return Upstream(remote, branch)


def record(git: GitRepo, branch: str, upstream: Upstream) -> None:
    git.config_set(upstream_key(branch, "remote"), upstream.remote)
    git.config_set(upstream_key(branch, "merge"), upstream.branch)


def forget(git: GitRepo, branch: str) -> None:
    for field in ("remote", "merge"):
        git.config_delete(upstream_key(branch, field))


def move(git: GitRepo, old: str, new: str) -> None:
    """Branch ``old`` was renamed ``new``: its upstream (if any) is ``new``'s now."""
    tracked = of(git, old)
    forget(git, new)
    if tracked is not None:
        record(git, new, tracked)
        forget(git, old)


def forget_remote(git: GitRepo, remote: str) -> None:
    """Remote ``remote`` is gone: no branch tracks it any more."""
    suffix = ".remote"
    for key, value in git.config_items(UPSTREAM_PREFIX).items():
        if key.endswith(suffix) and value == remote:
            forget(git, key[len(UPSTREAM_PREFIX):-len(suffix)])


def rename_remote(git: GitRepo, old: str, new: str) -> None:
    """Remote ``old`` is called ``new`` now: the branches that tracked it track ``new``."""
    suffix = ".remote"
    for key, value in git.config_items(UPSTREAM_PREFIX).items():
        if key.endswith(suffix) and value == old:
            git.config_set(key, new)
