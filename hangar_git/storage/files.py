"""The store's plain files: large objects (one file each), pack data and index files.

A large object's file is ``HGLO`` + ``<flag u8><length u64>`` + its bytes,
blosc2-compressed when a probe of them compresses below 80%. On a local
store the files are written and read with plain file I/O, elsewhere through
TileDB's VFS: the VFS fsyncs every file it closes, which measured 1.5 GB/s
against 4.3 GB/s without (64 x 4 MiB here). Like git's own objects, the
files are safe against a killed process (the index naming an object is
written after its file), not against power loss unless the store is opened
``durable`` (the repository's ``hangar.fsync`` setting): then every file is
fsynced before it is published. On a remote store (S3) a large object is
written straight to its final name (an upload is atomic: there is no
rename, and a copy would move every byte twice).
"""
from __future__ import annotations

import contextlib
import mmap
import os
import struct
import threading
from typing import TYPE_CHECKING, Any, Iterator, Optional

from ..errors import IntegrityError, StoreUnreachableError
from ..faults import checkpoint
from ..fileio import move_into_place, write_atomic, write_file, write_file_uncached
from .codec import UNDECODABLE, compress, decompress, typesize
from .objects import Buffer, Meta
from .objects import verify as verify_object
from .packindex import PackIndex, checksum_ok, new_name
from .packs import LocalFiles, short_file
from .runtime import tiledb_vfs

if TYPE_CHECKING:  # TileDB loads with the first remote store (or local store creation)
    import tiledb

MAGIC = b"HGLO"
RAW, BLOSC = 0, 1
_HEAD = struct.Struct("<BQ")
MAP_MIN = 1 << 20
"""Local pack indexes of this many bytes and more are mapped (see ``read_index``)."""
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
"""Mapped files are read at random: their pages are mapped at once (one fault each costs more)."""


def _header(flag: int, size: int) -> bytes:
    """The start of a large object's file: magic, flag, uncompressed length."""
    return MAGIC + _HEAD.pack(flag, size)


def _stamp(st: os.stat_result) -> bytes:
    """What a ``checked/`` marker holds: the verified index file's size, time and inode."""
    return f"{st.st_size} {st.st_mtime_ns} {st.st_ino}\n".encode()


def _missing(digest: str) -> IntegrityError:
    return IntegrityError(f"object {digest} is indexed but its file is missing: run `git hangar fsck`",
                          expected=digest)


def encode(meta: str, view: memoryview) -> tuple[int, Buffer]:
    """(flag, payload) of a large object's file: blosc2 when a probe compresses below 80%,
    else the bytes as they are (``view`` itself)."""
    if view.nbytes < (1 << 31) - 64:
        probe = view[: 1 << 16]
        if len(compress(probe, typesize(meta))) < 0.8 * probe.nbytes:
            return BLOSC, compress(view, typesize(meta))
    return RAW, view


def _tiledb_error() -> type[Exception]:
    """TileDB's error class, loading TileDB (only once something may have raised it)."""
    return __import__("tiledb").TileDBError  # type: ignore[no-any-return]


@contextlib.contextmanager
def reaching(uri: str) -> Iterator[None]:
    """Turn TileDB's errors about a remote store (no connection, access refused) into one
    StoreUnreachableError that names the store and what to check."""
    try:
        yield
    except _tiledb_error() as exc:
        if "://" not in uri or uri.startswith("file://"):
            raise
        detail = str(exc).split("; Details:")[-1].strip() or str(exc)
        raise StoreUnreachableError(uri, detail.splitlines()[0][:300]) from exc


