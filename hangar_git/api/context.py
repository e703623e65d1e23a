"""Everything one open repository shares: git records, data store, settings."""
from __future__ import annotations

import os
from typing import Optional

from ..bookkeeping.gitrepo import GitRepo
from ..storage import ObjectStore, open_store

STORE_KEY = "hangar.store"
USER_NAME_KEY = "hangar.username"
USER_EMAIL_KEY = "hangar.useremail"
BRANCH_KEY = "hangar.branch"


class RepoContext:
    """An initialised repository: its git records and its data store."""

    def __init__(self, git: GitRepo) -> None:
        self.git = git
        self.hangar_dir = os.path.join(git.git_dir, "hangar")
        os.makedirs(self.hangar_dir, exist_ok=True)
        self._store: Optional[ObjectStore] = None
        self.presence = PresenceCache(os.path.join(self.hangar_dir, "present-trees"))

    @property
    def store_uri(self) -> str:
        uri = self.git.config_get(STORE_KEY)
        assert uri is not None
        return uri

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = open_store(self.store_uri,
                                     durable=self.git.durable)
        return self._store

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
