"""Everything one open repository shares: git records, data store, settings."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Optional

from ..bookkeeping.gitrepo import GitRepo
from ..core.repostore import HANGAR_DIR, STORE_KEY, configured_store, open_repo_store, register, registration, store_uri
from ..storage import registry

if TYPE_CHECKING:
    from ..storage import ObjectStore

USER_NAME_KEY = "hangar.username"
USER_EMAIL_KEY = "hangar.useremail"
BRANCH_KEY = "hangar.branch"
__all__ = ["BRANCH_KEY", "HANGAR_DIR", "STORE_KEY", "USER_EMAIL_KEY", "USER_NAME_KEY", "RepoContext"]


class RepoContext:
    """An initialised repository: its git records and its data store."""

    def __init__(self, git: GitRepo) -> None:
        self.git = git
        self.hangar_dir = os.path.join(git.git_dir, HANGAR_DIR)
        os.makedirs(self.hangar_dir, exist_ok=True)
        self._store: Optional[ObjectStore] = None
        self.presence = presence_of(git)

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

    def reset_store(self) -> None:
        """Forget cached store state (after another process changed it)."""
        if self._store is not None:
            self._store.close()
        self._store = None

    @property
    def user(self) -> tuple[str, str]:
        return (self.git.config_get(USER_NAME_KEY) or self.git.config_get("user.name") or "hangar",
                self.git.config_get(USER_EMAIL_KEY) or self.git.config_get("user.email") or "hangar@localhost")

    @property
    def default_branch(self) -> str:
        return self.git.config_get(BRANCH_KEY) or "master"

    def path(self, *parts: str) -> str:
        return os.path.join(self.hangar_dir, *parts)


def presence_of(git: GitRepo) -> "PresenceCache":
    """The presence marks of the repository ``git`` (any repository using a store, for gc)."""
    return PresenceCache(os.path.join(git.git_dir, HANGAR_DIR, "present-trees"))


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
            with open(self.path, "a") as fh:
                fh.write(tree + "\n")

    def clear(self) -> None:
        """Forget everything (after local data was removed): trees are checked afresh."""
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        self._known = set()
