"""Writing files, optionally fsynced: shared by the layers that keep their own files."""
from __future__ import annotations

import errno
import mmap
import os
import threading
from typing import Union


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


def write_atomic(path: str, *parts: Buffer, durable: bool = False) -> None:
    """Write a file so that readers see either nothing or all of it: the bytes go to a
    temporary name in the same folder, which then replaces ``path``."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write_file(tmp, *parts, durable=durable)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(folder or ".")
