"""Everything one open repository shares: git records, data store, settings."""
from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Optional

from ..bookkeeping.gitrepo import GitRepo, Oid
from ..core import layout, revisions
from ..core.layout import REMOTE_PREFIX, author_identity
from ..core.repostore import configured_store, open_repo_store, register, registration, store_uri
from ..core.staging import StagingArea
from ..core.writerlock import WriterLock
from ..storage import registry

if TYPE_CHECKING:
    from ..storage import ObjectStore

__all__ = ["RepoContext"]


class RepoContext:
    """An initialised repository: its git records and its data store."""

    def __init__(self, git: GitRepo) -> None:
        self.git = git
        self.hangar_dir = layout.hangar_dir(git)
        os.makedirs(self.hangar_dir, exist_ok=True)
        self._store: Optional[ObjectStore] = None
        self.presence = presence_of(git)
        self.staging = StagingArea(git)
        """The staging area (see :mod:`hangar_git.core.staging`)."""

    @property
    def store_setting(self) -> str:
        """``hangar.store`` as saved: a URI, an absolute path or a path relative to the git dir."""
        return configured_store(self.git)

    @property
    def store_uri(self) -> str:
        """Where the store is (relative settings resolved against the git common dir)."""
        return store_uri(self.git)

    @property
    def store(self) -> ObjectStore:
        """The data store (never created here: StoreNotFoundError if it is missing)."""
        if self._store is None:
            self._store = open_repo_store(self.git, register_here=False)
        return self._store

    def registration(self) -> registry.RepoEntry:
        """This repository's entry in its store's registry."""
        return registration(self.git)

    def register(self, check: bool = False) -> bool:
        """Record in the store that this repository uses it (once per place and store;
        ``check`` also makes sure the entry is still there); True if it wrote the entry."""
        return register(self.git, self.store_uri, check=check)

    def with_store(self, store: "ObjectStore") -> "RepoContext":
        """This repository with ``store`` in place of its own (e.g. a read-through store)."""
        view = copy.copy(self)
        view._store = store
        return view

    def reset_store(self) -> None:
        """Forget cached store state (after another process changed it)."""
        if self._store is not None:
            self._store.close()
        self._store = None

    @property
    def user(self) -> tuple[str, str]:
        """(name, email) of the author of a commit made now (see :func:`author_identity`)."""
        name, email = author_identity(self.git)
        return name or "hangar", email or "hangar@localhost"

    @property
    def default_branch(self) -> str:
        return layout.default_branch(self.git)

    def writer_lock(self) -> WriterLock:
        """The repository's writer lock (not taken: see :class:`~hangar_git.core.writerlock.WriterLock`)."""
        return WriterLock(self.git)

    def resolve(self, spec: str) -> Oid:
        """The commit a revision names (see :mod:`hangar_git.core.revisions`)."""
        return revisions.resolve(self.git, spec)

    def remote_names(self) -> list[str]:
        """Remotes data can be fetched from: hangar remotes, then git remotes (a `git clone`'s origin)."""
        names = [k[len(REMOTE_PREFIX):-len(".url")] for k in self.git.config_items(REMOTE_PREFIX)
                 if k.endswith(".url")]
        return names + [k[len("remote."):-len(".url")] for k in self.git.config_items("remote.")
                        if k.endswith(".url") and k[len("remote."):-len(".url")] not in names]

    def path(self, *parts: str) -> str:
        return layout.hangar_path(self.git, *parts)


def presence_of(git: GitRepo) -> "PresenceCache":
    """The presence marks of the repository ``git`` (any repository using a store, for gc)."""
    return PresenceCache(layout.hangar_path(git, layout.PRESENCE_FILE))


class PresenceCache:
    """Column tree ids whose every sample is known to be in the local store.

    Lets a checkout report remote references without scanning a million
    records each time it opens.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._known: Optional[set[str]] = None

    def _load(self) -> set[str]:
        if self._known is None:
            try:
                with open(self.path) as fh:
                    self._known = {line.strip() for line in fh if line.strip()}
            except FileNotFoundError:
                self._known = set()
        return self._known

    def is_complete(self, tree: str) -> bool:
        return tree in self._load()

    def mark_complete(self, tree: str) -> None:
        known = self._load()
        if tree not in known:
            known.add(tree)
            try:
                with open(self.path, "a") as fh:
                    fh.write(tree + "\n")
            except OSError:  # a read-only repository or a full disk: the mark only saves a scan
                pass

    def clear(self) -> None:
        """Forget everything (after local data was removed): trees are checked afresh."""
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        self._known = set()
