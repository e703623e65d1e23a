"""The writer lock: one write checkout (or merge) per repository at a time, across
processes and linked worktrees. The lock file names its holder; a holder whose process is
gone leaves a stale lock, which the next writer takes over (and says so)."""
from __future__ import annotations

import os
import warnings
from typing import Optional

from ..bookkeeping.gitrepo import GitRepo
from ..errors import WriterLockError
from ..locks import HeldLock
from .layout import WRITER_LOCK, hangar_path

BUSY = ("another writer holds this repository ({holder}): close that write checkout first; "
        "if its process is gone the lock is recovered automatically")
"""What :meth:`WriterLock.acquire` says by default when the lock is held."""


class WriterLock:
    """The writer lock of one repository (``<git common dir>/hangar/writer.lock``)."""

    def __init__(self, git: GitRepo) -> None:
        self.path = hangar_path(git, WRITER_LOCK)
        self._lock = HeldLock(self.path)
        self.owned = False

    def holder(self) -> Optional[str]:
        """Who holds the lock ("pid N on HOST since TIME"), or None when nobody does."""
        info = self._lock.holder()
        return HeldLock.describe(info) if info is not None else None

    def stale_holder(self) -> Optional[str]:
        """Who left a stale lock (its process is gone; the next writer recovers it), or None."""
        info = self._lock.stale()
        return HeldLock.describe(info) if info is not None else None

    @property
    def held(self) -> bool:
        return self._lock.holder() is not None

    def check_free(self, busy: str = BUSY) -> None:
        """WriterLockError (``busy`` with ``{holder}`` filled in) when someone holds the lock."""
        holder = self.holder()
        if holder is not None:
            raise WriterLockError(busy.format(holder=holder), holder=holder)

    def acquire(self, busy: str = BUSY) -> "WriterLock":
        """Take the lock, or raise WriterLockError with ``busy`` (``{holder}`` filled in).
        A stale lock is taken over with a warning naming its previous holder."""
        info = self._lock.try_acquire()
        if info is not None:
            holder = HeldLock.describe(info)
            raise WriterLockError(busy.format(holder=holder), holder=holder)
        self.owned = True
        if self._lock.recovered:
            warnings.warn(f"recovered a stale writer lock left by {self._lock.recovered}",
                          UserWarning, stacklevel=4)
        return self

    def release(self) -> None:
        if self.owned:
            self.owned = False
            self._lock.release()

    def force_release(self) -> bool:
        """Remove the lock even if its holder may be alive; True if there was one."""
        try:
            os.remove(self.path)
        except FileNotFoundError:
            return False
        return True

    def __enter__(self) -> "WriterLock":
        return self.acquire() if not self.owned else self

    def __exit__(self, *exc: object) -> None:
        self.release()
