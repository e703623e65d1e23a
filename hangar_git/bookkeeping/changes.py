"""A column's staged changes in bounded memory: encoded key -> hex digest (None deletes).

A write checkout stages each sample it is given until the next flush. Held as a dict,
a million staged samples cost some 300 MB (a key string, a digest string and a dict
entry each). Here the newest changes stay in a dict; every ``SPILL_AT`` of them are
moved into a *run*: sorted arrays of keys (``int64`` for int keys, UTF-8 bytes for str
keys), raw digests and delete marks, about 45 bytes a change. Newer changes hide older
ones of the same key; runs are merged into one once there are more than ``MAX_RUNS``.

A lookup checks the dict, then each run newest first; a run whose key range does not
hold the key is skipped without a search, so bulk writes of new keys in order (0, 1, 2,
... or appended ones) stay as fast as a dict. :meth:`StagedChanges.merged` gives every
change as one run, which a flush writes as records without a Python object per key.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Iterator, Optional, Union

import numpy as np

from ..storage.objects import digests_to_raw, raw_to_digest, raws_to_digests

SPILL_AT = 1 << 16
MAX_RUNS = 4
_ZERO = "0" * 64
_ABSENT = object()


class Table:
    """Sorted unique keys (``int64``, or ``S`` bytes of UTF-8 text), their raw digests
    (``S32``) and delete marks."""

    __slots__ = ("keys", "raws", "gone", "lo", "hi")

    def __init__(self, keys: np.ndarray, raws: np.ndarray, gone: np.ndarray) -> None:
        self.keys, self.raws, self.gone = keys, raws, gone
        self.lo = keys[0] if len(keys) else None
        self.hi = keys[-1] if len(keys) else None

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, key: Union[int, bytes]) -> int:
        """Row of ``key`` (an int for an int table, UTF-8 bytes for a text one), or -1."""
        if self.lo is None or not self.lo <= key <= self.hi:  # type: ignore[operator]
            return -1
        i = int(np.searchsorted(self.keys, key))
        return i if i < len(self.keys) and self.keys[i] == key else -1

    def digest(self, i: int) -> Optional[str]:
        return None if self.gone[i] else raw_to_digest(self.raws[i])

    def encoded(self, is_int: bool) -> list[str]:
        """The encoded keys (``i<n>`` / ``s<text>``), in table order."""
        if is_int:
            return [f"i{k}" for k in self.keys.tolist()]
        return ["s" + k.decode() for k in self.keys.tolist()]


def table_of(keys: list, digests: list[Optional[str]], dtype: str) -> Table:
    """A table from keys (ints, or UTF-8 bytes) and hex digests (None deletes), any order."""
    return sorted_table(np.array(keys, dtype=dtype), digests_to_raw([d or _ZERO for d in digests]),
                        np.array([d is None for d in digests], dtype=bool))


def sorted_table(keys: np.ndarray, raws: np.ndarray, gone: Optional[np.ndarray] = None) -> Table:
    """A table from unique keys (``int64`` or ``S``), raw digests and delete marks (none
    when None), any order."""
    if gone is None:
        gone = np.zeros(len(keys), dtype=bool)
    order = np.argsort(keys, kind="stable")
    return Table(keys[order], raws[order], gone[order])


def merge_tables(tables: list[Table]) -> Table:
    """One table of ``tables`` (newest first): a key's newest entry wins."""
    tables = [t for t in tables if len(t)]
    if len(tables) == 1:
        return tables[0]
    if not tables:
        return Table(np.zeros(0, np.int64), np.zeros(0, "S32"), np.zeros(0, bool))
    ordered = sorted(tables, key=lambda t: t.lo)  # type: ignore[arg-type, return-value]
    if all(a.hi < b.lo for a, b in zip(ordered, ordered[1:])):  # type: ignore[operator]
        # key ranges apart (rows added in key order): one concatenation, no sort
        return Table(np.concatenate([t.keys for t in ordered]), np.concatenate([t.raws for t in ordered]),
                     np.concatenate([t.gone for t in ordered]))
    keys = np.concatenate([t.keys for t in tables])
    keys, first = np.unique(keys, return_index=True)  # the first occurrence: the newest table's
    return Table(keys, np.concatenate([t.raws for t in tables])[first],
                 np.concatenate([t.gone for t in tables])[first])


