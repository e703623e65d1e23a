"""What both ends stream: git objects (``objects`` frames) and sample data (``data`` and
``part`` frames), sent and received.

Used by the server's handlers (fetch_objects, put_objects, get_data, put_data) and by the
client's fetch, push and fetch-data. Senders read ahead of what they send and do not
re-hash; receivers check every git object against its id and every sample against its
digest before keeping it (see :func:`receive_frames`).
"""
from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from ..bookkeeping.gitrepo import GitRepo
from ..bookkeeping.packstream import PackStream
from ..bookkeeping.transfer import BLOB, KeptBlobs, check_all, read_raw, write_raw
from ..errors import IntegrityError, ProtocolError, RemoteDataError
from ..faults import checkpoint
from ..storage import Digest, IncomingObject, ObjectBatch, ObjectStore, digests_to_raw, raw_to_digest, raws_to_digests
from .framing import Frame
from .objectdamage import refused, remote_damage
from .wire import (BATCH_BYTES, LARGE_BATCH_BYTES, LARGE_OBJECT, MAX_BATCH_ITEMS, MAX_DATA_ITEMS, MAX_WHOLE_OBJECT,
                   PART_BYTES, Part, batch_bounds, check_oids, decode_data, decode_part, encode_data_table,
                   encode_part, split_payload)

# -- git objects ---------------------------------------------------------------------------------
def receive_objects(git: GitRepo, frame: Frame, kept: Optional[KeptBlobs] = None,
                    pack: Optional[PackStream] = None) -> int:
    """Verify and store one ``objects`` frame (into ``pack``, when given, else as its own
    pack or loose objects); returns how many it held. Blobs are also handed to ``kept``
    (after they were checked)."""
    if frame.kind != "objects":
        raise ProtocolError(f"expected an objects frame, got {frame.kind!r}")
    oids = check_oids(frame.header.get("oids"))
    types = frame.header.get("types")
    if not isinstance(types, list) or len(types) != len(oids) or not all(isinstance(t, int) for t in types):
        raise ProtocolError("bad object types")
    parts = [bytes(p) for p in split_payload(frame.header.get("sizes"), frame.payload, len(oids))]
    objects = list(zip(oids, types, parts))
    if pack is None:
        write_raw(git, objects)
    else:
        check_all(objects)
        pack.add(objects)
    if kept is not None:
        for oid, kind, data in zip(oids, types, parts):
            if kind == BLOB:
                kept.keep(oid, data)
    return len(oids)


def send_objects(git: GitRepo, stream: Any, todo: list, progress: Optional[Any] = None,
                 kept: Optional[KeptBlobs] = None, batch_bytes: int = BATCH_BYTES) -> None:
    """Stream git objects as ``objects`` frames of up to ``MAX_BATCH_ITEMS`` objects and about
    ``batch_bytes`` each, so neither end holds more than two such frames (the shards of a
    million-sample column are ~75 MB); the next frame's objects are read (inflated) on a
    thread while one is sent; blobs ``kept`` are taken from there, not read again."""
    for oids, raw in _read_ahead(_object_batches(git, todo, kept, batch_bytes)):
        _send_objects_frame(stream, oids, raw, progress)


def _object_batches(git: GitRepo, todo: list, kept: Optional[KeptBlobs],
                    batch_bytes: int) -> Iterator[tuple[list[str], list[tuple[int, bytes]]]]:
    """(ids, (type, bytes) of each) of the objects of each ``objects`` frame, read as needed."""
    oids: list[str] = []
    raw: list[tuple[int, bytes]] = []
    nbytes = 0
    for oid, _ in todo:
        item = kept.take(oid) if kept is not None else read_raw(git, oid)
        oids.append(oid)
        raw.append(item)
        nbytes += len(item[1])
        if len(oids) == MAX_BATCH_ITEMS or nbytes >= batch_bytes:
            yield oids, raw
            oids, raw, nbytes = [], [], 0
    if oids:
        yield oids, raw


def _send_objects_frame(stream: Any, oids: list[str], raw: list[tuple[int, bytes]], progress: Optional[Any]) -> None:
    stream.send("objects", {"oids": oids, "types": [t for t, _ in raw], "sizes": [len(d) for _, d in raw]},
                [d for _, d in raw])
    if progress is not None:
        progress.update(len(oids))


