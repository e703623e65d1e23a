"""Push: send a branch's new commits and the data they reference, then move the remote branch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

import numpy as np

from ..bookkeeping.gitrepo import REMOTES, GitRepo, branch_ref, remote_ref
from ..bookkeeping.added import added_raws
from ..bookkeeping.transfer import COMMIT, KeptBlobs, objects_to_send, unverified_reads
from ..errors import (BranchNotFoundError, IntegrityError, NonFastForwardError, ProtocolError,
                      PushDataMissingError, RemoteError)
from ..faults import checkpoint
from ..storage import ObjectStore, digests_to_raw, raws_to_digests
from .progress import progress
from .rpc import Session
from .datastream import Described, send_data, send_objects
from .wire import BATCH_BYTES, MAX_DATA_ITEMS, PUSH_OBJECTS_BYTES


SIZES_SAMPLED = 1000
"""How many of a push's samples are described to tell whether it brings more data than records."""
RECORD_LINE_BYTES = 72
"""About what a sample's line in a record shard takes (hex digest, key, separators): the
records' bytes when the new shards were not read whole (the record cache listed them)."""


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
    """Push ``branch`` to the remote behind ``session`` (fast-forward only).

    What the remote has is what its heads reach, and what the remote-tracking branches of
    ``remote`` reach whose branch it still has (a branch only moves forward there, so it still
    holds them even when it moved on to commits this repository lacks): those commits and their
    data are neither sent nor counted. Should the remote refuse the push as incomplete (such a
    branch was deleted and made again meanwhile), it is pushed again trusting its heads alone."""
    heads: dict[str, str] = session.call("list_refs").header["heads"]
    trusted = _tracked_haves(git, remote, heads)
    try:
        return _push(git, store, session, remote, branch, quiet, heads, trusted)
    except IntegrityError as refused:
        if not trusted:
            raise
        try:
            return _push(git, store, session, remote, branch, quiet, session.call("list_refs").header["heads"], [])
        except RemoteError:  # the remote hung up on the refused push: its refusal is the answer
            raise refused from None


def _tracked_haves(git: GitRepo, remote: str, heads: dict[str, str]) -> list[str]:
    """The heads of ``remote``'s remote-tracking branches of branches it still has, other than its heads."""
    return [oid for name, oid in git.list_refs(f"{REMOTES}{remote}/").items()
            if name in heads and oid != heads[name] and git.has_object(oid)]


def _push(git: GitRepo, store: ObjectStore, session: Session, remote: str, branch: str, quiet: bool,
          heads: dict[str, str], trusted: list[str]) -> PushResult:
    local = git.get_ref(branch_ref(branch))
    if local is None:
        raise BranchNotFoundError(branch)
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
    haves += trusted
    with progress("Counting objects", quiet=quiet) as bar:
        todo = objects_to_send(git, [local], haves)
        bar.update(len(todo))
    commits = [oid for oid, kind in todo if kind == COMMIT]
    kept = KeptBlobs(git)  # the new shards: read once to list their samples, then sent
    raws = added_raws(git, commits, read=kept)
    lacks = ask_remote_absent(session, raws) if len(raws) else None
    # Pipelined: records and data, then the ref update, go out without waiting for each answer
    # (the server takes them in order, and refuses the ref update unless all of the records and
    # data arrived intact); the answers are collected at the end. The larger part goes last: the
    # server works through it while the smaller travels first (much data: the records' packing,
    # and what the new commit adds, are worked out while the data travels and the wait for the
    # remote's answer is filled; little data: its durable write overlaps the records). A
    # sample of the data is described to choose; all of it is described before it is sent.
    if _data_bytes_about(store, raws) >= max(kept.nbytes, len(raws) * RECORD_LINE_BYTES):
        answers = _send_objects(session, git, todo, quiet, kept)
        checkpoint("push.after_records")
        sending = data_to_send(store, raws, lacks, remote, branch)
        answers += _send_data(session, store, sending, quiet)
        checkpoint("push.after_data")
    else:
        sending = data_to_send(store, raws, lacks, remote, branch)
        answers = _send_data(session, store, sending, quiet)
        checkpoint("push.after_data")
        answers += _send_objects(session, git, todo, quiet, kept)
        checkpoint("push.after_records")
    checkpoint("push.before_update_ref")
    # the server answers each pipelined request as it has checked it: count the answers, so the
    # wait for its verification shows as progress rather than a frozen "0/1"
    with progress("Remote checking and updating ref", total=answers + 1, unit="answer", quiet=quiet) as bar:
        session.send("update_ref", {"branch": branch, "old": old, "new": local})
        for _ in range(answers + 1):
            session.recv()
            bar.update(1)
    git.set_ref(remote_ref(remote, branch), local)
    return PushResult(branch, old, local, len(commits), len(todo), len(sending.raws), sending.nbytes)


