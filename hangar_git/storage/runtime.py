"""Per-process resources of the storage layer: thread pools and TileDB contexts.

Placeholder until the process-safety work lands: pools and contexts are made
lazily in the process that uses them (a forked child gets new ones).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import tiledb

_pid = os.getpid()
_hash: Optional[ThreadPoolExecutor] = None
_io: Optional[ThreadPoolExecutor] = None
_ctx: Optional[tiledb.Ctx] = None
_vfs: Optional[tiledb.VFS] = None
_inherited: list[object] = []


def _check_pid() -> None:
    global _pid, _hash, _io, _ctx, _vfs
    if os.getpid() != _pid:
        _inherited.extend(x for x in (_hash, _io, _ctx, _vfs) if x is not None)
        _pid, _hash, _io, _ctx, _vfs = os.getpid(), None, None, None, None


def hash_pool() -> ThreadPoolExecutor:
    """Threads for hashing and decompressing (both release the GIL)."""
    global _hash
    _check_pid()
    if _hash is None:
        _hash = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hangar-hash")
    return _hash


def io_pool() -> ThreadPoolExecutor:
    """Threads for file and network I/O; separate from :func:`hash_pool` (its tasks hash)."""
    global _io
    _check_pid()
    if _io is None:
        _io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="hangar-io")
    return _io


def tiledb_ctx() -> tiledb.Ctx:
    """This process's TileDB context (its own signal handlers off)."""
    global _ctx
    _check_pid()
    if _ctx is None:
        _ctx = tiledb.Ctx({"sm.compute_concurrency_level": "2", "sm.io_concurrency_level": "2",
                           "sm.enable_signal_handlers": "false"})
    return _ctx


def tiledb_vfs() -> tiledb.VFS:
    """This process's TileDB VFS."""
    global _vfs
    _check_pid()
    if _vfs is None:
        _vfs = tiledb.VFS(ctx=tiledb_ctx())
    return _vfs
