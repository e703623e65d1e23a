"""The read-through store of a streaming checkout: local store, then caches, then the remote.

:class:`StreamingStore` wraps the repository's store behind the same interface
the read paths already use (``read``, ``read_many``, ``gather``, ``missing``),
so every way of reading works on it unchanged. An object that is neither in
the local store nor cached is fetched from the remote, many at a time, verified
there (:mod:`~hangar_git.transport.streamsource`), and kept in a bounded memory
cache (plus a directory cache when one is given). Nothing enters the local store
unless ``keep``: then fetched objects are written to it in large flushes.

A background thread fetches ahead whatever the reader said it will read next
(:meth:`StreamingStore.plan`), at most half the memory budget ahead of it.
A digest the remote does not hold reads as absent (KeyError, as for any store).
A forked child starts from none of its parent's threads or connections (:mod:`hangar_git.forks`).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from .. import forks
from ..errors import ProtocolError
from ..storage import Digest, Meta, ObjectInfo, ObjectStore
from ..storage.objects import Buffer
from ..storage.packcache import PackCache
from ..storage.readcache import MemoryCache
from ..transport.streamsource import Entries, ObjectSource
from .readahead import Prefetcher
from .streamrows import GathersRows
from .streamplan import PlansAhead

Entry = tuple[Meta, bytes]
KEEP_FLUSH_BYTES = 64 << 20
KEEP_FLUSH_OBJECTS = 65536
"""A kept object is written with up to this many others (or bytes) in one flush."""
READ_WINDOW = 512
REQUEST_BYTES = 4 << 20
"""At most about this many bytes are asked for in one request (fewer with a small cache: see
:func:`split_budget`); sized by the objects seen so far, 16 objects when none were seen yet."""
POLL_SECONDS = 0.005
"""How often a read waiting for objects another process is fetching looks in the directory cache."""
DISK_FIRST_BYTES = 64 << 10
"""Objects fetched go to the directory cache during a request, first after this many bytes
(then each time as many again as were put so far): other processes waiting for them start early."""


class StreamingStore(GathersRows, PlansAhead, ObjectStore):
    """``local`` first, then the caches, then ``source``; read-only to its users."""

    read_only = True

    def __init__(self, local: ObjectStore, source: ObjectSource, memory: MemoryCache,
                 disk: Optional[PackCache] = None, keep: bool = False, request_bytes: int = REQUEST_BYTES) -> None:
        self.local, self.source, self.memory, self.disk, self.keep = local, source, memory, disk, keep
        self.request_bytes = request_bytes
        self.absent_remote: set[str] = set()
        self._inflight: dict[str, _InFlight] = {}
        self._claims = threading.Lock()
        self._kept: list[tuple[Digest, Meta, bytes]] = []
        self._kept_bytes = 0
        self._keep_lock = threading.Lock()
        self._ahead: Optional[Prefetcher] = None
        self._seen = [0, 0]  # objects, bytes fetched: sizes prefetch requests
        self._hint = 0  # bytes per object expected before any was seen
        self.near: Optional[Callable[[str], list[str]]] = None
        """Digests to fetch along with a single read's miss (see :mod:`.streamnear`)."""
        self.kept_objects = 0
        self.flushes = 0
        forks.in_child(self)

    def after_fork_in_child(self) -> None:
        """In a forked child (a DataLoader worker reading a column of its parent's checkout): none
        of the parent's read-ahead, requests in flight or objects waiting to be kept is this
        process's (their threads are not here; the parent writes what it kept); its locks are
        new. The source connects anew, the caches' entries stay."""
        forks.set_aside(self._ahead)  # not stopped: its ``done`` would end the parent's claims
        self._ahead, self._inflight, self._kept, self._kept_bytes = None, {}, [], 0
        self._claims, self._keep_lock = threading.Lock(), threading.Lock()
        self._rereads = None  # what the parent read is not this process's to read again
        self.memory.after_fork_in_child()

    # -- fetching ----------------------------------------------------------------------------
    def _cached(self, digest: str) -> Optional[Entry]:
        entry = self.memory.get(digest)
        if entry is None:
            self.missed_memory()
        if entry is None and self.disk is not None:
            entry = self.disk.get(digest)
            if entry is not None:
                self.memory.put(digest, *entry)
        if entry is not None and self._ahead is not None:
            self._ahead.consumed(digest)
        return entry

    def _cached_many(self, digests: Sequence[str]) -> dict[str, Entry]:
        """The entries of ``digests`` the memory cache or the directory cache holds."""
        out: dict[str, Entry] = {}
        entries = self.memory.get_many(digests)
        rest = [d for d, e in zip(digests, entries) if e is None]
        if rest:
            self.missed_memory()
        out.update((d, e) for d, e in zip(digests, entries) if e is not None)
        if rest and self.disk is not None:  # not copied into memory: read again from there, in batches
            out.update((d, e) for d, e in zip(rest, self.disk.get_many(rest)) if e is not None)
        if out and self._ahead is not None:
            self._ahead.consumed_many(list(out))
        return out

    def claim(self, digests: Iterable[str]) -> tuple[list[str], list[tuple[str, threading.Event]]]:
        """Split ``digests`` into those this thread will fetch (now marked in flight) and those
        another thread is fetching (with the event to wait for)."""
        mine, theirs = [], []
        mark = _InFlight()  # one for all of this claim's digests: done once the last is released
        inflight, memory = self._inflight, self.memory
        with self._claims:
            for d in dict.fromkeys(digests):
                other = inflight.get(d)
                if other is not None:
                    theirs.append((d, other.event))
                elif d not in memory:
                    inflight[d] = mark
                    mine.append(d)
            mark.left = len(mine)
        return mine, theirs

    def fetch_into(self, digests: list[str], into: Optional[dict[str, Entry]]) -> None:
        """Fetch claimed ``digests`` from the remote into the caches (and ``into``), in requests
        of :meth:`request_size` objects (what is in flight stays within ``request_bytes``)."""
        lo = 0
        try:
            while lo < len(digests):
                step = self.request_size()
                self._fetch(digests[lo:lo + step], into)
                lo += step
        finally:
            self._release(digests[lo:])

    def _release(self, digests: list[str]) -> None:
        done = []
        with self._claims:
            pop = self._inflight.pop
            for d in digests:
                mark = pop(d, None)
                if mark is not None:
                    mark.left -= 1
                    if not mark.left:
                        done.append(mark.event)
        for event in done:  # waiters wake once every digest of the claim they wait on is released
            event.set()

    def _fetch(self, digests: list[str], into: Optional[dict[str, Entry]]) -> None:
        fetched: list[tuple[Digest, Meta, bytes]] = []
        stored = [0, 0]  # bytes put in the directory cache during this request, bytes waiting

        def got(entries: Entries) -> None:
            if into is not None:
                into.update((d, (m, b)) for d, m, b in entries)
            self.memory.put_many(entries)
            nbytes = sum(len(b) for _, _, b in entries)
            if self.disk is not None:
                fetched.extend(entries)
                stored[1] += nbytes
                if stored[1] >= max(DISK_FIRST_BYTES, stored[0]):  # early, then ever larger appends
                    self._to_disk(fetched, stored)
            if self.keep:
                self._keep(entries, nbytes)
            self._seen[0] += len(entries)
            self._seen[1] += nbytes

        token = self.disk.claims.claim(digests) if self.disk is not None and digests else None
        try:
            if digests:
                self.absent_remote.update(self.source.get(digests, got))
        finally:
            try:
                if fetched:
                    self._to_disk(fetched, stored)  # shared with other processes
            finally:
                if self.disk is not None:
                    self.disk.claims.release(token)
                self._release(digests)

    def _to_disk(self, fetched: list[tuple[Digest, Meta, bytes]], stored: list[int]) -> None:
        assert self.disk is not None
        self.disk.put_many(fetched)
        stored[0] += stored[1]
        stored[1] = 0
        fetched.clear()

    def _obtain(self, digests: Sequence[str]) -> dict[str, Entry]:
        """Entries of ``digests`` not in the local store, from the caches or the remote; what
        the remote does not hold is left out (and noted in ``absent_remote``). What another
        process is fetching into the directory cache now is waited for there, not fetched again."""
        out = self._cached_many(list(digests))
        need = [d for d in digests if d not in out and d not in self.absent_remote]
        while need:
            elsewhere = self._claimed_elsewhere(need)
            own = [d for d in need if d not in elsewhere]
            if own and self.disk is not None and not self.source.connected:
                own = self._while_connecting(own, out)
            if own:
                self._fetch_own(own, out)
            if elsewhere:
                self._await([d for d in need if d in elsewhere], out)
            need = [d for d in dict.fromkeys(need) if d not in out and d not in self.absent_remote]
            out.update(self._cached_many(need))
            need = [d for d in need if d not in out]  # fetched elsewhere, gone from a small cache: again
        return out

    def _claimed_elsewhere(self, need: list[str]) -> set[str]:
        if self.disk is None:
            return set()
        claimed = self.disk.claims.claimed()
        return {d for d in need if d in claimed} if claimed else set()

    def _fetch_own(self, need: list[str], out: dict[str, Entry]) -> None:
        mine, theirs = self.claim(need)
        self.fetch_into(mine, out)
        lost = [d for d in mine if d not in out and d not in self.absent_remote]
        if lost:
            raise ProtocolError(f"remote {self.source.remote!r} answered without object {lost[0]} "
                                f"(asked for {len(mine)})")
        for _, event in theirs:
            event.wait()

    def _while_connecting(self, need: list[str], out: dict[str, Entry]) -> list[str]:
        """Open the connection in the background, and meanwhile look for ``need`` in the directory
        cache, where another process may be putting them: what turns up there goes into ``out``;
        returns what is still needed once connected."""
        assert self.disk is not None
        self.source.connect_ahead()
        while need and self.source.connecting():
            time.sleep(POLL_SECONDS)
            out.update(self._cached_many(need))
            need = [d for d in need if d not in out]
        return need

    def _await(self, need: list[str], out: dict[str, Entry]) -> None:
        """Wait for ``need``, claimed by other processes, to appear in the directory cache (into
        ``out``) while they stay claimed (no connection is opened for them)."""
        assert self.disk is not None
        while need:
            out.update(self._cached_many(need))
            need = [d for d in need if d not in out]
            if not need:
                return
            claimed = self.disk.claims.claimed()
            if not any(d in claimed for d in need):
                return
            time.sleep(POLL_SECONDS)

    # -- keep=True -----------------------------------------------------------------------------
    def _keep(self, entries: Entries, nbytes: int) -> None:
        with self._keep_lock:
            self._kept.extend(entries)
            self._kept_bytes += nbytes
            full = self._kept_bytes >= KEEP_FLUSH_BYTES or len(self._kept) >= KEEP_FLUSH_OBJECTS
        if full:
            self.flush_kept()

    def flush_kept(self) -> None:
        """Write the objects kept so far to the local store in one flush."""
        with self._keep_lock:
            items, self._kept, self._kept_bytes = self._kept, [], 0
            if not items:
                return
            for digest, meta, data in items:
                self.local.put(digest, meta, data)
            self.local.flush()
            self.kept_objects += len(items)
            self.flushes += 1

    # -- the store interface -------------------------------------------------------------------
    def contains(self, digest: Digest) -> bool:
        return True  # readable here: from the store, a cache or the remote

    def missing(self, digests: Iterable[Digest]) -> list[Digest]:
        """None: what is not local is read from the remote (absent there: KeyError on read)."""
        return [d for d in dict.fromkeys(digests) if d in self.absent_remote]

    def info(self, digest: Digest) -> ObjectInfo:
        meta, data = self.read(digest)
        return ObjectInfo(digest, meta, len(data))

    def read(self, digest: Digest) -> tuple[Meta, memoryview]:
        entry = self._cached(digest)
        if entry is None:
            try:
                return self.local.read(digest)
            except KeyError:
                near = [d for d in self.near(digest) if d not in self.memory] if self.near is not None else []
                entry = self._obtain([digest, *near]).get(digest)
        if entry is None:
            raise KeyError(digest)
        return entry[0], memoryview(entry[1])

    def read_many(self, digests: Iterable[Digest], *,
                  verify: bool = True) -> Iterator[tuple[Digest, Meta, memoryview]]:
        digests = list(digests)
        step = self._window()
        for lo in range(0, len(digests), step):
            yield from self._read_window(digests[lo:lo + step], verify)

    def _window(self) -> int:
        """Objects read in one window: :data:`READ_WINDOW`, fewer when that many would be more
        than a request's bytes. A window's entries from the caches and the remote are held until
        it is read through: 32 images read from the directory cache were held beside the memory
        cache and the caller's copies (peak RSS 1.8x of ``cache_bytes``, 1.17x without the copies)."""
        size = self._hint or (self._seen[1] // self._seen[0] if self._seen[0] else 0)
        return int(min(READ_WINDOW, max(1, self.request_bytes // size))) if size else READ_WINDOW

    def _read_window(self, window: list[Digest], verify: bool) -> Iterator[tuple[Digest, Meta, memoryview]]:
        got = self._cached_many(window)
        rest = [d for d in window if d not in got]
        elsewhere = set(self.local.missing(rest)) if rest else set()
        got.update(self._obtain([d for d in rest if d in elsewhere]))
        local = self.local.read_many([d for d in rest if d not in elsewhere], verify=verify)
        for d in window:
            entry = got.get(d)
            if entry is not None:
                yield d, entry[0], memoryview(entry[1])
            elif d in elsewhere:
                raise KeyError(d)
            else:
                yield next(local)

    def describe(self, digests: Sequence[Digest]) -> tuple[list[Optional[Meta]], np.ndarray]:
        return self.local.describe(digests)

    def warm(self, digests: Iterable[str]) -> None:
        self.local.warm(digests)

    def put(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        raise PermissionError("a streaming checkout is read-only")

    def put_verified(self, digest: Digest, meta: Meta, data: Buffer) -> None:
        raise PermissionError("a streaming checkout is read-only")

    def flush(self) -> None:
        self.flush_kept()

    def iter_objects(self) -> Iterator[ObjectInfo]:
        return self.local.iter_objects()

    def close(self) -> None:
        """Stop fetching ahead, write what ``keep`` holds, and hang up (the local store stays open:
        the repository owns it)."""
        self.stop_plan()
        try:
            self.flush_kept()
        finally:
            self.source.close()
            self.memory.clear()
            if self.disk is not None:
                self.disk.close()


class _InFlight:
    """One :meth:`StreamingStore.claim`'s digests in flight: ``event`` is set once all are released."""

    __slots__ = ("left", "event")

    def __init__(self) -> None:
        self.left = 0
        self.event = threading.Event()


def split_budget(cache_bytes: int) -> tuple[int, int]:
    """(bytes the memory cache may hold, bytes one request may ask for) out of ``cache_bytes``:
    a quarter is kept for what is in flight (a request's frames and the objects copied out of
    them), so that cache and transfers together stay within the budget."""
    request = min(REQUEST_BYTES, max(cache_bytes // 8, 1))
    return cache_bytes - 2 * request, request