class DataToSend(NamedTuple):
    """The samples a push brings: raw digests, how the store describes them, their bytes."""

    raws: np.ndarray
    described: Described
    nbytes: int

    def digests(self) -> list[str]:
        return list(raws_to_digests(self.raws))


def data_to_send(store: ObjectStore, raws: np.ndarray, lacks: Optional[Callable[[], np.ndarray]], remote: str,
                 branch: str) -> DataToSend:
    """Of the samples a push adds (raw digests: :func:`~..bookkeeping.added.added_raws` of its
    new commits), the ones the remote lacks, described by the store; PushDataMissingError if any of
    them is not here either. ``lacks`` reads the remote's answer to the question asked before
    (a mask, True where it lacks one; None: it lacks all): the store describes the samples
    while the question travels. The remote holds the data of what its refs reach, so the
    parents' samples need no look-up: the cost follows the change, not the size of the
    commits' trees."""
    table, meta_index, sizes = store.describe_raws(raws)
    if lacks is not None:
        mask = lacks()
        raws, meta_index, sizes = raws[mask], meta_index[mask], sizes[mask]
    local_absent = np.flatnonzero(sizes < 0)
    if len(local_absent):
        absent = list(raws_to_digests(raws[local_absent]))
        raise PushDataMissingError(
            f"cannot push {branch!r} to {remote!r}: {len(absent)} sample(s) its commits reference have "
            f"their data on neither this machine nor {remote!r} (e.g. object {absent[0]}): fetch-data them "
            f"from a remote that has them first", remote=remote, branch=branch, digests=absent)
    return DataToSend(raws, (table, meta_index, sizes), int(sizes.sum()))


def _data_bytes_about(store: ObjectStore, raws: np.ndarray) -> int:
    """About how many bytes the samples of ``raws`` take here: :data:`SIZES_SAMPLED` of them
    described, scaled (describing all of 100,000 takes 15 ms, with the remote waiting)."""
    step = max(1, len(raws) // SIZES_SAMPLED)
    sizes = store.describe_raws(raws[::step])[2]
    return int(sizes[sizes > 0].sum()) * step


def remote_missing(session: Session, digests: list[str]) -> list[str]:
    """The digests the remote lacks (see :func:`remote_absent`)."""
    mask = remote_absent(session, digests_to_raw(digests)).tolist()
    return [d for d, m in zip(digests, mask) if m]


def remote_absent(session: Session, raws: np.ndarray) -> np.ndarray:
    """Per raw digest, True where the remote lacks it: binary digest lists, all requests sent
    before any answer."""
    return ask_remote_absent(session, raws)()


def ask_remote_absent(session: Session, raws: np.ndarray) -> Callable[[], np.ndarray]:
    """Send :func:`remote_absent`'s requests now; returns what reads their answers (the mask)."""
    parts = [raws[i:i + MAX_DATA_ITEMS] for i in range(0, len(raws), MAX_DATA_ITEMS)]
    for part in parts:
        session.send("missing_data", {"count": len(part)}, part.tobytes())
    session.flush()

    def answers() -> np.ndarray:
        masks = [np.zeros(0, dtype=bool)]
        for part in parts:
            reply = session.recv()
            if reply.header.get("count") != len(part) or len(reply.payload) != (len(part) + 7) // 8:
                raise ProtocolError("the remote answered missing_data with a malformed bitmap")
            masks.append(np.unpackbits(np.frombuffer(reply.payload, dtype=np.uint8), count=len(part)).astype(bool))
        return np.concatenate(masks)
    return answers


def _send_data(session: Session, store: ObjectStore, sending: DataToSend, quiet: bool) -> int:
    """Stream a put_data request; returns how many answers it will get (0 or 1)."""
    if not len(sending.raws):
        return 0
    with progress("Pushing data", total=sending.nbytes, unit="B", quiet=quiet) as bar:
        session.send("put_data", {"count": len(sending.raws)})
        send_data(store, session, sending.raws, progress=bar, fault="push.between_data_frames",
                  parts=bool(session.server_info.get("data_parts")), described=sending.described)
        session.send("end", {})
        session.flush()
    return 1


def _send_objects(session: Session, git: GitRepo, todo: list, quiet: bool, kept: KeptBlobs) -> int:
    """Stream a put_objects request; returns how many answers it will get (0 or 1)."""
    if not todo:
        return 0
    with progress("Pushing commit records", total=len(todo), quiet=quiet) as bar:
        session.send("put_objects", {"count": len(todo)})
        small = bool(session.server_info.get("objects_stream"))  # it packs them as they arrive
        with unverified_reads():  # the server checks each against its id before it keeps any
            send_objects(git, session, todo, progress=bar, kept=kept,
                         batch_bytes=PUSH_OBJECTS_BYTES if small else BATCH_BYTES)
        session.send("end", {})
        session.flush()
    return 1
