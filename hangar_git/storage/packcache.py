"""A directory cache of verified objects that several processes share: append-only pack
files and their compact indexes, read with ``pread``, within one byte budget.

Layout of the directory::

    <name>.pack   objects' meta and bytes, back to back, appended by one process only
    <name>.idx    one 52-byte record per object of that pack: raw digest, offset, meta
                  length, data length; written after the bytes it points at
    .lock         held (flock) by a writer while it evicts and appends
    .claims/      one file per batch of objects a process is fetching for the cache now
                  (``<pid>-<token>``, raw digests): others wait for those instead of
                  fetching them again (see :mod:`.packclaims`)

``<name>`` starts with the time the pack was begun, so the oldest packs sort first.
Each process appends to a pack of its own (a forked DataLoader worker begins its own), so
writers never share an offset; they take turns under ``.lock`` only to keep the whole
directory (packs and indexes) within ``budget`` bytes, dropping whole packs, oldest first.
Readers take no lock: each keeps an index of every pack in memory and reads what was
appended to the index files since it last looked, when it misses (a forked child starts from
its parent's index). Small objects are read through a map of their pack, large ones with
``pread``. A pack removed while a reader has it open is still readable through that descriptor (POSIX), so eviction never
breaks a read; the reader lets go of it at its next look. Every object is verified against
its digest as it is read: a damaged one is a miss, never an answer. A process killed
mid-append leaves bytes no index record points at, dropped with their pack in time.
"""
from __future__ import annotations

import mmap
import os
import secrets
import threading
import time
from typing import Iterable, Optional, Sequence

import numpy as np

from ..errors import IntegrityError
from ..fileio import write_fully
from ..locks import exclusive
from . import packrecords
from .identity import raw_of
from .objects import Digest, Meta, digest_rows, matches, verify
from .packclaims import Claims
from .packrecords import RECORD, Location
from .packrows import RowReads

PACK_FRACTION = 8
"""A pack is begun anew once it holds ``budget // PACK_FRACTION`` bytes (what one eviction
drops); an object bigger than that has a pack of its own."""
MAP_BELOW = 64 << 10
"""Objects up to this size are read through a map of their pack (no system call each); larger
ones with ``pread`` (their pages never count in the reader's resident memory)."""
Entry = tuple[Meta, bytes]


