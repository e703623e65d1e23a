"""Counting a store's reads in this process: how tests check that reads are batched."""
from __future__ import annotations

from typing import Any, Iterator

import pytest


def count_store_reads(store: Any, monkeypatch: pytest.MonkeyPatch, *, gather: bool = False) -> dict[str, int]:
    """Patch ``store`` so each ``read_many`` (and ``gather`` when asked) adds one to its count,
    and each ``read`` the caller makes (not those inside a batch) adds one to ``read``;
    returns the counts, which grow as the test reads."""
    calls = {"read": 0, "read_many": 0, **({"gather": 0} if gather else {})}
    inside: list[int] = []
    real_read, real_many, real_gather = store.read, store.read_many, store.gather

    def read(digest: Any) -> Any:
        calls["read"] += not inside
        return real_read(digest)

    def read_many(digests: Any, **kw: Any) -> Iterator[Any]:
        calls["read_many"] += 1
        inside.append(1)
        try:
            yield from real_many(digests, **kw)
        finally:
            inside.pop()

    def counted_gather(raws: Any, itemsize: Any) -> Any:
        calls["gather"] += 1
        return real_gather(raws, itemsize)

    monkeypatch.setattr(store, "read", read)
    monkeypatch.setattr(store, "read_many", read_many)
    if gather:
        monkeypatch.setattr(store, "gather", counted_gather)
    return calls