# -- sample data ---------------------------------------------------------------------------------
GATHER_MAX = 1 << 16  # objects this small are sent from one gather per batch
RECEIVE_AHEAD = 2
SMALL_OBJECTS = 1 << 16
"""Frames whose objects average fewer bytes are staged one after another on one thread:
hashing small objects holds the GIL, so two such frames staged at once both finish late
(and the first one's commit waits); frames of large objects are staged in parallel."""
"""Data frames verified (and their large objects written) at once while the next arrives."""


def receive_frames(store: ObjectStore, frames: Iterable[Frame],
                   on_stored: Callable[[Frame], None] = lambda frame: None, *, uncached: bool = False,
                   fault: str = "") -> int:
    """Verify and store ``data`` and ``part`` frames; returns how many objects they held.

    Frames are staged (verified, large objects written to temporary files)
    on worker threads, up to ``RECEIVE_AHEAD`` at once (frames of small objects one at a
    time: see ``SMALL_OBJECTS``), and parts are fed to
    their object's digest on one more thread, in order, while
    the next ones are read off the wire, so the network, hashing and disk
    overlap; one committer thread keeps each as soon as it is staged, in
    order (an object in parts once its last part matched its digest).
    Nothing of a frame that fails verification is kept, nor of any after
    it; if the stream itself breaks, what had arrived is kept (a retry
    resumes; an object cut off in its parts starts again). ``on_stored`` is
    called, in order and on this thread, as frames are durable.
    ``uncached`` is passed on to :meth:`ObjectStore.stage_batch` (objects in parts are
    written through the page cache: their file starts with an unaligned header).
    ``fault`` names the kill point (:mod:`hangar_git.faults`) passed as each frame is kept,
    before the next one is: a crash there leaves some frames kept and the later ones not.
    """
    stored = 0
    inflight: deque[tuple[Frame, Future]] = deque()
    failed = threading.Event()
    parts = _PartsInOrder(store)

    def commit(keep: Callable[[], int], drop: Callable[[], None]) -> int:
        if failed.is_set():
            drop()
            raise RemoteDataError("not kept: an earlier data frame was refused")
        try:
            kept = keep()
        except BaseException:
            failed.set()
            raise
        if fault:
            checkpoint(fault)
        return kept

    def finish_oldest() -> None:
        nonlocal stored
        frame, committing = inflight.popleft()
        stored += committing.result()
        on_stored(frame)

    with ThreadPoolExecutor(RECEIVE_AHEAD, thread_name_prefix="hangar-receive") as stagers, \
            ThreadPoolExecutor(1, thread_name_prefix="hangar-receive-small") as small_stager, \
            ThreadPoolExecutor(1, thread_name_prefix="hangar-digest") as hasher, \
            ThreadPoolExecutor(1, thread_name_prefix="hangar-commit") as committer:
        try:
            for frame in frames:
                if frame.kind == "part":
                    part, incoming = parts.accept(frame)
                    hashing = hasher.submit(incoming.hash, part.offset, part.data)  # one thread: in order
                    keep, drop = partial(_keep_part, store, incoming, part, hashing), _nothing
                else:
                    parts.check_between_objects()
                    pool = small_stager if _small_objects(frame) else stagers
                    staging = pool.submit(stage_data, store, frame, uncached)
                    keep, drop = partial(_keep_data, store, staging), partial(_drop_data, store, staging)
                inflight.append((frame, committer.submit(commit, keep, drop)))
                while inflight and (inflight[0][1].done() or len(inflight) > RECEIVE_AHEAD + 1):
                    finish_oldest()
            parts.check_between_objects()
            while inflight:
                finish_oldest()
        finally:  # the stream broke or a frame was refused: let the others settle first
            for _, committing in inflight:
                committing.exception()
            parts.discard_unfinished()
    return stored


def _small_objects(frame: Frame) -> bool:
    """Whether a data frame's objects average under ``SMALL_OBJECTS`` bytes (from its header)."""
    count = frame.header.get("count")
    return type(count) is int and count > 0 and len(frame.payload) < count * (32 + SMALL_OBJECTS)


