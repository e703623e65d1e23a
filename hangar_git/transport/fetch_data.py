"""fetch-data: materialise the sample data of chosen commits and columns."""
from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

from ..bookkeeping.gitrepo import GitRepo
from ..bookkeeping.added import column_trees, samples_added_raws, unique_in_order
from ..bookkeeping.transfer import referenced_digests
from ..errors import RemoteDataError
from ..storage import ObjectStore, digests_to_raw, raws_to_digests
from .progress import progress, progress_enabled
from .rpc import Session
from .framing import Frame
from .datastream import receive_frames
from .objectdamage import DAMAGED_SIZE, remote_damage, stored_sizes
from .storecopy import copy_objects
from .wire import MAX_DATA_ITEMS, chunked


ANCESTORS_SEARCHED = 64
"""How far back fetch-data looks for a column whose data is known local, to fetch only what
the newer commits add."""


class Presence(Protocol):
    """Column trees whose every sample is known to be in the local store."""

    def is_complete(self, tree: str) -> bool: ...

    def mark_complete(self, tree: str) -> None: ...


@dataclass(frozen=True, slots=True)
class FetchDataResult:
    commits: list[str]
    samples: int
    bytes: int
    complete: bool


class DataSource(Protocol):
    """Where fetch-data gets objects: a hangar server, or a remote's data store itself."""

    def sizes(self, digests: Sequence[str]) -> list[int]:
        """Each object's size, -1 where the source does not hold it."""

    def receive(self, store: ObjectStore, digests: Sequence[str] | np.ndarray, on_stored: Callable[[Frame], None],
                fault: str = "") -> int:
        """Verify and keep ``digests`` (hex, or raw as an ``S32`` array) in ``store``; how many were kept. ``fault`` names the
        kill point passed as each frame is kept (:mod:`hangar_git.faults`)."""