class PackCache(RowReads):
    """Objects by digest in append-only packs under ``path``, at most ``budget`` bytes in all,
    shared safely by concurrent processes (see the module doc)."""

    def __init__(self, path: str, budget: int) -> None:
        self.path = os.path.abspath(path)
        self.budget = budget
        self.pack_limit = max(budget // PACK_FRACTION, 1)
        os.makedirs(self.path, exist_ok=True)
        self._lockfile = os.path.join(self.path, ".lock")
        self.claims = Claims(os.path.join(self.path, ".claims"))
        """Which objects processes are fetching into this cache now (:class:`~.packclaims.Claims`)."""
        self._reset()
        before = packrecords.latest(self.path, self)
        if before is not None:  # its index, not its descriptors: packs are opened here when read
            self._where.update(before._where)
            self._read.update(before._read)

    def _reset(self) -> None:
        """Per-process state (made again in a process that inherited this object)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._where: dict[str, Location] = {}
        self._read: dict[str, int] = {}  # pack name -> index bytes taken in
        self._fds: dict[str, int] = {}
        self._maps: dict[str, mmap.mmap] = {}
        self._own: Optional[tuple[str, int, int]] = None  # name, pack fd, index fd
        self.hits = self.misses = self.damaged = self.records_read = 0  # records_read: from index files

    def _forked(self) -> None:
        """In a forked child: its own lock and pack, the parent's index, descriptors and maps kept
        (``pread`` and maps use no file offset): a new DataLoader worker reads no index file again."""
        self._close_own()  # the parent's pack (its descriptors here): the child appends to one of its own
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.hits = self.misses = self.damaged = self.records_read = 0

    def _mine(self) -> threading.Lock:
        if self._pid != os.getpid():
            self._forked()
        return self._lock

    def refresh(self) -> None:
        """Take in other processes' appends now (before forking readers: they inherit the index)."""
        with self._mine():
            self._refresh()

    # -- reading -----------------------------------------------------------------------------
    def get(self, digest: str) -> Optional[Entry]:
        """The verified object, or None (not here, evicted, or damaged)."""
        lock = self._mine()
        where = self._where.get(digest)
        if where is None:
            with lock:
                self._refresh()
            where = self._where.get(digest)
            if where is None:
                self.misses += 1
                return None
        entry = self._load(digest, where, check=True)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def get_many(self, digests: Sequence[str]) -> list[Optional[Entry]]:
        """:meth:`get` of each digest, looking at other processes' appends once for all of them."""
        lock = self._mine()
        where = self._where
        if any(d not in where for d in digests):
            with lock:
                self._refresh()
        out: list[Optional[Entry]] = []
        for d in digests:
            at = where.get(d)
            out.append(None if at is None else self._load(d, at, check=False))
        self._verify_many(digests, out)
        found = sum(e is not None for e in out)
        self.hits += found
        self.misses += len(out) - found
        return out

    def sort_out(self, digests: Sequence[str], above: int) -> tuple[list[str], list[str]]:
        """(the ``digests`` not held here, those held of more than ``above`` bytes), after one look
        at other processes' appends; nothing is read or verified."""
        lock = self._mine()
        where = self._where
        if any(d not in where for d in digests):
            with lock:
                self._refresh()
        absent, large = [], []
        for d in digests:
            at = where.get(d)
            if at is None:
                absent.append(d)
            elif at[3] > above:
                large.append(d)
        return absent, large

    def __contains__(self, digest: object) -> bool:
        return digest in self._where

    def _load(self, digest: str, where: Location, check: bool) -> Optional[Entry]:
        """The object at ``where``, verified unless not ``check`` (then the caller verifies it:
        :meth:`_verify_many`); None when it cannot be read whole, or is damaged."""
        name, offset, meta_len, size = where
        fd = self._fd(name)
        try:
            if fd is None:
                raise FileNotFoundError(name)
            if size <= MAP_BELOW:
                view = self._mapped(name, fd, offset + meta_len + size)
                meta, data = view[offset:offset + meta_len], view[offset + meta_len:offset + meta_len + size]
            else:
                meta, data = os.pread(fd, meta_len, offset), os.pread(fd, size, offset + meta_len)
            if len(data) != size:
                raise IntegrityError(f"cache pack {name} ends early", expected=digest)
            text = meta.decode("ascii")
            if check:
                verify(digest, text, data)
        except (OSError, IntegrityError, UnicodeDecodeError) as exc:
            self.damaged += isinstance(exc, (IntegrityError, UnicodeDecodeError))
            self._where.pop(digest, None)
            return None
        return Meta(text), data

    def _fd(self, name: str) -> Optional[int]:
        """This object's read descriptor of pack ``name`` (opened on first use); None: pack gone."""
        fd = self._fds.get(name)
        if fd is None and name in self._read:
            try:
                opened = os.open(os.path.join(self.path, name + ".pack"), os.O_RDONLY)
            except FileNotFoundError:
                return None
            fd = self._fds.setdefault(name, opened)
            if fd != opened:  # another thread opened it meanwhile
                os.close(opened)
        return fd

    def _verify_many(self, digests: Sequence[str], entries: list[Optional[Entry]]) -> None:
        """Verify loaded ``entries`` in place: a damaged one becomes None (a miss). Objects of one
        meta and size (rows of a fixed-shape column) are hashed together (:func:`digest_rows`)."""
        groups: dict[tuple[str, int], list[int]] = {}
        for i, entry in enumerate(entries):
            if entry is not None:
                groups.setdefault((entry[0], len(entry[1])), []).append(i)
        for (meta, size), at in groups.items():
            if len(at) > 1 and size <= MAP_BELOW:
                block = b"".join([entries[i][1] for i in at])  # type: ignore[index]
                rows = np.frombuffer(block, dtype=np.uint8).reshape(len(at), size)
                got = digest_rows(meta, rows)
                want = np.frombuffer(raw_of("".join([digests[i] for i in at])), dtype="S32")
                bad = [at[j] for j in np.flatnonzero(got != want).tolist()]
            else:
                bad = [i for i in at if not matches(meta, entries[i][1], raw_of(digests[i]))]  # type: ignore[index]
            for i in bad:
                entries[i] = None
                self.damaged += 1
                self._where.pop(digests[i], None)

    def _mapped(self, name: str, fd: int, end: int) -> mmap.mmap:
        """The pack mapped at least up to byte ``end`` (mapped again when it grew; a map replaced
        is unmapped once no thread slices it any more)."""
        view = self._maps.get(name)
        if view is None or len(view) < end:
            view = self._maps[name] = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        return view

    def _refresh(self) -> None:
        """Take in what other processes appended since the last look; let go of removed packs."""
        try:
            names = {n[:-4] for n in os.listdir(self.path) if n.endswith(".idx")}
        except FileNotFoundError:
            names = set()
        for gone in [n for n in self._read if n not in names]:
            self._forget(gone)
        for name in sorted(names):
            self._take_in(name)

    def _take_in(self, name: str) -> None:
        start = self._read.get(name, 0)
        try:
            if name not in self._fds:
                self._fds[name] = os.open(os.path.join(self.path, name + ".pack"), os.O_RDONLY)
            with open(os.path.join(self.path, name + ".idx"), "rb") as fh:
                fh.seek(start)
                raw = fh.read()
        except FileNotFoundError:
            self._forget(name)
            return
        digests, places, whole = packrecords.parse(name, raw)
        self._where.update(zip(digests, places))  # in C loops: 100,000 records in ~0.1 s
        self._read[name] = start + whole
        self.records_read += len(digests)

    def _forget(self, name: str) -> None:
        self._read.pop(name, None)
        self._maps.pop(name, None)
        fd = self._fds.pop(name, None)
        if fd is not None:
            os.close(fd)
        for digest in [d for d, w in self._where.items() if w[0] == name]:
            del self._where[digest]

    # -- writing -----------------------------------------------------------------------------
    def put(self, digest: Digest, meta: Meta, data: bytes) -> None:
        self.put_many([(digest, meta, data)])

    def put_many(self, entries: Iterable[tuple[Digest, Meta, bytes]]) -> None:
        """Append the (already verified) objects not cached yet, evicting the oldest packs first so
        that the directory stays within its budget; an object bigger than the budget is not kept."""
        lock = self._mine()
        fresh: dict[str, tuple[bytes, bytes]] = {}
        for digest, meta, data in entries:
            if digest not in self._where and digest not in fresh and self._size(meta, data) <= self.budget:
                fresh[digest] = (meta.encode("ascii"), data)
        if not fresh:
            return
        with lock, exclusive(self._lockfile):
            self._refresh()
            for known in [d for d in fresh if d in self._where]:
                del fresh[known]
            while fresh:
                part = self._fitting(fresh)
                self._append(part, fresh)
                for done in part:
                    del fresh[done]

    @staticmethod
    def _size(meta: str, data: bytes) -> int:
        return len(meta) + len(data) + RECORD.itemsize

    def _fitting(self, fresh: dict[str, tuple[bytes, bytes]]) -> list[str]:
        """The next objects that fit the own pack (begun anew when full), with room made for them."""
        name, pack_fd, _ = self._own_pack()
        used = os.fstat(pack_fd).st_size
        part: list[str] = []
        total = 0
        for digest, (meta, data) in fresh.items():
            size = len(meta) + len(data) + RECORD.itemsize
            if part and used + total + size > self.pack_limit:
                break
            part.append(digest)
            total += size
        if used and used + total > self.pack_limit:
            self._close_own()
            return self._fitting(fresh)
        self._make_room(total)
        if self._own is None:  # the own pack was the oldest, and went
            return self._fitting(fresh)
        return part

    def _own_pack(self) -> tuple[str, int, int]:
        own = self._own
        if own is not None and os.fstat(own[1]).st_nlink == 0:  # evicted by another process
            self._close_own()
            own = None
        if own is None:
            name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL
            pack_fd = os.open(os.path.join(self.path, name + ".pack"), flags, 0o644)
            index_fd = os.open(os.path.join(self.path, name + ".idx"), flags, 0o644)
            own = self._own = (name, pack_fd, index_fd)
        return own

    def _close_own(self) -> None:
        own, self._own = self._own, None
        if own is not None:
            os.close(own[1])
            os.close(own[2])

    def _make_room(self, nbytes: int) -> None:
        """Remove whole packs, oldest first, until ``nbytes`` more fit the budget."""
        packs = self._packs()
        total = sum(size for _, size in packs)
        for name, size in packs:
            if total + nbytes <= self.budget:
                break
            if self._own is not None and name == self._own[0]:
                self._close_own()
            self._remove(name)
            self._forget(name)
            total -= size

    def _remove(self, name: str) -> None:
        for ext in (".idx", ".pack"):
            try:
                os.remove(os.path.join(self.path, name + ext))
            except FileNotFoundError:
                pass

    def _packs(self) -> list[tuple[str, int]]:
        """(name, bytes of pack and index) of every pack, oldest first."""
        sizes: dict[str, int] = {}
        with os.scandir(self.path) as it:
            for entry in it:
                stem, ext = os.path.splitext(entry.name)
                if ext in (".pack", ".idx"):
                    try:
                        sizes[stem] = sizes.get(stem, 0) + entry.stat().st_size
                    except FileNotFoundError:
                        continue
        return sorted(sizes.items())

    def _append(self, digests: list[str], fresh: dict[str, tuple[bytes, bytes]]) -> None:
        name, pack_fd, index_fd = self._own_pack()
        offset = os.fstat(pack_fd).st_size
        blobs: list[bytes] = []
        starts, metas, sizes = [], [], []
        for digest in digests:
            meta, data = fresh[digest]
            starts.append(offset)
            metas.append(len(meta))
            sizes.append(len(data))
            blobs += (meta, data)
            offset += len(meta) + len(data)
        records = packrecords.make(digests, starts, metas, sizes)
        write_fully(pack_fd, b"".join(blobs))
        write_fully(index_fd, records)  # after the bytes: a record never points at nothing
        self._read[name] = self._read.get(name, 0) + len(records)
        for digest, start, meta_len, size in zip(digests, starts, metas, sizes):
            self._where[digest] = (name, start, meta_len, size)

    def nbytes(self) -> int:
        """Bytes the directory holds now (every process's packs and indexes)."""
        return sum(size for _, size in self._packs())

    def clear(self) -> None:
        """Remove every pack (other processes see the cache empty at their next look)."""
        with self._mine(), exclusive(self._lockfile):
            self._close_own()
            for name, _ in self._packs():
                self._remove(name)
            self._refresh()

    def close(self) -> None:
        """Let go of this process's files (the cache stays on disk for the next reader)."""
        with self._mine():
            self._close_own()
            for name in list(self._read):
                self._forget(name)


__all__ = ["PackCache"]
