"""Read checkouts and their columns in another process: what a pickle of them carries.

A read checkout is named by its repository's git dir, its commit and the
branch it was opened on; a column adds its name. Unpickling opens that
commit afresh in the receiving process (its own git handle and store, made
there), once per process: every column of one checkout that reaches a
process, and every task of a ``multiprocessing.Pool`` that carries
``col.get``, shares one reopened checkout. A forked child never uses the
checkouts its parent reopened: it opens its own.
"""
from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

from ..bookkeeping.gitrepo import Oid
from ..core import locate
from ..errors import NotInitializedError
from ..forks import set_aside
from .context import RepoContext

if TYPE_CHECKING:
    from .checkout import ReaderCheckout
    from .columns import Column

_opened: dict[tuple, "ReaderCheckout"] = {}
_pid = os.getpid()


def reader(git_dir: str, commit: str, branch: str, *stream: object) -> "ReaderCheckout":
    """The read checkout of ``commit`` in this process (opened on first use); ``stream``: the
    options of a streaming checkout (see :mod:`.streaming`)."""
    from .checkout import ReaderCheckout
    global _pid
    if _pid != os.getpid():
        set_aside(dict(_opened))  # the parent's: not used, not freed here
        _opened.clear()
        _pid = os.getpid()
    key = (git_dir, commit, branch, *stream)
    co = _opened.get(key)
    if co is None or co.closed:
        git = locate.at(git_dir)
        if git is None:
            raise NotInitializedError(git_dir)
        with warnings.catch_warnings():  # the process that pickled it was told already
            warnings.filterwarnings("ignore", message=".*remote references", category=UserWarning)
            if stream:
                from .streaming import reopen as reopen_streaming
                co = _opened[key] = reopen_streaming(git_dir, commit, branch, *stream)
            else:
                co = _opened[key] = ReaderCheckout(RepoContext(git), Oid(commit), branch=branch)
    return co


def column(git_dir: str, commit: str, branch: str, name: str, *stream: object) -> "Column":
    """Column ``name`` of the read checkout of ``commit`` in this process."""
    return reader(git_dir, commit, branch, *stream).columns[name]
