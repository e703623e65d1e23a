"""The write checkout: the single writer of a branch, its staging area and commits."""
from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading
from typing import Any, Optional, Sequence, Union

import numpy as np

from ..bookkeeping.gitrepo import Oid
from ..bookkeeping.records import KEY_INDEX_DIGITS, ColumnSchema, check_name
from ..bookkeeping.snapshot import ColumnRecords, Snapshot
from ..bookkeeping.writer import write_column, write_root
from ..errors import (ColumnExistsError, DirtyStagingError, NothingStagedError,
                      NotPicklableError, NothingToCommitError, SchemaError)
from ..heap import release_freed
from . import column_reads
from .checkout import Checkout
from .column_set import check_hangar_options, ndarray_schema
from .columns import Column, make_column
from .context import RepoContext

PRESENCE_BLOCK = 1 << 16
"""Staged digests looked up in the store at a time after a flush (their temporaries stay small)."""
LOCATIONS_SHARE = 8
"""A flush writes a large column's locations file when it changed at least 1/8 of its rows
(a new column, a rewrite): its cost, one lookup per row, is then small beside the flush's own."""


_OPEN: dict[int, "WriterCheckout"] = {}
"""The write checkouts open in this process (held, so one dropped unclosed is still saved at exit)."""


class WriterCheckout(Checkout):
    """The single writer of a branch. What it writes is in the staging area (which outlives
    the process) once a ``with col:`` / ``with co.columns:`` block ends, on ``flush()``,
    ``commit()`` and ``close()``, and at a normal interpreter exit if it is still open."""

    is_writer = True

    def __init__(self, ctx: RepoContext, branch: str) -> None:
        super().__init__(ctx)
        self.branch_name = branch
        self._lock = ctx.writer_lock().acquire()
        try:
            self._open_staging()
        except BaseException:
            self._lock.release()
            raise
        self._pid = os.getpid()
        _OPEN[id(self)] = self

    # -- staging area ------------------------------------------------------------
    def _open_staging(self) -> None:
        staged = self._ctx.staging.open(self.branch_name)
        self.base_commit: Optional[Oid] = staged.base
        self.staging_tree = staged.tree
        self._load(staged.tree)

    def flush(self) -> Optional[Oid]:
        """Persist staged data and records (they survive this process); returns the staging tree."""
        self._check_open()
        self._store.flush()
        self._store.release_pages()  # before the records are written (a big flush's peak)
        session = self._session
        if not session.dirty:
            return self.staging_tree
        git = self._ctx.git
        trees: dict[str, Optional[str]] = {name: None for name in session.removed}
        for name, col in session.dirty_columns.items():
            if name in session.columns:
                release_freed()  # the store's flush and the last column's shards are done with
                records, changes = column_reads.staged(col)
                tree, _ = write_column(git, records, col.schema, changes)
                trees[name] = tree
                del records, changes  # (the column holds them until it is rebased on its new records)
        metadata = dict(session.metadata) if session.metadata_dirty else None
        root = write_root(git, self.staging_tree, trees, metadata)
        self._ctx.staging.save(self.branch_name, self.base_commit, root, self._ctx.user)
        self.staging_tree = root
        self._reload_flushed(trees)
        return root

    def _reload_flushed(self, trees: dict[str, Optional[str]]) -> None:
        self._snapshot = Snapshot(self._ctx.git, self.staging_tree)
        for name, tree in trees.items():
            if tree is not None:
                old = self._session.columns[name]
                rec = self._snapshot.column(name)
                if self._complete_after_flush(old):
                    self._ctx.presence.mark_complete(tree)
                replaced, changes = column_reads.staged(old)
                if replaced is not None and replaced.samples_tree != rec.samples_tree:
                    self._drop_staged_key_index(name, replaced)
                locate = len(changes) * LOCATIONS_SHARE >= rec.count
                del replaced, changes
                column_reads.rebase(old, rec)  # in place: column objects the user holds stay live
                if locate:  # once the staged changes are let go (a million of them: 40 MB)
                    release_freed()  # the shards' texts and buffers are done with
                    self._write_locations(rec)
        self._session.flushed()

    def _complete_after_flush(self, col: Column) -> bool:
        """Whether every sample of ``col`` is known to be here once its staged changes are
        its records: a new column's are (it holds only data written here); an old one's
        when its records were and the store holds every digest it stages, looked up at once
        (one by one, as hex, a million staged rows took 10 s and 200 MB)."""
        records, changes = column_reads.staged(col)
        if records is None:
            return True
        if not self._ctx.presence.is_complete(records.tree):
            return False
        run = changes.merged()
        raws = [t.raws[~t.gone] if t.gone.any() else t.raws for t in (run.ints, run.texts) if len(t)]
        complete = not any(self._store.absent(r[lo:lo + PRESENCE_BLOCK]).any()
                           for r in raws for lo in range(0, len(r), PRESENCE_BLOCK))
        self._store.release_pages()  # the index pages the look-ups read
        return complete

    def _write_locations(self, rec: ColumnRecords) -> None:
        """Write the locations file of a large column's new records (:mod:`..storage.locations`):
        random reads of its rows then slice their bytes without a pack index lookup."""
        index = rec.key_index()
        locations = self._ctx.git.locations
        if index is None or rec.samples_tree is None or os.path.exists(locations.path(rec.samples_tree)):
            return
        parts = self._store.locations_of(index.digests, after_block=index.release_pages)
        if parts is not None:
            locations.write(rec.samples_tree, *parts)

    def _drop_staged_key_index(self, name: str, replaced: ColumnRecords) -> None:
        """Remove the key index of a large column's staging state that the staging area
        has just moved past and the branch head does not hold (each flush of a million
        rows would otherwise leave 40 MB for ``gc``)."""
        if replaced.samples_tree is None or replaced.digits < KEY_INDEX_DIGITS:
            return
        git = self._ctx.git
        head = Snapshot(git, git.commit_info(self.base_commit).tree) if self.base_commit else None
        column = head.column_trees.get(name) if head is not None else None
        if column is None or git.tree_entries(column).get("samples", (None,))[0] != replaced.samples_tree:
            git.key_indexes.discard(replaced.samples_tree)
            git.locations.remove(replaced.samples_tree)

    @property
    def has_changes(self) -> bool:
        """True when the staging area differs from the branch head."""
        if self._session.dirty:
            return True
        head_tree = self._ctx.git.commit_info(self.base_commit).tree if self.base_commit else None
        if head_tree is None:
            return bool(self._session.columns) or len(self.metadata) > 0
        return self.staging_tree != head_tree

    def commit(self, commit_message: str) -> str:
        """Record the staging area as a new commit on the branch; returns its digest."""
        self._check_open()
        if not isinstance(commit_message, str) or not commit_message.strip():
            raise SchemaError("a commit needs a non-empty message", expected="text", given=commit_message)
        self.flush()
        if not self.has_changes:
            raise NothingToCommitError("nothing to commit: the staging area matches the branch head")
        root = self.staging_tree or write_root(self._ctx.git, None, {}, {})
        commit = self._ctx.staging.commit(self.branch_name, self.base_commit, root,
                                          commit_message.rstrip() + "\n", self._ctx.user)
        self.base_commit = commit
        self.staging_tree = root
        return commit

    @property
    def commit_hash(self) -> str:
        """The head commit of the branch this checkout writes to ('' before the first commit)."""
        return self.base_commit or ""

    def reset_staging_area(self) -> str:
        """Drop every uncommitted change; returns the branch head digest."""
        self._check_open()
        if not self.has_changes:
            raise NothingStagedError(
                f"nothing to reset: the staging area of {self.branch_name!r} matches its head")
        self._ctx.staging.drop()
        self._reopen()
        return self.base_commit or ""

    def _reopen(self) -> None:
        """Load the staging area afresh; column objects the user holds follow it."""
        self._session.flushed()
        held = self._session.columns
        self._open_staging()
        fresh = self._session.columns
        for name, col in held.items():
            if column_reads.adopt(col, fresh.get(name)):
                fresh[name] = col

    def merge(self, message: str, dev_branch: str, *, allow_unrelated_histories: bool = False) -> str:
        """Merge ``dev_branch`` into this checkout's branch (as ``repo.merge`` does, under
        this checkout's writer lock); returns the branch's new head digest."""
        from .merge import merge_held
        self._check_open()
        if self.has_changes:
            raise DirtyStagingError(
                f"uncommitted changes on {self.branch_name!r}: commit or reset them before merging")
        head = merge_held(self._ctx, message, self.branch_name, dev_branch,
                          allow_unrelated_histories=allow_unrelated_histories)
        self._reopen()
        return head

    # -- columns -------------------------------------------------------------------
    def add_ndarray_column(self, name: str, shape: Union[int, Sequence[int], None] = None,
                           dtype: Any = None, prototype: Optional[np.ndarray] = None,
                           variable_shape: bool = False, contains_subsamples: bool = False, *,
                           backend: Optional[str] = None, backend_options: Optional[dict] = None) -> Column:
        """Create an ndarray column: from a ``prototype`` array or an explicit shape and dtype.
        ``backend``/``backend_options`` are accepted for Hangar code and select nothing."""
        self._check_open()
        check_hangar_options(name, contains_subsamples, backend, backend_options)
        return self._add_column(name, ndarray_schema(name, shape, dtype, prototype, variable_shape))

    def add_str_column(self, name: str, contains_subsamples: bool = False, *,
                       backend: Optional[str] = None, backend_options: Optional[dict] = None) -> Column:
        """Create a column of text samples."""
        self._check_open()
        check_hangar_options(name, contains_subsamples, backend, backend_options)
        return self._add_column(name, ColumnSchema("str"))

    def add_bytes_column(self, name: str, contains_subsamples: bool = False, *,
                         backend: Optional[str] = None, backend_options: Optional[dict] = None) -> Column:
        """Create a column of raw-bytes samples."""
        self._check_open()
        check_hangar_options(name, contains_subsamples, backend, backend_options)
        return self._add_column(name, ColumnSchema("bytes"))

    def _add_column(self, name: str, schema: ColumnSchema) -> Column:
        self._check_open()
        check_name(name)
        if name in self._session.columns:
            raise ColumnExistsError(name)
        col = make_column(self._session, name, schema, None)
        self._session.add_column(col)
        return col

    def close(self) -> None:
        """Persist the staging area and release the writer lock."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self._release()

    def discard(self) -> None:
        """Close without persisting what was written since the last flush (the staging area
        stays as the last flush left it) and release the writer lock: prompt, for a writer
        given up on (an error or Ctrl-C); data already stored is freed by ``gc``."""
        if not self.closed:
            self._release()

    def _release(self) -> None:
        self.closed = True
        _OPEN.pop(id(self), None)
        self._lock.release()

    def close_at_exit(self) -> None:
        """Close at interpreter exit, in the process that opened this checkout only (a forked
        child's copy neither flushes nor releases its parent's); a failure is one line on stderr."""
        if self.closed or self._pid != os.getpid():
            return
        try:
            self.close()
        except Exception as exc:  # the interpreter is exiting: say what was lost, no traceback
            print(f"hangar-git: the staging area of branch {self.branch_name!r} could not be saved at exit "
                  f"({exc}): what was written since the last flush is lost", file=sys.stderr)

    def __reduce__(self) -> tuple:
        raise NotPicklableError(
            "a write checkout cannot be pickled (the writer lock stays in its process): "
            "commit, then pass repo.checkout() or its columns to other processes")

    def __repr__(self) -> str:
        return ("Hangar WriterCheckout\n    Writer       : True\n"
                f"    Base Branch  : {self.branch_name}\n    Num Columns  : {len(self.columns)}\n"
                f"    Num Metadata : {len(self.metadata)}\n")


def _close_open_writers() -> None:
    """Save and close what this process left open (a Hangar 0.5 habit: no ``co.close()``)."""
    for co in list(_OPEN.values()):
        co.close_at_exit()


# The store's flush hashes and writes with thread pools, which refuse work once Python's
# threading shutdown has run (before ``atexit`` handlers): this runs at that shutdown, ahead of
# the thread pools' own hook (registered earlier, as concurrent.futures.thread is imported,
# and run later: these hooks run last-registered first).
importlib.import_module("concurrent.futures.thread")  # (registers the thread pools' hook now)
try:
    getattr(threading, "_register_atexit")(_close_open_writers)
except (AttributeError, RuntimeError):  # no such hook in this Python, or imported during shutdown
    atexit.register(_close_open_writers)
