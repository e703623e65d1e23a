"""The background thread of a streaming store: fetch planned digests ahead of the reader.

One :class:`Prefetcher` per plan walks the batches the reader said it will read, in order,
asking the remote for several batches' small samples in one request, and never more than
``limit`` bytes ahead of what the reader has consumed.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Callable, Iterator, Optional, Sequence

from ..storage import Digest
from ..storage.packcache import MAP_BELOW

LOAD_ABOVE = MAP_BELOW
"""Planned objects of more than this many bytes found in the directory cache are loaded into
memory ahead of the reader; smaller ones stay where they are until read."""

if TYPE_CHECKING:
    from .streamstore import Entry, StreamingStore


class Prefetcher:
    """One background thread fetching planned digests in order, ``limit`` bytes ahead at most."""

    def __init__(self, store: "StreamingStore", batches: Optional[Iterator[Sequence[str]]], limit: int,
                 queue: Optional[deque] = None, done: Optional[Callable[[], None]] = None, start: bool = True) -> None:
        self.store, self.batches, self.limit = store, batches, max(limit, 1)
        self.done = done
        self.queue: deque[Sequence[str]] = queue if queue is not None else deque()
        self.ahead: dict[str, int] = {}
        self.cond = threading.Condition()
        self.stopped = False
        self.error: Optional[BaseException] = None
        self.leads = False
        """Whether this plan is an epoch's lead (for other processes), not a reader's own."""
        self.thread = threading.Thread(target=self._run, name="hangar-stream-ahead", daemon=True)
        self.started = False
        if start:
            self.wake()

    def wake(self) -> None:
        """Start fetching (once): a plan made with ``start=False`` waits for the reader to find
        something outside the memory cache, so that an epoch the cache holds whole runs no
        thread beside the reader (it cost a cached epoch of 20,000 rows 10 ms of 100)."""
        if not self.started:
            with self.cond:
                if self.started or self.stopped:
                    return
                self.started = True
            self.thread.start()

    def add(self, digests: Sequence[str]) -> None:
        with self.cond:
            self.queue.append(digests)
            self.cond.notify_all()

    def consumed_many(self, digests: list[str]) -> None:
        if not self.ahead.keys().isdisjoint(digests):
            with self.cond:
                for d in digests:
                    self.ahead.pop(d, None)
                self.cond.notify_all()

    def consumed(self, digest: str) -> None:
        if digest in self.ahead:
            with self.cond:
                if self.ahead.pop(digest, None) is not None:
                    self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            started = self.started
            self.cond.notify_all()
        if started:
            self.thread.join(30)
        elif self.done is not None:
            self.done()

    def _next(self, wait: bool) -> Optional[Sequence[str]]:
        """The next planned batch; None once the plan is done or stopped (or, unless ``wait``,
        when nothing more is planned yet)."""
        with self.cond:
            while not self.stopped:
                if self.queue:
                    return self.queue.popleft()
                if self.batches is not None:
                    return next(self.batches, None)
                if not wait:
                    return None
                self.cond.wait(0.5)
        return None

    def _room(self) -> bool:
        """Wait until less than ``limit`` fetched-ahead bytes are unread; False once stopped."""
        with self.cond:
            while not self.stopped:
                if sum(self.ahead.values()) < self.limit:
                    return True
                memory = self.store.memory
                self.ahead = {d: n for d, n in self.ahead.items() if d in memory}  # evicted: not waiting
                if sum(self.ahead.values()) < self.limit:
                    return True
                self.cond.wait(0.5)
        return False

    def _from_disk(self, digests: list[Digest]) -> list[Digest]:
        """Load the large objects the directory cache holds into memory (their reads and checks
        then overlap the reader's work; small ones the reader takes from there itself, in
        batches, faster than through memory); returns the digests it does not hold."""
        disk = self.store.disk
        if disk is None or not digests:
            return digests
        absent, large = disk.sort_out(digests, LOAD_ABOVE)
        rest: list[Digest] = [Digest(d) for d in absent]
        ahead = {}
        put = self.store.memory.put
        for d, entry in zip(large, disk.get_many(large)):
            if entry is None:
                rest.append(Digest(d))
                continue
            put(d, *entry)
            ahead[d] = len(entry[1])
        if ahead:
            with self.cond:
                self.ahead.update(ahead)
        return rest

    def _wanted(self, batch: Sequence[str]) -> list[Digest]:
        """The digests of a planned batch that are neither cached nor local (the directory
        cache is asked before the store: its index is in memory)."""
        store = self.store
        wanted = self._from_disk([Digest(d) for d in batch if d not in store.memory and d not in store.absent_remote])
        if wanted and store.disk is not None:
            claimed = store.disk.claims.claimed()  # another process is fetching these: the reader waits for them
            wanted = [d for d in wanted if d not in claimed]
        return store.local.missing(wanted) if wanted else wanted

    def _run(self) -> None:
        """Fetch the plan in requests of about :meth:`StreamingStore.request_size` objects:
        small samples of several planned batches go in one request (one round trip), but for
        the first planned batch, asked for alone."""
        store = self.store
        pending: list[Digest] = []
        first = True  # the first request goes alone: the reader (or a worker) waits for it soonest
        try:
            while True:
                step = store.request_size()
                batch = self._next(wait=not pending)
                if batch is not None:
                    pending += self._wanted(batch)
                    if len(pending) < step and not (first and pending):
                        continue
                elif not pending:
                    return
                if not self._room():
                    return
                mine, _ = store.claim(pending[:step])
                pending, first = pending[step:], False
                got: dict[str, "Entry"] = {}
                store.fetch_into(mine, got)
                with self.cond:
                    self.ahead.update((d, len(e[1])) for d, e in got.items())
        except BaseException as exc:  # the reader meets the failure itself when it reads
            self.error = exc
        finally:
            if self.done is not None:
                self.done()