class _PartsInOrder:
    """The receiving side's view of objects arriving in parts: one at a time, in order."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.current: Optional[IncomingObject] = None
        self.next_offset = 0
        self.opened: list[IncomingObject] = []

    def accept(self, frame: Frame) -> tuple[Part, IncomingObject]:
        """Check a ``part`` frame follows the previous one; returns it and its object."""
        part = decode_part(frame.header, frame.payload)
        if self.current is None:
            if part.offset != 0:
                raise ProtocolError(f"object {part.digest} began at byte {part.offset}, not 0")
            self.current = self.store.receive_object(part.digest, part.meta, part.size)
            self.opened.append(self.current)
            self.next_offset = 0
        incoming = self.current
        if (part.digest, part.meta, part.size, part.offset) != (incoming.digest, incoming.meta, incoming.size,
                                                                self.next_offset):
            raise ProtocolError(f"a part of object {part.digest} at byte {part.offset} does not follow "
                                f"byte {self.next_offset} of object {incoming.digest}")
        self.next_offset += len(part.data)
        if part.last:
            self.current = None
        return part, incoming

    def check_between_objects(self) -> None:
        """ProtocolError unless no object is halfway through its parts."""
        if self.current is not None:
            raise ProtocolError(f"object {self.current.digest} stopped after {self.next_offset} of its "
                                f"{self.current.size} bytes")

    def discard_unfinished(self) -> None:
        for incoming in self.opened:
            if not incoming.kept:
                incoming.discard()


def _nothing() -> None:
    return None


def _drop_data(store: ObjectStore, staging: Future) -> None:
    if staging.exception() is None:
        store.discard_staged(staging.result()[1])


def _keep_data(store: ObjectStore, staging: Future) -> int:
    batch, staged = staging.result()
    store.commit_batch(staged)
    return len(batch)


def _keep_part(store: ObjectStore, incoming: IncomingObject, part: Part, hashing: Future) -> int:
    hashing.result()
    if not incoming.add(part.offset, part.data):
        return 0
    try:
        staged = incoming.finish()
    except IntegrityError as exc:
        raise refused(exc) from None
    store.commit_batch(staged)
    return 1


def stage_data(store: ObjectStore, frame: Frame, uncached: bool = False) -> tuple[ObjectBatch, Any]:
    """Decode and stage (verify) one ``data`` frame: (its batch, what to commit)."""
    if frame.kind != "data":
        raise ProtocolError(f"expected a data frame, got {frame.kind!r}")
    batch = decode_data(frame.header, frame.payload)
    try:
        return batch, store.stage_batch(batch, uncached=uncached)  # all verified before any is kept
    except IntegrityError as exc:
        if not exc.expected:
            raise
        raise refused(exc) from None


Described = tuple[list[str], np.ndarray, np.ndarray]
"""What :meth:`ObjectStore.describe_raws` answers: (metas, meta_index, sizes)."""


def send_data(store: ObjectStore, stream: Any, digests: Sequence[str] | np.ndarray, progress: Optional[Any] = None,
              fault: str = "", parts: bool = False, described: Optional[Described] = None) -> int:
    """Stream objects as ``data`` frames (read from the store; the receiver verifies them).

    ``digests`` are hex digests or raw ones (an ``S32`` array: nothing is
    converted per object); ``described`` is what ``store.describe_raws``
    answered for them, when the caller already asked. The next frame's
    objects are read while the current one is sent. With ``parts`` (the
    receiver takes them), objects over ``PART_BYTES`` go as ``part``
    frames, one object at a time. ``fault`` names the kill point
    (:mod:`hangar_git.faults`) passed after each frame.
    """
    raws = digests if isinstance(digests, np.ndarray) else digests_to_raw(list(digests))
    table, meta_index, sizes = described if described is not None else store.describe_raws(raws)
    absent = np.flatnonzero(sizes < 0)
    damaged = store.damaged(raws_to_digests(raws[absent])) if len(absent) else []
    if damaged:
        raise remote_damage(len(damaged), damaged[0])
    if len(absent):
        raise RemoteDataError(f"the remote does not hold {len(absent)} requested object(s) "
                              f"(e.g. {raw_to_digest(raws[absent[0]])}); they may have been pushed to "
                              f"another remote")
    in_parts = sizes > (PART_BYTES if parts else MAX_WHOLE_OBJECT)
    if in_parts.any() and not parts:
        i = int(np.flatnonzero(in_parts)[0])
        raise RemoteDataError(f"sample {raw_to_digest(raws[i])} is {int(sizes[i]):,} bytes, and the receiving "
                              f"side runs a hangar-git that takes at most {MAX_WHOLE_OBJECT:,} bytes per sample: "
                              f"upgrade it there")
    sent = 0
    with ThreadPoolExecutor(1, thread_name_prefix="hangar-send-ahead") as reader:
        ahead = None
        for rows in _data_batches(np.flatnonzero(~in_parts), sizes):
            batch = (raws[rows], meta_index[rows], sizes[rows])
            loading = reader.submit(_batch_payload, store, table, *batch)
            if ahead is not None:
                sent += _send_batch(stream, *ahead, progress, fault)
            ahead = (table, *batch, loading)
        if ahead is not None:
            sent += _send_batch(stream, *ahead, progress, fault)
    for i in np.flatnonzero(in_parts).tolist():
        sent += _send_in_parts(store, stream, raw_to_digest(raws[i]), table[meta_index[i]], int(sizes[i]),
                               progress, fault)
    return sent


def _send_in_parts(store: ObjectStore, stream: Any, digest: str, meta: Any, size: int,
                   progress: Optional[Any], fault: str) -> int:
    """Stream one object as ``part`` frames, reading the next part while one is sent."""
    for offset, data in _read_ahead(store.read_parts(Digest(digest), PART_BYTES)):
        stream.send("part", encode_part(digest, meta, size, offset), data)
        if progress is not None:
            progress.update(len(data))
        if fault:
            checkpoint(fault)
    return 1


def _read_ahead(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, the next one fetched on a thread while the caller handles the current one."""
    with ThreadPoolExecutor(1, thread_name_prefix="hangar-send-ahead") as reader:
        pending = reader.submit(next, items, None)
        while (item := pending.result()) is not None:
            pending = reader.submit(next, items, None)
            yield item


