"""Writing files, optionally fsynced: shared by the layers that keep their own files.

The one home of atomic writes (a temporary name in the same folder, then a rename over the
final name): :func:`write_atomic` for bytes, :func:`atomic_open` for a file written in
pieces, :func:`move_into_place` for a file another writer made. tests/test_one_home.py keeps
``os.replace`` out of every other module."""
from __future__ import annotations

import errno
import mmap
import os
import threading
from contextlib import contextmanager
from typing import IO, Any, Iterator, Union


Buffer = Union[bytes, bytearray, memoryview]

DIRECT_ALIGN = 4096
"""Offsets, lengths and buffers of O_DIRECT writes are multiples of this (any block size up to it)."""
DIRECT_PIECE = 4 << 20
"""Bytes a direct write passes to the kernel at a time (through a reused aligned buffer)."""
_pieces = threading.local()


def write_file(path: str, *parts: Buffer, durable: bool = False) -> None:
    """Write ``parts`` to a new file at ``path``; ``durable`` fsyncs it before returning."""
    with open(path, "wb") as fh:
        for part in parts:
            fh.write(part)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())


def write_file_uncached(path: str, *parts: Buffer, durable: bool = False) -> None:
    """Like :func:`write_file`, but with O_DIRECT: the bytes go to the disk without
    passing through (and taking memory in) the page cache.

    For bulk data not about to be read here (objects a server receives in a
    push). Where the file system has no O_DIRECT, a plain write is made.
    """
    flags = getattr(os, "O_DIRECT", 0)
    if not flags:
        return write_file(path, *parts, durable=durable)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flags, 0o644)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return write_file(path, *parts, durable=durable)
    try:
        total = _write_direct(fd, parts)
    except OSError as exc:
        os.close(fd)
        if exc.errno != errno.EINVAL:  # alignment refused after all: write it plainly
            raise
        return write_file(path, *parts, durable=durable)
    try:
        os.ftruncate(fd, total)  # drop the padding of the last block
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_direct(fd: int, parts: tuple[Buffer, ...]) -> int:
    """Copy ``parts`` through this thread's aligned buffer into ``fd``; returns their length."""
    buf = getattr(_pieces, "buf", None)
    if buf is None:
        buf = _pieces.buf = mmap.mmap(-1, DIRECT_PIECE)  # page-aligned, reused: no page faults
    import numpy as np  # loaded by whoever writes large objects anyway
    piece = memoryview(buf)
    staging = np.frombuffer(buf, dtype=np.uint8)  # numpy copies without holding the GIL
    fill = total = 0
    for part in parts:
        data = np.frombuffer(part, dtype=np.uint8)
        pos = 0
        while pos < len(data):
            n = min(len(data) - pos, DIRECT_PIECE - fill)
            staging[fill:fill + n] = data[pos:pos + n]
            fill, pos, total = fill + n, pos + n, total + n
            if fill == DIRECT_PIECE:
                _write_all(fd, piece)
                fill = 0
    if fill:
        padded = -(-fill // DIRECT_ALIGN) * DIRECT_ALIGN
        staging[fill:padded] = 0
        _write_all(fd, piece[:padded])
    return total


def _write_all(fd: int, view: memoryview) -> None:
    if os.write(fd, view) != view.nbytes:  # direct writes are never partial but on a full disk
        raise OSError(errno.ENOSPC, "short write: the disk is full")


def fsync_dir(path: str) -> None:
    """Make the renames and new names in folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: str) -> str:
    """A temporary name beside ``path``, unique to this process and thread (a dot file)."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")


def move_into_place(tmp: str, path: str, durable: bool = False) -> None:
    """Rename the finished file ``tmp`` to ``path`` (replacing what is there) in one step;
    ``durable`` makes the new name durable too."""
    os.replace(tmp, path)
    if durable:
        fsync_dir(os.path.dirname(path) or ".")


@contextmanager
def _replacing(path: str, durable: bool) -> Iterator[str]:
    """A temporary name beside ``path`` for the block to write: it replaces ``path`` when the
    block succeeds (``durable``: the new name is fsynced), and is removed when it fails."""
    tmp = temp_name(path)
    try:
        yield tmp
        move_into_place(tmp, path, durable)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextmanager
def atomic_open(path: str, mode: str = "wb", durable: bool = False, *, sync_folder: bool = True,
                **kwargs: Any) -> Iterator[IO[Any]]:
    """A file object whose content appears at ``path`` only when the block succeeds
    (``open`` arguments ``mode`` and ``kwargs``); on an error nothing is left behind.
    ``durable`` fsyncs the file and, unless ``sync_folder`` is False (a later write to the
    same folder will), its new name."""
    with _replacing(path, durable and sync_folder) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())


def write_atomic(path: str, *parts: Buffer, durable: bool = False, sync_folder: bool = True) -> None:
    """Write a file so that readers see either nothing or all of it: the bytes go to a
    temporary name in the same folder, which then replaces ``path`` (``durable`` and
    ``sync_folder``: as for :func:`atomic_open`). Written with plain system calls, no file
    object: a big commit writes thousands of small derived files."""
    with _replacing(path, durable and sync_folder) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            for part in parts:
                write_fully(fd, part)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)


def write_fully(fd: int, data: Buffer) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less than it is given)."""
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
    while view.nbytes:
        view = view[os.write(fd, view):]