class SessionSource:
    """Objects from a hangar server, over a protocol session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def sizes(self, digests: Sequence[str]) -> list[int]:
        out: list[int] = []
        for part in chunked(digests):
            out += self.session.call("data_sizes", {"digests": part}).header["sizes"]
        return out

    def receive(self, store: ObjectStore, digests: Sequence[str] | np.ndarray, on_stored: Callable[[Frame], None],
                fault: str = "") -> int:
        raws = digests if isinstance(digests, np.ndarray) else digests_to_raw(list(digests))
        step = self.session.server_info.get("get_data_max")  # older servers take MAX_DATA_ITEMS at once
        step = step if type(step) is int and step > 0 else MAX_DATA_ITEMS
        got = 0
        for start in range(0, len(raws), step):
            part = raws[start:start + step]
            frames = self.session.stream("get_data", {"count": len(part), "parts": 1},  # we take objects in parts
                                         part.tobytes())
            got += receive_frames(store, (f for f in frames if f.kind in ("data", "part")), on_stored,
                                  fault=fault)
        return got


class StoreSource:
    """Objects straight from a data store (a git remote's S3 prefix or shared folder)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def sizes(self, digests: Sequence[str]) -> list[int]:
        return stored_sizes(self.store, digests)

    def receive(self, store: ObjectStore, digests: Sequence[str] | np.ndarray, on_stored: Callable[[Frame], None],
                fault: str = "") -> int:
        return copy_objects(self.store, store, digests, on_stored=on_stored, kept_fault=fault)


def fetch_data(git: GitRepo, store: ObjectStore, session: Session, commits: list[str], *,
               columns: Optional[set[str]] = None, max_num_bytes: Optional[int] = None,
               quiet: bool = False, presence: Optional[Presence] = None) -> FetchDataResult:
    """:func:`fetch_data_from` a hangar server."""
    return fetch_data_from(git, store, SessionSource(session), commits, columns=columns,
                           max_num_bytes=max_num_bytes, quiet=quiet, presence=presence)


def fetch_data_from(git: GitRepo, store: ObjectStore, source: DataSource, commits: list[str], *,
                    columns: Optional[set[str]] = None, max_num_bytes: Optional[int] = None,
                    quiet: bool = False, presence: Optional[Presence] = None) -> FetchDataResult:
    """Fetch every sample of ``commits`` (optionally only ``columns``) not yet local.

    With ``max_num_bytes`` stops before the budget would be exceeded,
    keeping whole samples; ``complete`` says whether everything came.
    With ``presence``, columns known complete are skipped, a column whose
    ancestor's is known complete is checked only for what it adds, and the
    columns fetched completely are marked: nothing to do costs no scan.
    """
    sizing = max_num_bytes is not None or progress_enabled(quiet)  # else sizes are not needed first
    with progress("Finding data to fetch", total=3 if sizing else 2, unit="step", quiet=quiet) as phase:
        wanted, trees = wanted_raws(git, commits, columns, presence)
        phase.update(1)
        todo = wanted[store.absent(wanted)] if len(wanted) else wanted
        phase.update(1)
        chosen, total = todo, None
        if sizing:
            sizes = _sizes(source, raws_to_digests(todo))
            chosen = todo[:_within(sizes, max_num_bytes)]
            total = sum(sizes[:len(chosen)])
            phase.update(1)
    received = 0
    with progress("Fetching data", total=total, unit="B", quiet=quiet) as bar:
        def stored(frame: Frame) -> None:
            nonlocal received
            # the bar counts stored sizes (a data frame's digests are not), never past its total
            nbytes = len(frame.payload) - (32 * frame.header["count"] if frame.kind == "data" else 0)
            received += nbytes
            bar.update(nbytes if total is None else min(nbytes, total - bar.n))

        got = source.receive(store, chosen, stored, fault="fetch_data.between_frames") if len(chosen) else 0
        if total is not None:
            bar.update(total - bar.n)  # every chosen object is stored: the bar ends exactly at its total
    complete = len(chosen) == len(todo)
    if complete and presence is not None:
        for tree in trees:
            presence.mark_complete(tree)
    return FetchDataResult(list(commits), got, received, complete=complete)


def _within(sizes: list[int], budget: Optional[int]) -> int:
    """How many of the first objects (of ``sizes``) fit in ``budget`` bytes (all without one)."""
    if budget is None:
        return len(sizes)
    total = 0
    for i, n in enumerate(sizes):
        if total + n > budget:
            return i
        total += n
    return len(sizes)


def wanted_raws(git: GitRepo, commits: list[str], columns: Optional[set[str]],
                presence: Optional[Presence]) -> tuple[np.ndarray, list[str]]:
    """(raw digests to look for locally, each once; column trees they complete) of ``commits``."""
    if presence is None:
        return digests_to_raw(list(referenced_digests(git, commits, (), columns))), []
    parts: list[np.ndarray] = []
    trees: list[str] = []
    for commit in commits:
        for name, (tree, samples) in column_trees(git, git.commit_info(commit).tree, columns).items():
            if presence.is_complete(tree):
                continue
            parts.append(samples_added_raws(git, samples, _complete_base(git, commit, name, presence)))
            trees.append(tree)
    return unique_in_order(np.concatenate(parts) if parts else digests_to_raw([])), trees


def _complete_base(git: GitRepo, commit: str, column: str, presence: Presence) -> list[str]:
    """The samples tree of ``column`` in the nearest ancestor where it is known complete
    (searched :data:`ANCESTORS_SEARCHED` commits back), else none."""
    for info in islice(git.walk([commit]), 1, ANCESTORS_SEARCHED + 1):
        found = column_trees(git, info.tree, {column}).get(column)
        if found is not None and presence.is_complete(found[0]):
            return [found[1]]
    return []


def _sizes(source: DataSource, digests: Sequence[str]) -> list[int]:
    out = source.sizes(digests) if digests else []
    damaged = [d for d, n in zip(digests, out) if n == DAMAGED_SIZE]
    if damaged:
        raise remote_damage(len(damaged), damaged[0])
    missing = [d for d, n in zip(digests, out) if n < 0]
    if missing:
        raise RemoteDataError(f"the remote does not hold {len(missing)} of the requested samples "
                          f"(e.g. {missing[0]}): they were never pushed there")
    return out