def _send_batch(stream: Any, table: list[str], raws: np.ndarray, meta_index: np.ndarray, sizes: np.ndarray,
                loading: Future, progress: Optional[Any], fault: str) -> int:
    read_metas, payload = loading.result()
    if read_metas is not None:  # read one by one: the metas the store answered with
        table, meta_index = read_metas
    stream.send("data", *encode_data_table(raws, table, meta_index, sizes, payload))
    if progress is not None:
        progress.update(int(sizes.sum()))
    if fault:
        checkpoint(fault)
    return len(raws)


def _batch_payload(store: ObjectStore, table: list[str], raws: np.ndarray, meta_index: np.ndarray,
                   sizes: np.ndarray) -> tuple[Optional[tuple[list[str], np.ndarray]], Any]:
    """(metas read as (table, meta_index), or None to use the described ones; the objects'
    bytes) of one frame."""
    payload: Any = _gathered(store, raws, sizes)
    if payload is not None:
        return None, payload
    read_metas: dict[str, int] = {}
    index, parts = [], []
    # not re-hashed here: the receiver verifies every object before it keeps any
    for _, meta, data in store.read_many(raws_to_digests(raws), verify=False):
        index.append(read_metas.setdefault(meta, len(read_metas)))
        # a small object is a view into a cached chunk: copied, so that a frame of objects from
        # many chunks does not keep every chunk alive (a 1M-row push held 13.8 GB of them)
        parts.append(data if len(data) >= LARGE_OBJECT else bytes(data))
    return (list(read_metas), np.array(index, dtype=np.int64)), parts


FIRST_BATCH_BYTES = 4 << 20
"""The first frame of small objects holds about this many bytes, each next one twice the one
before, up to ``BATCH_BYTES``: the receiver starts verifying once the first 4 MB are in, not
8 MB (100,000 rows of 117 bytes still go in two frames, two packs: a 1 MB first frame made
four, whose fixed costs took back what the earlier start gave on a loaded machine). Same-run
medians of 6 each, load 4.5: fetch-data of those rows 0.32 s against 0.44-0.49 s with 8 MB,
push 0.42-0.66 s against 0.71-0.80 s, CPU unchanged."""


def _data_batches(rows: np.ndarray, sizes: np.ndarray) -> Iterator[np.ndarray]:
    """Rows of ``sizes`` in each data frame (of ``rows``): small objects in frames growing from
    ``FIRST_BATCH_BYTES`` to ``BATCH_BYTES``, large ones (which the receiver writes in
    parallel) up to ``LARGE_BATCH_BYTES``."""
    large = sizes[rows] >= LARGE_OBJECT
    for group, limit, first in ((rows[~large], BATCH_BYTES, FIRST_BATCH_BYTES), (rows[large], LARGE_BATCH_BYTES, 0)):
        for lo, hi in batch_bounds(sizes[group], MAX_DATA_ITEMS, limit, first):
            yield group[lo:hi]


def _gathered(store: ObjectStore, raws: np.ndarray, sizes: np.ndarray) -> Optional[memoryview]:
    """A batch of small same-sized objects read in one vectorised gather, or None.

    None when sizes differ, objects are large, or the store did not serve
    them all (buffered objects, backends without a batch path): the caller
    then reads them one by one.
    """
    size = int(sizes[0])
    if len(sizes) < 2 or size >= GATHER_MAX or not (sizes == size).all():
        return None
    rows, found = store.gather(raws, size)
    return rows.data if found.all() else None
