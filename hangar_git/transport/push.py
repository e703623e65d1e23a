"""Push: send a branch's new commits and the data they reference, then move the remote branch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ..bookkeeping.gitrepo import GitRepo, branch_ref, remote_ref
from ..bookkeeping.transfer import BlobReader, COMMIT, KeptBlobs, added_digests, objects_to_send
from ..errors import BranchNotFoundError, NonFastForwardError, ProtocolError, RemoteDataError
from ..faults import checkpoint
from ..storage import Digest, ObjectStore
from .progress import progress
from .rpc import Session
from .datastream import send_data, send_objects
from .wire import MAX_DATA_ITEMS, chunked, encode_digest_list


@dataclass(frozen=True, slots=True)
class PushResult:
    branch: str
    old: str | None
    new: str
    commits: int
    objects: int
    samples: int
    bytes: int

    @property
    def up_to_date(self) -> bool:
        return self.old == self.new


def push(git: GitRepo, store: ObjectStore, session: Session, remote: str, branch: str,
         *, quiet: bool = False) -> PushResult:
    """Push ``branch`` to the remote behind ``session`` (fast-forward only)."""
    local = git.get_ref(branch_ref(branch))
    if local is None:
        raise BranchNotFoundError(branch)
    heads: dict[str, str] = session.call("list_refs").header["heads"]
    old = heads.get(branch)
    if old == local:
        git.set_ref(remote_ref(remote, branch), local)
        return PushResult(branch, old, local, 0, 0, 0, 0)
    if old is not None and (not git.has_object(old) or not git.is_ancestor(old, local)):
        raise NonFastForwardError(remote, branch)
    if session.server_info.get("access") == "r":
        # a read-only key: ask for the ref update alone, so the server's refusal is the answer
        # (after pipelined data it hangs up mid-stream and the client saw a lost connection)
        session.call("update_ref", {"branch": branch, "old": old, "new": local})
    haves = [h for h in heads.values() if git.has_object(h)]
    with progress("Counting objects", quiet=quiet) as bar:
        todo = objects_to_send(git, [local], haves)
        bar.update(len(todo))
    commits = [oid for oid, kind in todo if kind == COMMIT]
    kept = KeptBlobs(git)  # the new shards: read once to list their samples, then sent
    absent_remotely, nbytes = data_to_send(git, store, commits, haves, remote, branch,
                                           lambda digests: remote_missing(session, digests), kept)
    # Pipelined: data, then records, then the ref update go out without waiting for each
    # answer (the server takes them in order, and refuses the ref update unless all of the
    # data and records arrived intact); the answers are collected at the end.
    answers = _send_data(session, store, absent_remotely, nbytes, quiet)
    checkpoint("push.after_data")
    answers += _send_objects(session, git, todo, quiet, kept)
    checkpoint("push.before_update_ref")
    # the server answers each pipelined request as it has checked it: count the answers, so the
    # wait for its verification shows as progress rather than a frozen "0/1"
    with progress("Remote checking and updating ref", total=answers + 1, unit="answer", quiet=quiet) as bar:
        session.send("update_ref", {"branch": branch, "old": old, "new": local})
        for _ in range(answers + 1):
            session.recv()
            bar.update(1)
    git.set_ref(remote_ref(remote, branch), local)
    return PushResult(branch, old, local, len(commits), len(todo), len(absent_remotely), nbytes)


def data_to_send(git: GitRepo, store: ObjectStore, commits: Sequence[str], haves: Sequence[str], remote: str,
                 branch: str, remote_lacks: Callable[[list[str]], list[str]],
                 read: Optional[BlobReader] = None) -> tuple[list[str], int]:
    """The samples ``commits`` add to their parents that the remote lacks, and their size;
    RemoteDataError if any of them is not here either. The remote holds the data of what
    its refs (``haves``) reach, so the parents' samples need no look-up: the cost follows
    the change, not the size of the commits' trees."""
    digests = list(added_digests(git, commits, read=read))
    absent_remotely = remote_lacks(digests)
    local_absent = set(store.missing([Digest(d) for d in absent_remotely]))
    if local_absent:
        raise RemoteDataError(
            f"cannot push {branch!r}: {len(local_absent)} sample(s) its commits reference are on neither "
            f"this machine nor {remote!r} (e.g. {next(iter(local_absent))}); fetch-data them from the "
            f"remote that has them first")
    return absent_remotely, int(store.describe(absent_remotely)[1].sum())  # type: ignore[arg-type]


def remote_missing(session: Session, digests: list[str]) -> list[str]:
    """The digests the remote lacks: binary digest lists, all requests sent before any answer."""
    parts = list(chunked(digests, MAX_DATA_ITEMS))
    for part in parts:
        session.send("missing_data", *encode_digest_list(part))
    out: list[str] = []
    for part in parts:
        reply = session.recv()
        if reply.header.get("count") != len(part) or len(reply.payload) != (len(part) + 7) // 8:
            raise ProtocolError("the remote answered missing_data with a malformed bitmap")
        mask = np.unpackbits(np.frombuffer(reply.payload, dtype=np.uint8), count=len(part)).astype(bool)
        out += [d for d, m in zip(part, mask.tolist()) if m]
    return out


def _send_data(session: Session, store: ObjectStore, digests: list[str], nbytes: int, quiet: bool) -> int:
    """Stream a put_data request; returns how many answers it will get (0 or 1)."""
    if not digests:
        return 0
    with progress("Pushing data", total=nbytes, unit="B", quiet=quiet) as bar:
        session.send("put_data", {"count": len(digests)})
        send_data(store, session, digests, progress=bar, fault="push.between_data_frames",
                  parts=bool(session.server_info.get("data_parts")))
        session.send("end", {})
        session.flush()
    return 1


def _send_objects(session: Session, git: GitRepo, todo: list, quiet: bool, kept: KeptBlobs) -> int:
    """Stream a put_objects request; returns how many answers it will get (0 or 1)."""
    if not todo:
        return 0
    with progress("Pushing commit records", total=len(todo), quiet=quiet) as bar:
        session.send("put_objects", {"count": len(todo)})
        send_objects(git, session, todo, progress=bar, kept=kept)
        session.send("end", {})
        session.flush()
    return 1