class Run:
    """Changes moved out of the dict: an int-key table and a text-key table."""

    __slots__ = ("ints", "texts")

    def __init__(self, ints: Table, texts: Table) -> None:
        self.ints, self.texts = ints, texts

    @classmethod
    def of(cls, changes: dict[str, Optional[str]]) -> "Run":
        int_keys, int_digests, text_keys, text_digests = [], [], [], []
        for e, d in changes.items():
            if e[0] == "i":
                int_keys.append(int(e[1:]))
                int_digests.append(d)
            else:
                text_keys.append(e[1:].encode())
                text_digests.append(d)
        return cls(table_of(int_keys, int_digests, "<i8"), table_of(text_keys, text_digests, "S"))

    def get(self, e: str) -> object:
        """The digest (or None) staged for encoded key ``e``, or ``_ABSENT``."""
        if e[0] == "i":
            table, key = self.ints, int(e[1:])  # type: tuple[Table, Union[int, bytes]]
        else:
            table, key = self.texts, e[1:].encode()
        i = table.find(key)
        return _ABSENT if i < 0 else table.digest(i)

    def items(self) -> Iterator[tuple[str, Optional[str]]]:
        for table, is_int in ((self.ints, True), (self.texts, False)):
            if len(table):
                digests = raws_to_digests(table.raws)
                for e, d, gone in zip(table.encoded(is_int), digests, table.gone.tolist()):
                    yield e, (None if gone else d)


def merge_runs(runs: list[Run]) -> Run:
    """One run of ``runs`` (newest first)."""
    if len(runs) == 1:
        return runs[0]
    return Run(merge_tables([r.ints for r in runs]), merge_tables([r.texts for r in runs]))


class StagedChanges(Mapping):
    """Encoded key -> hex digest, or None for a staged delete (see the module's docs)."""

    def __init__(self) -> None:
        self._recent: dict[str, Optional[str]] = {}
        self._runs: list[Run] = []  # newest first
        self._len = 0

    def get(self, e: str, default: object = None) -> object:  # type: ignore[override]
        value = self._recent.get(e, _ABSENT)
        if value is not _ABSENT:
            return value
        for run in self._runs:
            value = run.get(e)
            if value is not _ABSENT:
                return value
        return default

    def __getitem__(self, e: str) -> Optional[str]:
        value = self.get(e, _ABSENT)
        if value is _ABSENT:
            raise KeyError(e)
        return value  # type: ignore[return-value]

    def __contains__(self, e: object) -> bool:
        return isinstance(e, str) and self.get(e, _ABSENT) is not _ABSENT

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def put(self, e: str, digest: Optional[str], new: bool) -> None:
        """Stage ``digest`` for ``e``; ``new``: ``e`` holds no staged change yet (the
        caller looked it up already)."""
        recent = self._recent
        self._len += new
        recent[e] = digest
        if len(recent) >= SPILL_AT:
            self._spill()

    def __setitem__(self, e: str, digest: Optional[str]) -> None:
        self.put(e, digest, e not in self)

    def lookup_ints(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For sorted unique int keys: (staged here?, staged as a delete?, staged raw digest)."""
        if self._recent:
            self._spill()
        found = np.zeros(len(keys), dtype=bool)
        gone = np.zeros(len(keys), dtype=bool)
        raws = np.zeros(len(keys), dtype="S32")
        for run in self._runs:
            table = run.ints
            if not len(table):
                continue
            at = np.minimum(np.searchsorted(table.keys, keys), len(table) - 1)
            hit = ~found & (table.keys[at] == keys)
            found |= hit
            gone[hit] = table.gone[at[hit]]
            raws[hit] = table.raws[at[hit]]
        return found, gone, raws

    def add_ints(self, keys: np.ndarray, raws: np.ndarray, new: int) -> None:
        """Stage sorted unique int keys' raw digests as the newest changes; ``new``: how
        many of the keys held no staged change."""
        if self._recent:
            self._spill()
        empty = Table(np.zeros(0, "S1"), np.zeros(0, "S32"), np.zeros(0, bool))
        self._runs.insert(0, Run(Table(keys, raws, np.zeros(len(keys), bool)), empty))
        self._len += new
        if len(self._runs) > MAX_RUNS:
            self._runs = [merge_runs(self._runs)]

    def _spill(self) -> None:
        self._runs.insert(0, Run.of(self._recent))
        self._recent = {}
        if len(self._runs) > MAX_RUNS:
            self._runs = [merge_runs(self._runs)]

    def __iter__(self) -> Iterator[str]:
        return (e for e, _ in self.items())

    def items(self) -> Iterator[tuple[str, Optional[str]]]:  # type: ignore[override]
        """Every staged change once (its newest), the dict's first."""
        yield from self._recent.items()
        if self._runs:
            recent = self._recent
            for e, d in merge_runs(self._runs).items():
                if e not in recent:
                    yield e, d

    def values(self) -> Iterator[Optional[str]]:  # type: ignore[override]
        return (d for _, d in self.items())

    def merged(self) -> Run:
        """Every staged change as one run (which replaces this object's dict and runs:
        they are not held twice)."""
        runs = ([Run.of(self._recent)] if self._recent else []) + self._runs
        if not runs:
            return Run.of({})
        self._recent, self._runs = {}, [merge_runs(runs)]
        return self._runs[0]

    def copy(self) -> "StagedChanges":
        """A snapshot: later changes to this object do not reach it (runs are shared:
        they never change)."""
        out = StagedChanges()
        out._recent, out._runs, out._len = dict(self._recent), list(self._runs), self._len
        return out
