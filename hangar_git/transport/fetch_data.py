"""fetch-data: materialise the sample data of chosen commits and columns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

from ..bookkeeping.gitrepo import GitRepo
from ..bookkeeping.transfer import referenced_digests
from ..errors import RemoteDataError
from ..faults import checkpoint
from ..storage import Digest, ObjectStore
from .progress import progress
from .rpc import Session
from .framing import Frame
from .datastream import receive_frames
from .storecopy import copy_objects
from .wire import MAX_DATA_ITEMS, chunked, encode_digest_list


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

    def receive(self, store: ObjectStore, digests: Sequence[str], on_stored: Callable[[Frame], None]) -> int:
        """Verify and keep ``digests`` in ``store``; how many were kept."""


class SessionSource:
    """Objects from a hangar server, over a protocol session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def sizes(self, digests: Sequence[str]) -> list[int]:
        out: list[int] = []
        for part in chunked(digests):
            out += self.session.call("data_sizes", {"digests": part}).header["sizes"]
        return out

    def receive(self, store: ObjectStore, digests: Sequence[str], on_stored: Callable[[Frame], None]) -> int:
        got = 0
        for part in chunked(digests, MAX_DATA_ITEMS):
            header, payload = encode_digest_list(part)
            frames = self.session.stream("get_data", {**header, "parts": 1}, payload)  # we take objects in parts
            got += receive_frames(store, (f for f in frames if f.kind in ("data", "part")), on_stored)
        return got


class StoreSource:
    """Objects straight from a data store (a git remote's S3 prefix or shared folder)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def sizes(self, digests: Sequence[str]) -> list[int]:
        return self.store.describe([Digest(d) for d in digests])[1].tolist()

    def receive(self, store: ObjectStore, digests: Sequence[str], on_stored: Callable[[Frame], None]) -> int:
        return copy_objects(self.store, store, digests, on_stored=on_stored)


def fetch_data(git: GitRepo, store: ObjectStore, session: Session, commits: list[str], *,
               columns: Optional[set[str]] = None, max_num_bytes: Optional[int] = None,
               quiet: bool = False) -> FetchDataResult:
    """:func:`fetch_data_from` a hangar server."""
    return fetch_data_from(git, store, SessionSource(session), commits, columns=columns,
                           max_num_bytes=max_num_bytes, quiet=quiet)


def fetch_data_from(git: GitRepo, store: ObjectStore, source: DataSource, commits: list[str], *,
                    columns: Optional[set[str]] = None, max_num_bytes: Optional[int] = None,
                    quiet: bool = False) -> FetchDataResult:
    """Fetch every sample of ``commits`` (optionally only ``columns``) not yet local.

    With ``max_num_bytes`` stops before the budget would be exceeded,
    keeping whole samples; ``complete`` says whether everything came.
    """
    wanted = list(referenced_digests(git, commits, (), columns))
    todo = store.missing([Digest(d) for d in wanted])
    sizes = _sizes(source, todo)
    if max_num_bytes is not None:
        chosen, total = [], 0
        for d, n in zip(todo, sizes):
            if total + n > max_num_bytes:
                break
            chosen.append(d)
            total += n
    else:
        chosen, total = list(todo), sum(sizes)
    with progress("Fetching data", total=total, unit="B", quiet=quiet) as bar:
        def stored(frame: Frame) -> None:
            checkpoint("fetch_data.between_frames")
            bar.update(len(frame.payload))

        got = source.receive(store, chosen, stored) if chosen else 0
    return FetchDataResult(list(commits), got, total, complete=len(chosen) == len(todo))


def _sizes(source: DataSource, digests: Sequence[str]) -> list[int]:
    out = source.sizes(digests) if digests else []
    missing = [d for d, n in zip(digests, out) if n < 0]
    if missing:
        raise RemoteDataError(f"the remote does not hold {len(missing)} of the requested samples "
                          f"(e.g. {missing[0]}): they were never pushed there")
    return out
