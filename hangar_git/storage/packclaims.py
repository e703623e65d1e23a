"""Claims on a directory cache (:mod:`.packcache`): which objects a process is fetching into it now.

A process about to fetch objects for the shared cache writes their raw digests to a file of
its own under ``.claims/`` (``<pid>-<token>``) and removes it when the request ends, whether or
not they arrived. Another process that needs some of them waits for them to appear in the
cache instead of fetching them a second time. A claim whose process is gone, or older than
:data:`CLAIM_SECONDS`, does not count, so a crashed or hung fetcher delays nobody for long.
"""
from __future__ import annotations

import os
import secrets
import threading
import time
from typing import Optional, Sequence

from ..fileio import write_fully
from ..forks import process_alive
from .identity import hex_of, raw_of

CLAIM_SECONDS = 60.0
"""A claim older than this is ignored (its process hung); one whose process is gone at once."""


class Claims:
    """The claims folder of one directory cache, as seen from this process."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._seen_claims: dict[str, tuple[int, frozenset[str]]] = {}  # file -> (size read, digests)

    def _here(self) -> threading.Lock:
        """This process's lock (a fork may have copied the parent's while held)."""
        if self._pid != os.getpid():
            self._pid, self._lock, self._seen_claims = os.getpid(), threading.Lock(), {}
        return self._lock

    def claim(self, digests: Sequence[str]) -> Optional[str]:
        """Say that this process is fetching ``digests`` into the cache now (other processes then
        wait for them, see :meth:`claimed`); returns the token :meth:`release` takes."""
        if not digests:
            return None
        os.makedirs(self.path, exist_ok=True)
        token = os.path.join(self.path, f"{os.getpid()}-{secrets.token_hex(6)}")
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_fully(fd, raw_of("".join(digests)))
        finally:
            os.close(fd)
        return token

    def release(self, token: Optional[str]) -> None:
        """End a :meth:`claim` (whether or not its objects arrived)."""
        if token is not None:
            try:
                os.remove(token)
            except FileNotFoundError:
                pass

    def claimed(self) -> frozenset[str]:
        """Digests other live processes are fetching into the cache now (claims of dead processes,
        or older than :data:`CLAIM_SECONDS`, do not count)."""
        lock = self._here()
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return frozenset()
        me, now = str(os.getpid()), time.time()
        out: set[str] = set()
        with lock:
            seen, self._seen_claims = self._seen_claims, {}
            for name in names:
                pid = name.split("-", 1)[0]
                if pid == me or not _alive(pid):
                    continue
                path = os.path.join(self.path, name)
                try:
                    stat = os.stat(path)
                    if now - stat.st_mtime > CLAIM_SECONDS:
                        continue
                    known = seen.get(name)
                    if known is None or known[0] != stat.st_size:
                        with open(path, "rb") as fh:
                            raw = fh.read()
                        whole = len(raw) - len(raw) % 32
                        text = hex_of(raw[:whole])
                        known = (whole, frozenset(text[i:i + 64] for i in range(0, len(text), 64)))
                except FileNotFoundError:
                    continue
                self._seen_claims[name] = known
                out |= known[1]
        return frozenset(out)


def _alive(pid: str) -> bool:
    try:
        return process_alive(int(pid))
    except ValueError:
        return False


__all__ = ["CLAIM_SECONDS", "Claims"]
