"""Advisory file lock used to serialise store flushes between processes."""
from __future__ import annotations

import fcntl
import json
import socket
import time
import os
from contextlib import contextmanager
from typing import Iterator

from .forks import process_alive


@contextmanager
def exclusive(path: str | None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (no-op when path is None)."""
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class HeldLock:
    """An ownership lock file (``O_EXCL``) naming its holder (pid, host, time).

    A lock whose holder process is gone (same host, pid not alive) is stale
    and is taken over, with the previous holder reported in ``recovered``.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.recovered: str = ""

    @staticmethod
    def describe(info: dict) -> str:
        return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"

    def holder(self) -> dict | None:
        """The holder's info, or None when the lock is free (a lock file copied here with the
        repository, naming a lock at another path, holds nothing here; nor does a holder
        whose process is gone: see :meth:`stale`)."""
        info = self._read()
        return None if info is None or _copied(info, self.path) or _is_stale(info) else info

    def stale(self) -> dict | None:
        """The info of a holder whose process is gone (the next :meth:`try_acquire` takes
        its lock over), or None."""
        info = self._read()
        return info if info is not None and not _copied(info, self.path) and _is_stale(info) else None

    def _read(self) -> dict | None:
        try:
            with open(self.path) as fh:
                info = json.load(fh)
        except (FileNotFoundError, ValueError):
            return None
        return info if isinstance(info, dict) and "pid" in info else None

    def try_acquire(self) -> dict | None:
        """Take the lock; return None on success, else the live holder's info."""
        # Acquirers and releasers take turns: otherwise one could read another's
        # lock file before its content is written, take it for stale and remove it.
        with exclusive(self.path + ".guard"):
            return self._try_acquire()

    def _try_acquire(self) -> dict | None:
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": time.strftime("%Y-%m-%d %H:%M:%S"), "path": os.path.realpath(self.path)}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                info = self._read()
                if info is not None and _copied(info, self.path):
                    _remove(self.path)  # its holder writes the original: nothing to recover here
                    continue
                if info is None or _is_stale(info):
                    self.recovered = self.describe(info or {})
                    _remove(self.path)
                    continue
                return info
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            return None
        return self.holder() or {}

    def release(self) -> None:
        with exclusive(self.path + ".guard"):
            info = self.holder()
            if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
                _remove(self.path)


def _copied(info: dict, path: str) -> bool:
    """True when the lock file at ``path`` was copied from the one its holder took (``cp -a``
    of a repository while a writer had it open): the lock it names still exists at another
    path, as another file (the same file under another name, e.g. a bind mount, is not a copy)."""
    taken = info.get("path")
    if not isinstance(taken, str) or taken == os.path.realpath(path):
        return False
    try:
        return not os.path.samefile(taken, path)
    except OSError:  # the original is gone: the repository was moved, its holder may write here
        return False


def _is_stale(info: dict) -> bool:
    if info.get("host") != socket.gethostname():
        return False
    return not process_alive(int(info.get("pid", 0)))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
