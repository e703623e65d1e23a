"""What the store needs per process: thread pools and TileDB contexts, safe across fork.

A forked child inherits its parent's memory but none of its threads. A
thread pool made in the parent then never runs a task in the child, and a
TileDB context made in the parent crashes or deadlocks when the child uses
or frees it (its destructor joins threads that do not exist there). So:

* every resource here is made lazily, in the process that uses it, and
  remembered with that process's id;
* in a child (``os.register_at_fork``, and a pid check for forks that skip
  Python's hooks) the parent's resources are set aside, never used, shut
  down or freed: :func:`hangar_git.forks.set_aside` keeps them alive until the child ends;
* TileDB's own signal handlers are off, so SIGINT and SIGTERM reach Python.

TileDB also leaves a process-wide watchdog thread whose state a forked child
cannot tear down: a forked child must end with ``os._exit``, as
``multiprocessing`` workers (and so PyTorch's DataLoader workers) do.
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Callable, Generic, Mapping, Optional, TypeVar

from ..forks import set_aside

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    import tiledb

TILEDB_CONFIG = {
    "sm.enable_signal_handlers": "false",
    "sm.compute_concurrency_level": "2",
    "sm.io_concurrency_level": "2",
}
"""Settings of every TileDB context the store makes."""

HASH_THREADS = 4
IO_THREADS = 4
T = TypeVar("T")


class ProcessLocal(Generic[T]):
    """A value that belongs to the process that set it.

    In a forked child :meth:`get` returns None (the child makes its own) and
    the parent's value is set aside (:func:`hangar_git.forks.set_aside`), so it is never freed there.
    """

    def __init__(self) -> None:
        self._value: Optional[T] = None
        self._pid = os.getpid()

    def get(self) -> Optional[T]:
        """This process's value (None if unset, or set by another process)."""
        if self._pid != os.getpid():
            if self._value is not None:
                set_aside(self._value)
            self._value, self._pid = None, os.getpid()
        return self._value

    def set(self, value: Optional[T]) -> None:
        """Set (or with None forget) this process's value."""
        self.get()
        self._value = value


class _Resources:
    """One process's pools and TileDB handles, made on first use."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.made: dict[str, Any] = {}

    def get(self, name: str, make: Callable[[], Any]) -> Any:
        value = self.made.get(name)
        if value is None:
            with self.lock:
                value = self.made.get(name)
                if value is None:
                    value = self.made[name] = make()
        return value


_mine = _Resources()


def _here() -> _Resources:
    """This process's resources (a fork that skipped Python's hooks is noticed by pid)."""
    if _mine.pid != os.getpid():
        _after_fork_in_child()
    return _mine


def _after_fork_in_child() -> None:
    """Set the parent's resources aside: never used, shut down or freed in this process."""
    global _mine
    if _mine.pid != os.getpid():
        set_aside(_mine)
        _mine = _Resources()


os.register_at_fork(after_in_child=_after_fork_in_child)


def hash_pool() -> ThreadPoolExecutor:
    """Threads for hashing big objects (hashlib releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor
    return _here().get("hash", lambda: ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="hangar-hash"))


def io_pool() -> ThreadPoolExecutor:
    """Threads reading and writing large objects' files. Their tasks may hash on
    :func:`hash_pool`, so the two pools must stay separate."""
    from concurrent.futures import ThreadPoolExecutor
    return _here().get("io", lambda: ThreadPoolExecutor(IO_THREADS, thread_name_prefix="hangar-io"))


_store_settings: dict[str, tuple[tuple[str, str], ...]] = {}
"""Store URI -> TileDB parameters of its own (a repository's ``hangar.s3.*`` git config)."""


def use_store_settings(uri: str, settings: Mapping[str, str]) -> None:
    """Give the store at ``uri`` (and everything under it) TileDB parameters of its own;
    an empty mapping goes back to the process's defaults (and the environment)."""
    key = uri.rstrip("/")
    if settings:
        _store_settings[key] = tuple(sorted(settings.items()))
    else:
        _store_settings.pop(key, None)


def _settings_for(uri: str) -> tuple[tuple[str, str], ...]:
    """The parameters of the store that holds ``uri`` (the longest matching store URI)."""
    best = ""
    for key in _store_settings:  # usually none or one: no cost to stores without settings
        if (uri == key or uri.startswith(key + "/")) and len(key) > len(best):
            best = key
    return _store_settings[best] if best else ()


def tiledb_ctx(uri: str = "") -> tiledb.Ctx:
    """This process's TileDB context for ``uri`` (:data:`TILEDB_CONFIG`, plus the settings of
    the store that holds it, see :func:`use_store_settings`)."""
    import tiledb  # here, not at import: commands that never read data never load it
    settings = _settings_for(uri)
    if not settings:
        return _here().get("ctx", _new_ctx)
    return _here().get(f"ctx {settings}", lambda: tiledb.Ctx({**TILEDB_CONFIG, **dict(settings)}))


def _new_ctx() -> tiledb.Ctx:
    """A context for this process: TileDB's default one when this process makes it first
    (tiledb-py falls back on the default inside some calls, e.g. ``multi_index``)."""
    import tiledb
    try:
        ctx = tiledb.default_ctx(dict(TILEDB_CONFIG))
    except tiledb.TileDBError:  # made already: by a parent before a fork, or by other code
        ctx = tiledb.Ctx(dict(TILEDB_CONFIG))
    _unwrap_fork()
    return ctx


def _unwrap_fork() -> None:
    """Take off tiledb-py's wrapper of ``os.fork``, which warns (an error under ``-W error``)
    that a fork may deadlock: the store's contexts are per process, so it may not."""
    code = getattr(os.fork, "__code__", None)
    if code is not None and "tiledb" in code.co_filename and hasattr(os.fork, "__wrapped__"):
        os.fork = os.fork.__wrapped__


def tiledb_vfs(uri: str = "") -> tiledb.VFS:
    """This process's TileDB VFS for ``uri``, on :func:`tiledb_ctx`."""
    import tiledb
    settings = _settings_for(uri)
    return _here().get(f"vfs {settings}" if settings else "vfs", lambda: tiledb.VFS(ctx=tiledb_ctx(uri)))
