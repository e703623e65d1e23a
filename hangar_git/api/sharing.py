"""Repositories sharing one data store, as its registry records them.

For ``gc`` every registered repository is one of:

* ``self``: this repository;
* ``user``: another repository gc can open, that uses this store: what it
  references is kept;
* ``stale``: an entry that certainly no longer stands for a user of this
  store, so it is dropped: a repository that now uses another store (the
  original of a ``cp -a`` copy, seen from the copy's store), or this very
  directory before a move (same id and device/inode, another path), or an
  older repository at this repository's place;
* ``unseen``: gc cannot tell what it needs (missing path, another host, now
  another repository or no hangar repository): gc refuses until it is
  seen again or forgotten (``git hangar gc --forget LABEL``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from ..bookkeeping.gitrepo import GitRepo
from ..core.layout import ID_KEY, STORE_KEY
from ..errors import RegistrationNotFoundError, StoreInUseError
from ..storage import registry, resolve_store, same_store
from ..storage.registry import RepoEntry
from .context import RepoContext, presence_of


@dataclass(frozen=True)
class StoreUser:
    """One registry entry and what gc makes of it."""

    entry: RepoEntry
    state: str               # self | user | stale | unseen
    reason: str = ""
    git: Optional[GitRepo] = None


def store_users(ctx: RepoContext) -> list[StoreUser]:
    """Every repository registered in ``ctx``'s store, classified for gc."""
    me = ctx.registration()
    users = [_classify(ctx.store_uri, me, entry) for entry in registry.entries(ctx.store_uri)]
    live = [me] + [u.entry for u in users if u.state == "user"]
    return [StoreUser(u.entry, "stale", "moved") if u.state == "unseen" and _moved(u.entry, live) else u
            for u in users]


def _moved(entry: RepoEntry, live: list[RepoEntry]) -> bool:
    """The entry's directory is now a live user's, at another path: it was moved there."""
    return any(entry.id == other.id and entry.same_directory(other) and not entry.same_place(other)
               for other in live)


def _classify(uri: str, me: RepoEntry, entry: RepoEntry) -> StoreUser:
    if entry.same_place(me):
        return StoreUser(entry, "self" if entry.id == me.id else "stale", "replaced by this repository")
    if not entry.local:
        return StoreUser(entry, "unseen", f"registered on host {entry.host}")
    git = GitRepo.discover(entry.git_dir)
    if git is None:
        return StoreUser(entry, "unseen", "missing: not a git repository at that path")
    if git.config_get(ID_KEY) != entry.id:
        return StoreUser(entry, "unseen", "that path is now another repository")
    setting = git.config_get(STORE_KEY)
    if not setting:
        return StoreUser(entry, "unseen", "no longer a hangar repository")
    if not same_store(resolve_store(setting, git.git_dir), uri):
        return StoreUser(entry, "stale", "uses another store")
    return StoreUser(entry, "user", git=git)


def drop_stale(ctx: RepoContext, users: list[StoreUser]) -> list[str]:
    """Unregister the stale entries; their labels."""
    stale = [u for u in users if u.state == "stale"]
    for u in stale:
        registry.unregister(ctx.store_uri, u.entry)
    return [u.entry.label for u in stale]


def forget(ctx: RepoContext, label: str) -> list[str]:
    """Unregister the repository called ``label`` (a path, or ``host:path``) from the store.

    Refused for a repository gc can see using the store (it still needs its data).
    """
    users = store_users(ctx)
    matched = [u for u in users if _matches(u.entry, label)]
    if not matched:
        known = ", ".join(u.entry.label for u in users if u.state != "self") or "none"
        raise RegistrationNotFoundError(f"no repository {label!r} is registered in the store at {ctx.store_uri} "
                            f"(other registered repositories: {known})")
    for u in matched:
        if u.state in ("self", "user"):
            raise StoreInUseError(f"{u.entry.label} still uses the store at {ctx.store_uri}: it cannot be "
                                  f"forgotten (run `git hangar init --remove-old` there to stop using it)")
    for u in matched:
        registry.unregister(ctx.store_uri, u.entry)
    return [u.entry.label for u in matched]


def _matches(entry: RepoEntry, label: str) -> bool:
    if label in (entry.label, f"{entry.host}:{entry.path}", f"{entry.host}:{entry.git_dir}"):
        return True
    path = os.path.normpath(os.path.abspath(os.path.expanduser(label)))
    return entry.local and path in (entry.path, entry.git_dir)


def forget_presence(ctx: RepoContext, users: Optional[list[StoreUser]] = None) -> None:
    """Make this repository and the other users of its store (``users``, default: looked up)
    forget which column trees they knew complete: data they counted on may have just left
    the store (gc, drop, damage fsck found)."""
    ctx.presence.clear()
    for user in store_users(ctx) if users is None else users:
        if user.state == "user" and user.git is not None:
            presence_of(user.git).clear()