class StoreFiles:
    """Files under a store URI (``large/<aa>/<digest>``, ``data/``, ``index/``, ``tmp/``)."""

    def __init__(self, uri: str, *, durable: bool = False) -> None:
        self.uri = uri
        self.local = "://" not in uri or uri.startswith("file://")
        self.durable = durable
        """fsync each object file before it is published (and its folder after)."""
        self._dirs: set[str] = set()
        self._dirs_lock = threading.Lock()
        self._local_files = LocalFiles()

    @property
    def _vfs(self) -> tiledb.VFS:
        return tiledb_vfs(self.uri)

    def object_path(self, digest: str) -> str:
        """Where a large object's file lives."""
        return f"{self.uri}/large/{digest[:2]}/{digest}"

    def _os(self, uri: str) -> str:
        return uri[len("file://"):] if uri.startswith("file://") else uri

    def new_tmp(self, digest: Optional[str] = None) -> str:
        """Where a large object is written before it is verified: a fresh temporary name on
        a local store; on a remote one, the object's final name when ``digest`` is known."""
        if digest is not None and not self.local:
            self._make_folder(self.object_path(digest).rsplit("/", 1)[0])
            return self.object_path(digest)
        return f"{self.uri}/tmp/{new_name()}"

    # -- plain files ---------------------------------------------------------------
    def read(self, path: str) -> bytes:
        """A whole file (FileNotFoundError when there is none)."""
        if self.local:
            with open(self._os(path), "rb") as fh:
                return fh.read()
        with self._remote(path), self._vfs.open(path, "rb") as fh:
            return fh.read(self._vfs.file_size(path))

    def mapped(self, path: str) -> Optional[mmap.mmap]:
        """A local file mapped read-only for slicing (None on a remote store, or if it cannot be)."""
        return self._local_files.mapped(self._os(path)) if self.local else None

    def read_range(self, path: str, start: int, length: int) -> bytes:
        """``length`` bytes of a file from ``start`` (FileNotFoundError when there is none)."""
        if self.local:
            return self._local_files.read(self._os(path), start, length)
        with self._remote(path), self._vfs.open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(length)
        if len(data) != length:
            raise short_file(path, len(data), length, start)
        return bytes(data)

    def write_small(self, path: str, *parts: Buffer, sync: bool = False) -> None:
        """Write a whole file (``parts`` one after another) that readers see complete or not
        at all (locally: a temporary name renamed into place, fsynced when ``sync`` and the
        store is durable; remotely: one upload)."""
        if self.local:
            try:
                write_atomic(self._os(path), *parts, durable=sync and self.durable)
            except FileNotFoundError:  # a folder newer than the store
                os.makedirs(os.path.dirname(self._os(path)), exist_ok=True)
                write_atomic(self._os(path), *parts, durable=sync and self.durable)
            return
        with reaching(self.uri), self._vfs.open(path, "wb") as fh:
            fh.write(b"".join(parts) if len(parts) > 1 else parts[0])

    def list(self, sub: str) -> list[str]:
        """Paths of the files in folder ``sub`` of the store (none if it does not exist)."""
        folder = f"{self.uri}/{sub}"
        if self.local:
            try:
                return [f"{folder}/{n}" for n in os.listdir(self._os(folder)) if not n.startswith(".")]
            except FileNotFoundError:
                return []
        for attempt in range(20):
            try:
                return [p.rstrip("/") for p in self._vfs.ls(folder)]
            except _tiledb_error():  # ls stats every file: one was removed meanwhile
                if attempt == 19:
                    with reaching(self.uri):
                        raise
        return []

    # -- pack indexes ---------------------------------------------------------------
    def read_index(self, name: str) -> PackIndex:
        """Pack index ``name`` (FileNotFoundError when there is none).

        A local index of ``MAP_MIN`` bytes or more is mapped, not read: a process
        looks up the few rows it needs and the pages are shared by every process
        of the machine (smaller ones are read and verified as remote ones). Its
        checksum is verified the first time the file is opened on this store
        (index files never change: each has a unique name); a marker
        ``checked/<name>`` holding the file's size, time and inode then spares
        later processes from hashing it whole. A remote index is read and
        verified every time.
        """
        path = f"{self.uri}/index/{name}.idx"
        if not self.local:
            return PackIndex.decode(name, self.read(path))
        with open(self._os(path), "rb") as fh:
            st = os.fstat(fh.fileno())
            if st.st_size < MAP_MIN:  # hashed in well under a millisecond; a map would hold a descriptor
                return PackIndex.decode(name, fh.read())
            view = memoryview(mmap.mmap(fh.fileno(), 0, flags=_MAP_FLAGS, prot=mmap.PROT_READ))
        try:
            with open(self._os(f"{self.uri}/checked/{name}"), "rb") as mh:
                checked = mh.read() == _stamp(st)
        except OSError:
            checked = False
        if not checked:
            if not checksum_ok(view):
                raise IntegrityError(
                    f"pack index {name} is corrupt (checksum mismatch): run `git hangar fsck`")
            self._mark_checked(name, st)
        return PackIndex.decode(name, view, verify=False)

    def write_index(self, index: PackIndex) -> None:
        """Publish a pack index (the bytes just encoded need no check: it is marked checked)."""
        path = f"{self.uri}/index/{index.name}.idx"
        self.write_small(path, *index.encode_parts(), sync=True)
        if self.local:
            try:
                self._mark_checked(index.name, os.stat(self._os(path)))
            except OSError:
                pass

    def _mark_checked(self, name: str, st: os.stat_result) -> None:
        try:
            self.write_small(f"{self.uri}/checked/{name}", _stamp(st))
        except OSError:  # a read-only store: the next process checks it again
            pass

    def forget_index(self, name: str) -> int:
        """Remove the marker of an index that was removed (see :meth:`read_index`); its bytes."""
        try:
            return self.remove(f"{self.uri}/checked/{name}") if self.local else 0
        except OSError:
            return 0

    def close(self) -> None:
        """Close files kept open for reading."""
        self._local_files.close()

    def remove(self, path: str) -> int:
        """Delete a file; returns the bytes it held."""
        size = self.size(path)
        if self.local:
            os.unlink(self._os(path))
        else:
            with reaching(self.uri):
                self._vfs.remove_file(path)
        return size

    def size(self, path: str) -> int:
        """A file's length in bytes (FileNotFoundError when there is none)."""
        if self.local:
            return os.stat(self._os(path)).st_size
        with self._remote(path):
            return int(self._vfs.file_size(path))

    @contextlib.contextmanager
    def _remote(self, path: str) -> Iterator[None]:
        """Reach a remote store: an error about a file that is not there is FileNotFoundError."""
        with reaching(self.uri):
            try:
                yield
            except _tiledb_error() as exc:
                if not self._vfs.is_file(path):
                    raise FileNotFoundError(f"{path}: no such file") from exc
                raise

    def exists(self, path: str) -> bool:
        """True when ``path`` is a file."""
        if self.local:
            return os.path.isfile(self._os(path))
        with reaching(self.uri):
            return bool(self._vfs.is_file(path))

    # -- large objects ---------------------------------------------------------------
    def read_object(self, digest: str, meta: str, *, verify: bool = True) -> tuple[Meta, memoryview]:
        """A large object's bytes, decoded and (unless ``verify`` is False) checked
        against its digest; its header and length are always checked."""
        try:
            blob = self.read(self.object_path(digest))
        except (OSError, _tiledb_error()) as exc:
            raise _missing(digest) from exc
        if blob[:4] != MAGIC:
            raise IntegrityError(f"object {digest} is corrupt (bad header)", expected=digest)
        try:
            flag, ulen = _HEAD.unpack_from(blob, 4)
            body = memoryview(blob)[4 + _HEAD.size:]
            data = decompress(body) if flag == BLOSC else body
        except UNDECODABLE as exc:
            raise IntegrityError(f"object {digest} is corrupt (cannot be decoded): run `git hangar "
                                 f"fsck`, then fetch-data again", expected=digest) from exc
        if len(data) != ulen:
            raise IntegrityError(f"object {digest} is corrupt (wrong length)", expected=digest)
        if verify:
            verify_object(digest, meta, data)
        return Meta(meta), memoryview(data)

    def write_tmp(self, meta: str, data: Buffer, *, uncached: bool = False, digest: Optional[str] = None) -> str:
        """Write an object's file before it is published; returns its name (see :meth:`new_tmp`);
        ``uncached`` writes it around the page cache (objects received in bulk)."""
        view = memoryview(data).cast("B")
        flag, payload = encode(meta, view)
        tmp = self.new_tmp(digest)
        head = _header(flag, view.nbytes)
        try:
            if self.local:
                write = write_file_uncached if uncached else write_file
                write(self._os(tmp), head, payload, durable=self.durable)
            else:  # the VFS fsyncs on close
                with self._vfs.open(tmp, "wb") as fh:
                    fh.write(head)
                    fh.write(payload)
        except BaseException:
            if self.exists(tmp):  # a full disk, say: leave no partial file behind
                self.remove(tmp)
            raise
        return tmp

    def read_object_parts(self, digest: str, meta: str, part_size: int) -> Iterator[tuple[int, memoryview]]:
        """(offset, bytes) of consecutive ``part_size`` parts of a large object, not re-hashed
        (for sending: the receiver checks them). An uncompressed local file is read a part
        at a time, so an object bigger than memory can be sent."""
        path = self._os(self.object_path(digest))
        if self.local:
            try:
                fh = open(path, "rb")
            except OSError as exc:
                raise _missing(digest) from exc
            with fh:
                head = fh.read(4 + _HEAD.size)
                if head[:4] == MAGIC and len(head) == 4 + _HEAD.size:
                    flag, ulen = _HEAD.unpack_from(head, 4)
                    if flag == RAW:
                        if os.fstat(fh.fileno()).st_size != len(head) + ulen:
                            raise IntegrityError(f"object {digest} is corrupt (wrong length)", expected=digest)
                        for offset in range(0, ulen, part_size):
                            part = bytearray(min(part_size, ulen - offset))
                            if fh.readinto(part) != len(part):
                                raise IntegrityError(f"object {digest} is corrupt (short file)", expected=digest)
                            yield offset, memoryview(part)
                        return
        _, data = self.read_object(digest, meta, verify=False)  # compressed, or through the VFS
        for offset in range(0, len(data), part_size):
            yield offset, data[offset:offset + part_size]

    def tmp_writer(self, size: int, digest: Optional[str] = None) -> "TmpWriter":
        """A new large-object file of ``size`` uncompressed bytes, written in order."""
        return TmpWriter(self, size, digest)

    def _make_folder(self, folder: str) -> None:
        if folder not in self._dirs:
            with self._dirs_lock:  # publishers may run on several threads
                if self.local:
                    os.makedirs(self._os(folder), exist_ok=True)
                elif not self._vfs.is_dir(folder):
                    self._vfs.create_dir(folder)
                self._dirs.add(folder)

    def publish(self, tmp: str, digest: str) -> None:
        """Move a written file to its object's name (nothing to do when it is there already)."""
        final = self.object_path(digest)
        if tmp == final:
            return
        folder = final.rsplit("/", 1)[0]
        self._make_folder(folder)
        checkpoint("store.large.before_move")
        if self.local:
            move_into_place(self._os(tmp), self._os(final), self.durable)
        else:
            self._vfs.move_file(tmp, final)


class TmpWriter:
    """Writes one large-object file under a temporary name, in order, part by part."""

    def __init__(self, files: StoreFiles, size: int, digest: Optional[str] = None) -> None:
        self.files, self.size = files, size
        self.tmp = files.new_tmp(digest)
        # closed by leaving its context: tiledb.FileIO.close() only flushes, and an S3
        # multipart upload is completed by __exit__ alone
        self._open = contextlib.ExitStack()
        opened = open(files._os(self.tmp), "wb") if files.local else files._vfs.open(self.tmp, "wb")
        self._fh: Any = self._open.enter_context(opened)
        self._fh.write(_header(RAW, size))

    def write(self, data: Buffer) -> None:
        """Append the next bytes."""
        self._fh.write(data)

    def close(self) -> str:
        """Finish the file (fsynced when the store is durable); returns its temporary name."""
        if self.files.local and self.files.durable:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        self._open.close()
        return self.tmp

    def discard(self) -> None:
        """Close and remove the file."""
        self._open.close()
        if self.files.exists(self.tmp):
            self.files.remove(self.tmp)
