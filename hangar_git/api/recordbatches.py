"""A column's keys and digests walked in batches: the committed records' shards with the
staged changes applied, merged into batches of about a given size."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from ..bookkeeping.snapshot import ColumnRecords

State = tuple[Optional[ColumnRecords], Mapping[str, Optional[str]]]
"""A column's records and a copy of its staged changes: what one iteration walks."""
BATCH = 4096
"""Keys per batch of a column's iteration."""


def record_batches(state: State) -> Iterator[tuple[list[str], list[str]]]:
    """(encoded keys, digests) of a state in batches, staged changes applied."""
    records, changes = state
    if records is not None:
        for encs, digests in records.shard_lists():
            if changes:
                pairs = [(e, d) for e, d in zip(encs, digests) if e not in changes]
                encs, digests = [e for e, _ in pairs], [d for _, d in pairs]
            if encs:
                yield encs, digests
    staged = [(e, d) for e, d in changes.items() if d is not None]
    if staged:
        yield [e for e, _ in staged], [d for _, d in staged]


def large_batches(state: State, size: int = 8 * BATCH) -> Iterator[tuple[list[str], list[str]]]:
    """Like :func:`record_batches`, merging small shards into batches of ~``size``."""
    return merged(record_batches(state), size, lambda parts: [d for part in parts for d in part])


def merged(parts: Iterable[tuple[list[Any], Any]], size: int,
           join: Callable[[list[Any]], Any]) -> Iterator[tuple[list[Any], Any]]:
    """(keys, values) parts merged into batches of about ``size`` keys; ``join`` merges values."""
    keys: list[Any] = []
    values: list[Any] = []
    for k, v in parts:
        keys += k
        values.append(v)
        if len(keys) >= size:
            yield keys, join(values)
            keys, values = [], []
    if keys:
        yield keys, join(values)
