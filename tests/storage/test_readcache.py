"""The memory cache of streaming checkouts (storage/readcache.py): least recently used out first,
within its byte budget, whether objects come one at a time or a frame's worth at once."""
from __future__ import annotations

import pytest

from hangar_git.storage import Meta
from hangar_git.storage.readcache import ENTRY_OVERHEAD, MemoryCache

META = Meta("<u1:10")


def entries(n: int, size: int = 10) -> list[tuple[str, Meta, bytes]]:
    return [(f"{i:064x}", META, bytes([i % 256]) * size) for i in range(n)]


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_put_many_holds_the_budget_at_its_threshold(extra: int) -> None:
    items = entries(4)
    cache = MemoryCache(4 * (10 + ENTRY_OVERHEAD) + extra)
    cache.put_many(items)
    assert len(cache) == (3 if extra < 0 else 4) and cache.nbytes <= cache.budget
    assert (items[0][0] in cache) == (extra >= 0)  # the oldest goes first
    assert cache.evicted == (1 if extra < 0 else 0)


def test_put_many_keeps_the_most_recently_used_and_skips_what_cannot_fit() -> None:
    items = entries(6)
    cache = MemoryCache(4 * (10 + ENTRY_OVERHEAD))
    cache.put_many(items[:4])
    assert cache.get_many([items[0][0], "f" * 64]) == [items[0][1:], None]  # item 0 is the most recent now
    cache.put_many(items[4:] + [("e" * 64, META, bytes(cache.budget))])  # bigger than the whole budget: not kept
    assert [d in cache for d, _, _ in items] == [True, False, False, True, True, True]
    assert "e" * 64 not in cache and cache.nbytes == 4 * (10 + ENTRY_OVERHEAD)
    cache.put_many([items[5]])  # again: replaces, counted once
    assert cache.nbytes == 4 * (10 + ENTRY_OVERHEAD) and len(cache) == 4


def test_put_many_of_more_than_the_budget_keeps_the_last_that_fit() -> None:
    items = entries(10, 1000)
    cache = MemoryCache(3 * (1000 + ENTRY_OVERHEAD))
    cache.put_many(items)
    assert [d in cache for d, _, _ in items] == [False] * 7 + [True] * 3
    assert cache.evicted == 7 and cache.nbytes == cache.budget
