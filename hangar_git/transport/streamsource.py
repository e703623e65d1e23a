"""Where a streaming checkout gets objects it does not hold: a hangar server over one reused
session, or a git remote's data store read directly.

A source hands over verified objects only (each data frame is checked against its
digests before any of it is passed on) and says which asked-for objects the remote
does not hold. The server side is the existing ``get_data`` request (``data_sizes``
only after the server answered that it lacks something), asked for many objects at
once: never one request per sample.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable, Optional, Protocol, Sequence

import numpy as np

from .. import forks
from ..errors import ConnectionClosed, HangarError, IntegrityError, ProtocolError, RemoteDataError, RemoteError
from ..storage import Digest, IncomingObject, Meta, ObjectStore, verify_batch
from .objectdamage import naming_remote, remote_damage
from .framing import Frame
from .rpc import Session
from .streamwait import Opening, Watchdog
from .wire import MAX_BATCH_ITEMS, MAX_DATA_ITEMS, chunked, decode_data, decode_part, encode_digest_list

Entries = list[tuple[Digest, Meta, bytes]]
Got = Callable[[Entries], None]
"""Takes verified objects as they arrive, many at a time (a data frame's worth)."""
DELIVER_BYTES = 1 << 20
"""Objects are handed on in lists of about this many bytes (a frame of small rows in one)."""
STALL_SECONDS = 60.0
"""How long a streaming request may wait for the remote's next frame before it gives up."""


class ObjectSource(Protocol):
    """Objects of one remote, fetched in batches."""

    remote: str
    bytes_received: int
    requests: int

    def get(self, digests: Sequence[str], got: Got) -> list[str]:
        """Pass the ``digests`` the remote holds to ``got`` (verified, in lists as they arrive);
        returns the others."""

    @property
    def connected(self) -> bool:
        """Whether a request would go out now, without first opening a connection."""

    def connect_ahead(self) -> None:
        """Begin opening the connection in the background (a failure waits for the next request)."""

    def connecting(self) -> bool:
        """Whether :meth:`connect_ahead` is still opening the connection."""

    def close(self) -> None: ...


class SessionObjects:
    """A hangar server's objects over one session, opened on first need and kept.

    A session that breaks is opened again once, transparently, for what was
    not yet received; a second failure is a RemoteError naming the remote. A
    remote that keeps the connection open but sends nothing for ``stall``
    seconds while a request waits, or while the session is opened (on a thread
    of its own: :class:`~.streamwait.Opening`), is hung up on: a RemoteError
    naming it, at once, and again at once for any read in the next ``stall``
    seconds (no thread waits out the same hang twice). A process that inherited
    this object (a forked DataLoader worker) opens its own session and never
    touches its parent's (:mod:`hangar_git.forks`).
    """

    def __init__(self, remote: str, connect: Callable[[], Session], stall: float = STALL_SECONDS, *,
                 fetch_command: str) -> None:
        self.remote = remote
        self.fetch_command = fetch_command  # the fetch-data that gets the checkout's data (api/hints.py)
        self._connect = connect
        self._session: Optional[Session] = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.stall = stall
        self._watch: Optional[Watchdog] = None
        self._hung: Optional[tuple[float, RemoteError]] = None
        self._opening: Optional[Opening[Session]] = None
        self._opening_lock = threading.Lock()
        self.requests = 0
        self.connections = 0
        self.bytes_received = 0
        forks.in_child(self)

    def after_fork_in_child(self) -> None:
        """Forget the parent's session, threads and lock (a fork may have copied them mid-use: the
        parent's connection is not this process's to use or close); this one connects anew."""
        forks.set_aside((self._session, self._opening, self._watch))
        self._session, self._pid, self._watch, self._opening, self._hung = None, os.getpid(), None, None, None
        self._lock, self._opening_lock = threading.Lock(), threading.Lock()

    def _here(self) -> threading.Lock:
        """This process's lock (a fork that skipped Python's fork hooks is noticed by pid)."""
        if self._pid != os.getpid():
            self.after_fork_in_child()
        return self._lock

    def _open(self) -> Session:
        """The session (under the lock): the open one, else the one being opened (begun now if
        none is), waited for until the stream timeout counted from when its opening began."""
        if self._session is not None:
            return self._session
        opening = self._begin()
        assert opening is not None
        session: Optional[Session] = None
        try:
            session = opening.result()
        finally:
            with self._opening_lock:
                self._opening = None
                if session is not None:
                    self._session = session
        if session is None:
            opening.abandon()  # a new one once this hang's errors are over
            raise self._hang_up("while a connection to it was being opened")
        self.connections += 1
        return session

    def _begin(self) -> Optional[Opening[Session]]:
        """The opening under way, or a new one (None once connected)."""
        with self._opening_lock:
            if self._session is None and self._opening is None:
                self._opening = Opening(self._connect, self.stall, lambda session: session.close(graceful=False))
            return self._opening

    @property
    def connected(self) -> bool:
        opening = self._opening
        return self._pid == os.getpid() and (self._session is not None or (opening is not None and opening.opened))

    def connect_ahead(self) -> None:
        self._here()
        self._begin()

    def connecting(self) -> bool:
        """Whether :meth:`connect_ahead` is still opening the connection (within the stream timeout)."""
        opening = self._opening
        return opening is not None and self._pid == os.getpid() and opening.pending

    def _hang_up(self, when: str) -> RemoteError:
        """The stream-timeout error, remembered: reads in the next ``stall`` seconds fail at once."""
        error = RemoteError(
            f"remote {self.remote!r} sent nothing for {self.stall:g} s {when} and was hung up on; samples "
            f"already read stay valid: check the remote (or the network to it), then read again or open a "
            f"new checkout")
        self._hung = (time.monotonic(), error)
        return error

    def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close(graceful=False)

    def get(self, digests: Sequence[str], got: Got) -> list[str]:
        todo = list(dict.fromkeys(digests))
        received: set[str] = set()

        def keep(entries: Entries) -> None:
            received.update(d for d, _, _ in entries)
            got(entries)

        with self._here():
            hung = self._hung
            if hung is not None and time.monotonic() < hung[0] + self.stall:
                raise RemoteError(str(hung[1]))
            for attempt in (0, 1):
                try:
                    return self._watched(self._open(), todo, keep)
                except IntegrityError as exc:
                    self._drop()  # the rest of that answer is still on the wire
                    raise naming_remote(exc, self.remote) or IntegrityError(  # damage found there, or in transit
                        f"remote {self.remote!r} sent damaged data: {exc}", expected=exc.expected, got=exc.got) from None
                except (RemoteDataError, RemoteError, OSError) as exc:
                    hung = self._hung
                    if isinstance(exc, RemoteDataError) or not _connection_failure(exc) or (hung and hung[1] is exc):
                        raise
                    self._drop()
                    if self._watch is not None and self._watch.fired:
                        raise self._hang_up("while streaming") from None
                    if attempt:
                        raise self._failed(exc) from None
                    todo = [d for d in todo if d not in received]
        raise AssertionError("unreachable")

    def _failed(self, exc: BaseException) -> RemoteError:
        """The error for a second failed attempt: a remote never reached (a wrong address, a
        server that is down) is told apart from one that stopped answering mid-stream."""
        if self.connections == 0:
            return RemoteError(
                f"remote {self.remote!r} cannot be reached to stream samples ({exc}): check its address "
                f"(`git hangar remote -v`) and that it is up, or fetch the data with "
                f"`{self.fetch_command}` and check out without streaming")
        return RemoteError(
            f"remote {self.remote!r} stopped answering while streaming ({exc}); samples "
            f"already read stay valid: check the remote, then read again or open a new checkout")

    def _watched(self, session: Session, digests: list[str], got: Got) -> list[str]:
        """:meth:`_get` with the watchdog armed: a stall closes ``session`` under the reader."""
        if self._watch is None:
            self._watch = Watchdog(self.stall)
        watch = self._watch
        watch.arm(lambda: session.close(graceful=False))
        try:
            return self._get(session, digests, got)
        finally:
            watch.disarm()

    def _get(self, session: Session, digests: list[str], got: Got) -> list[str]:
        absent: list[str] = []
        for part in chunked(digests, MAX_DATA_ITEMS):
            try:
                self._request(session, part, got)
            except RemoteDataError:  # it lacks some: ask which (the session is kept after this refusal)
                lacking = self._absent(session, part)
                if not lacking:
                    raise
                absent += lacking
                held = [d for d in part if d not in set(lacking)]
                if held:
                    self._request(session, held, got)
        return absent

    def _request(self, session: Session, digests: list[str], got: Got) -> None:
        header, payload = encode_digest_list(digests)
        self.requests += 1
        incoming: Optional[IncomingObject] = None
        watch = self._watch
        for frame in session.stream("get_data", {**header, "parts": 1}, payload):
            if watch is not None:
                watch.beat()
            self.bytes_received += len(frame.payload)
            if frame.kind == "data":
                _deliver(frame, got)
            elif frame.kind == "part":
                incoming = _add_part(incoming, frame, got)
            elif frame.kind != "ok":
                raise ProtocolError(f"{self.remote}: unexpected {frame.kind!r} frame in a get_data answer")
        if incoming is not None:
            raise ProtocolError(f"{self.remote}: object {incoming.digest} stopped halfway through its parts")

    def _absent(self, session: Session, digests: list[str]) -> list[str]:
        out: list[str] = []
        for part in chunked(digests, MAX_BATCH_ITEMS):
            sizes = session.call("data_sizes", {"digests": part}).header.get("sizes", [])
            out += [d for d, n in zip(part, sizes) if n < 0]
        return out

    def close(self) -> None:
        if self._pid == os.getpid():
            with self._lock:
                session, self._session = self._session, None
                opening, self._opening = self._opening, None
                if opening is not None:
                    opening.abandon()
                if session is not None:
                    session.close()


def _connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` means the session itself broke (worth one new connection)."""
    return isinstance(exc, (OSError, ConnectionClosed, ProtocolError)) or type(exc) is RemoteError


def _deliver(frame: Frame, got: Got) -> None:
    batch = decode_data(frame.header, frame.payload)
    verify_batch(batch)  # all of the frame checked before any of it is handed on
    if not len(batch):
        return
    data = batch.data
    ends = np.cumsum(batch.sizes).tolist()
    starts = [0, *ends[:-1]]
    metas = [Meta(m) for m in batch.metas]
    entries: Entries = []
    held = 0
    for d, j, a, b in zip(batch.digests(), batch.meta_index.tolist(), starts, ends):
        entries.append((d, metas[j], bytes(data[a:b])))
        held += b - a
        if held >= DELIVER_BYTES:  # large objects: a few at a time, so copies never pile up
            got(entries)
            entries, held = [], 0
    if entries:
        got(entries)


def _add_part(incoming: Optional[IncomingObject], frame: Frame, got: Got) -> Optional[IncomingObject]:
    """Feed a ``part`` frame to its object; hands the object on when complete and verified."""
    part = decode_part(frame.header, frame.payload)
    if incoming is None:
        if part.offset != 0:
            raise ProtocolError(f"object {part.digest} began at byte {part.offset}, not 0")
        incoming = IncomingObject(part.digest, part.meta, part.size)
    elif part.digest != incoming.digest:
        raise ProtocolError(f"object {incoming.digest} stopped halfway through its parts")
    incoming.hash(part.offset, part.data)
    if not incoming.add(part.offset, part.data):
        return incoming
    batch = incoming.finish()  # IntegrityError when the whole does not match its digest
    got([(incoming.digest, incoming.meta, bytes(batch.data))])
    return None


class StoreObjects:
    """A git remote's data store (an S3 prefix or shared folder), read directly; opened at the
    first request, which a fork waits for (see :mod:`hangar_git.forks`)."""

    def __init__(self, remote: str, open_store: Callable[[], ObjectStore], close: Callable[[], None]) -> None:
        self.remote = remote
        self._open_store = open_store
        self._close = close
        self._store: Optional[ObjectStore] = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.requests = 0
        self.bytes_received = 0
        forks.in_child(self)

    def after_fork_in_child(self) -> None:
        """Forget the parent's store and lock: this process opens its own."""
        forks.set_aside(self._store)
        self._store, self._pid, self._lock = None, os.getpid(), threading.Lock()

    def get(self, digests: Sequence[str], got: Got) -> list[str]:
        if self._pid != os.getpid():
            self.after_fork_in_child()
        with self._lock:
            if self._store is None:
                with forks.unforked(STALL_SECONDS):
                    self._store = self._open_store()
            store = self._store
            self.requests += 1
            wanted = [Digest(d) for d in dict.fromkeys(digests)]
            try:
                absent = set(store.missing(wanted))
                damaged = store.damaged([d for d in wanted if d in absent]) if absent else []
                for digest, meta, data in store.read_many([d for d in wanted if d not in absent]):
                    self.bytes_received += len(data)
                    got([(digest, meta, bytes(data))])
            except IntegrityError as exc:
                raise IntegrityError(f"remote {self.remote!r} holds damaged data: {exc}",
                                     expected=exc.expected, got=exc.got) from None
            except HangarError:
                raise
            except OSError as exc:
                raise RemoteError(f"remote {self.remote!r}: its data store stopped answering ({exc})") from None
            if damaged:
                raise remote_damage(len(damaged), damaged[0], self.remote)
            return [d for d in wanted if d in absent]

    @property
    def connected(self) -> bool:
        return self._store is not None and self._pid == os.getpid()

    def connect_ahead(self) -> None:
        """Nothing to do ahead: the data store opens at the first request."""

    def connecting(self) -> bool:
        return False

    def close(self) -> None:
        if self._pid == os.getpid() and self._store is not None:
            self._store = None
            self._close()


__all__ = ["Entries", "Got", "ObjectSource", "STALL_SECONDS", "SessionObjects", "StoreObjects", "Watchdog"]
