"""Fork safety of the work hangar-git does on background threads (connections opened ahead, reads
ahead): a fork must not copy a thread's half-done work into the child.

A forked child inherits its parent's memory but none of its threads, and a lock one of them held
at the fork (an import's module lock, a C library's mutex, one of ours) stays held there for good:
a DataLoader worker forked while its parent's thread imported the modules of a connection waited
for that import forever. So:

* work a fork must not cut (opening a connection: imports, git config reads, a key exchange) runs
  inside :func:`unforked`; ``os.fork`` waits until every such section of another thread has
  ended, or has passed the number of seconds it was given (then it forks anyway);
* objects with per-process state (sessions, threads, locks) register with :func:`in_child`: a
  forked child calls their ``after_fork_in_child`` at once, before anything else runs there, and
  they start anew (connecting again lazily), putting what the parent owns aside with
  :func:`set_aside` (never used, closed or freed in the child: closing a parent's SSH channel
  there would write on the parent's connection).

A child started by ``spawn`` or ``forkserver`` inherits none of this and needs none of it.
"""
from __future__ import annotations

import importlib
import itertools
import os
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Any, Iterator, Protocol


class ForkAware(Protocol):
    def after_fork_in_child(self) -> None:
        """Drop the parent's threads, connections and locks (this process makes its own)."""


_inherited: list[Any] = []
"""What parents owned, set aside in their forked children and never freed there."""
_aware: "weakref.WeakSet[Any]" = weakref.WeakSet()


def set_aside(value: Any) -> None:
    """Keep ``value`` (a parent's) alive and untouched in this forked child."""
    if value is not None:
        _inherited.append(value)


def in_child(obj: ForkAware) -> None:
    """Call ``obj.after_fork_in_child()`` in every child forked from now on (while ``obj`` lives)."""
    _register_hooks()
    _aware.add(obj)


class _Gate:
    """The sections a fork waits for: thread, deadline (monotonic) of each running one."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.running: dict[int, tuple[int, float]] = {}
        self.forking = False
        self.ids = itertools.count()

    def enter(self, seconds: float) -> int:
        with self.cond:
            while self.forking:
                self.cond.wait()
            key = next(self.ids)
            self.running[key] = (threading.get_ident(), time.monotonic() + seconds)
            return key

    def leave(self, key: int) -> None:
        with self.cond:
            self.running.pop(key, None)
            self.cond.notify_all()

    def before_fork(self) -> None:
        me = threading.get_ident()
        with self.cond:
            self.forking = True
            while True:
                deadlines = [d for t, d in self.running.values() if t != me]  # never its own: no deadlock
                left = max(deadlines, default=0.0) - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(left)

    def after_fork_in_parent(self) -> None:
        with self.cond:
            self.forking = False
            self.cond.notify_all()


_gate = _Gate()


@contextmanager
def unforked(seconds: float) -> Iterator[None]:
    """Run the body with forks waiting for it to end (for ``seconds`` at most)."""
    _register_hooks()
    gate = _gate
    key = gate.enter(seconds)
    try:
        yield
    finally:
        gate.leave(key)


def _before() -> None:
    _gate.before_fork()


def _in_parent() -> None:
    _gate.after_fork_in_parent()


def _in_child() -> None:
    global _gate
    _gate = _Gate()  # the parent's sections are not this process's (their threads are not here)
    for obj in list(_aware):
        obj.after_fork_in_child()


_registered = threading.Lock()
_hooks: list[bool] = []


def _register_hooks() -> None:
    """Register the fork hooks, once, when first needed (not at import: the CLI's start-up
    does not pay for logging). os.fork runs the ``before`` hooks in reverse order of
    registration, and logging's and the thread pools' take their locks there: ours must come
    first (registered after theirs), or a fork would hold the logging lock while waiting for a
    connection being opened that needs it (every fork then waited the whole stream timeout)."""
    if _hooks:
        return
    with _registered:
        if not _hooks:
            for first in ("concurrent.futures.thread", "logging"):  # their hooks registered before ours
                importlib.import_module(first)
            os.register_at_fork(before=_before, after_in_parent=_in_parent, after_in_child=_in_child)
            _hooks.append(True)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is running: not gone, and not a zombie (exited, not yet
    reaped by its parent: a claim or lock it holds is as good as released). Another user's
    process counts as running."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rpartition(b")")[2].split()[:1]  # the field after "(command name)"
    except OSError:  # no /proc (not Linux), or it just went
        return True
    return state != [b"Z"]


__all__ = ["ForkAware", "in_child", "process_alive", "set_aside", "unforked"]
