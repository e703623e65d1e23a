"""Files derived from git objects, one per object id, in one local folder.

The record cache and the key indexes keep such files under ``<git dir>/hangar``:
each is written atomically, may be missing or removed at any time (readers fall
back on git), and is pruned once git no longer has the object it derives from.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

from ..fileio import write_atomic


class DerivedFiles:
    """A folder of files named by the git object id they derive from."""

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def write(self, name: str, *parts: Any) -> bool:
        """Write ``name`` atomically (its bytes, or buffers one after the other; making the
        folder on first use); False when it cannot be written (a read-only repository, a
        full disk): a missing file only costs speed."""
        path = self.path(name)
        try:
            try:
                write_atomic(path, *parts)
            except FileNotFoundError:  # the first entry: make the folder
                os.makedirs(self.root, exist_ok=True)
                write_atomic(path, *parts)
        except OSError:
            return False
        return True

    def in_use(self) -> bool:
        """Whether the folder exists (no entry was ever written when it does not: a server's
        record cache, say), so a caller can skip asking for each entry."""
        return os.path.isdir(self.root)

    def names(self) -> list[str]:
        """Every entry's name (temporary files excluded)."""
        return [name for name in self._listing() if not name.startswith(".")]

    def remove(self, name: str) -> int:
        """Remove an entry; 1 if it was removed, 0 if it was not there (or could not be)."""
        try:
            os.unlink(self.path(name))
            return 1
        except OSError:
            return 0

    def prune(self, keep: Callable[[str], bool], tmp_age: float = 3600.0) -> int:
        """Remove entries ``keep`` rejects, and temporary files older than ``tmp_age`` seconds
        (left by a killed writer); returns how many were removed."""
        removed, cutoff = 0, time.time() - tmp_age
        for name in self._listing():
            if name.startswith("."):
                try:
                    if os.stat(self.path(name)).st_mtime < cutoff:
                        removed += self.remove(name)
                except OSError:
                    pass
            elif not keep(name):
                removed += self.remove(name)
        return removed

    def _listing(self) -> list[str]:
        try:
            return os.listdir(self.root)
        except OSError:
            return []
