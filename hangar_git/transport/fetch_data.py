"""fetch-data: materialise the sample data of chosen commits and columns."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ..bookkeeping.gitrepo import GitRepo
from ..bookkeeping.transfer import referenced_digests
from ..faults import checkpoint
from ..storage import Digest, ObjectStore
from .progress import progress
from .rpc import Session
from .framing import Frame
from .datastream import receive_frames
from .wire import MAX_DATA_ITEMS, chunked, encode_digest_list


@dataclass(frozen=True, slots=True)
class FetchDataResult:
    commits: list[str]
    samples: int
    bytes: int
    complete: bool


def fetch_data(git: GitRepo, store: ObjectStore, session: Session, commits: list[str], *,
               columns: Optional[set[str]] = None, max_num_bytes: Optional[int] = None,
               quiet: bool = False) -> FetchDataResult:
    """Fetch every sample of ``commits`` (optionally only ``columns``) not yet local.

    With ``max_num_bytes`` stops before the budget would be exceeded,
    keeping whole samples; ``complete`` says whether everything came.
    """
    wanted = list(referenced_digests(git, commits, (), columns))
    todo = store.missing([Digest(d) for d in wanted])
    sizes = _sizes(session, todo)
    if max_num_bytes is not None:
        chosen, total = [], 0
        for d, n in zip(todo, sizes):
            if total + n > max_num_bytes:
                break
            chosen.append(d)
            total += n
    else:
        chosen, total = list(todo), sum(sizes)
    got = 0
    with progress("Fetching data", total=total, unit="B", quiet=quiet) as bar:
        def stored(frame: Frame) -> None:
            checkpoint("fetch_data.between_frames")
            bar.update(len(frame.payload))

        for part in chunked(chosen, MAX_DATA_ITEMS):
            header, payload = encode_digest_list(part)
            frames = session.stream("get_data", {**header, "parts": 1}, payload)  # we take objects in parts
            got += receive_frames(store, (f for f in frames if f.kind in ("data", "part")), stored)
    return FetchDataResult(list(commits), got, total, complete=len(chosen) == len(todo))


def _sizes(session: Session, digests: Sequence[str]) -> list[int]:
    out: list[int] = []
    for part in chunked(digests):
        out += session.call("data_sizes", {"digests": part}).header["sizes"]
    missing = [d for d, n in zip(digests, out) if n < 0]
    if missing:
        from ..errors import RemoteDataError
        raise RemoteDataError(f"the remote does not hold {len(missing)} of the requested samples "
                          f"(e.g. {missing[0]}): they were never pushed there")
    return out
