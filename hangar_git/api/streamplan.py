"""Planning ahead for a streaming store: what to fetch before the reader asks, and how much
per request (the fetching is :mod:`.readahead`'s background thread; the store is
:class:`~.streamstore.StreamingStore`, which mixes this in)."""
from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Sequence, TypeVar

import numpy as np

from ..storage import raws_to_digests
from ..storage.packcache import PackCache
from ..storage.readcache import MemoryCache
from .readahead import Prefetcher

if TYPE_CHECKING:
    from .streamstore import StreamingStore

T = TypeVar("T")
FIRST_REQUEST = 16
"""Objects in a request while their size is neither known nor hinted."""
LEAD_SAMPLES = 512
"""At an epoch's start the process that draws a DataLoader's order fetches this many of its first
samples (at most ``LEAD_REQUESTS`` requests' bytes) into the shared directory cache."""
LEAD_REQUESTS = 1


class PlansAhead:
    """The planning half of a streaming store (see the module doc)."""

    memory: MemoryCache
    disk: Optional[PackCache]
    request_bytes: int
    _ahead: Optional[Prefetcher]
    _hint: int
    _seen: list[int]

    def _store(self) -> "StreamingStore":
        from .streamstore import StreamingStore
        assert isinstance(self, StreamingStore)
        return self

    def plan(self, batches: Iterable[Sequence[str]], limit: Optional[int] = None,
             done: Optional[Callable[[], None]] = None, lazy: bool = False) -> None:
        """The reader will read these digests, batch after batch, in this order: fetch them
        ahead on a background thread (replacing an earlier plan), at most ``limit`` bytes (half
        the memory cache unless told) ahead of what was read; ``done`` is called when the plan
        ends (fetched, failed or replaced). ``lazy``: the thread starts when a read first finds
        something the memory cache does not hold (:meth:`missed_memory`)."""
        self.stop_plan()
        self._ahead = Prefetcher(self._store(), iter(batches), self.memory.budget // 2 if limit is None else limit,
                                 done=done, start=not lazy)

    def missed_memory(self) -> None:
        """A read found something the memory cache does not hold: a lazy plan starts fetching."""
        ahead = self._ahead
        if ahead is not None and not ahead.started:
            ahead.wake()

    def lead(self, digests: Sequence[str]) -> None:
        """An epoch begins whose first samples are ``digests``, to be read by other processes
        (DataLoader workers): fetch the first of them (:data:`LEAD_SAMPLES`, or as many as
        ``LEAD_REQUESTS`` requests' bytes when sizes are known) into the caches now, claimed in
        the directory cache at once, so that workers wait for them there instead of fetching
        them again (a worker whose first batch is all claimed needs no connection of its own
        for it)."""
        ahead = self._ahead
        if self.disk is None or (ahead is not None and ahead.thread.is_alive() and not ahead.leads):
            return  # a reader in this process follows its own plan (num_workers=0): not replaced
        first = [d for d in dict.fromkeys(digests[:self.lead_count()]) if d not in self.memory]
        first = [d for d, e in zip(first, self.disk.get_many(first)) if e is None]
        if not first:
            return  # all cached already: no thread
        token = self.disk.claims.claim(first)
        step = min(self.request_size(), LEAD_SAMPLES)  # the first request (the workers' first batches) alone
        self.plan([first[lo:lo + step] for lo in range(0, len(first), step)],
                  limit=max(self.memory.budget // 2, 1), done=lambda: self.disk.claims.release(token) if self.disk else None)
        if self._ahead is not None:
            self._ahead.leads = True

    def lead_count(self) -> int:
        """How many of an epoch's first samples :meth:`lead` fetches (0 without a directory cache)."""
        if self.disk is None:
            return 0
        size = self._hint or (self._seen[1] // self._seen[0] if self._seen[0] else 0)
        return max(LEAD_SAMPLES, LEAD_REQUESTS * self.request_size()) if size else LEAD_SAMPLES

    def stop_plan(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.stop()

    def read_ahead(self, items: Iterable[T], digests_of: Callable[[T], Any]) -> Iterator[T]:
        """``items`` as they are, each item's digests (``digests_of``: hex list or raw array)
        fetched ahead while the one before is read."""
        plan: deque[Sequence[str]] = deque()
        self.stop_plan()
        ahead = self._ahead = Prefetcher(self._store(), None, self.memory.budget // 2, plan)
        try:
            for item in items:
                ahead.add(_hex(digests_of(item)))
                yield item
        finally:
            if self._ahead is ahead:
                self.stop_plan()

    def hint_sizes(self, nbytes: Optional[int]) -> None:
        """Objects to come are about ``nbytes`` each (a fixed-shape column's schema says so):
        requests are sized by it until sizes are seen (None: no hint)."""
        if nbytes and not self._seen[0]:
            self._hint = nbytes

    def request_size(self) -> int:
        """Objects to ask for in one request: ``request_bytes`` of objects of the mean size seen
        (or hinted; :data:`FIRST_REQUEST` objects while neither)."""
        objects, nbytes = self._seen
        if not objects:
            if not self._hint:
                return FIRST_REQUEST
            objects, nbytes = 1, self._hint
        return int(min(4096, max(1, self.request_bytes // max(nbytes / objects, 1))))


def _hex(digests: Any) -> list[str]:
    return list(raws_to_digests(digests)) if isinstance(digests, np.ndarray) else list(digests)
