"""The write checkout: the single writer of a branch, its staging area and commits."""
from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence, Union

import numpy as np

from ..bookkeeping.gitrepo import STAGING, STAGING_MESSAGE, Oid, RefChangedError, branch_ref
from ..bookkeeping.records import ColumnSchema, check_name
from ..bookkeeping.snapshot import Snapshot
from ..bookkeeping.writer import write_column, write_root
from ..errors import (ColumnExistsError, ColumnNotFoundError, DirtyStagingError, NothingStagedError,
                      NotPicklableError, NothingToCommitError, RefMovedError, SchemaError, WriterLockError)
from ..faults import checkpoint
from ..locks import HeldLock
from .checkout import Checkout
from .column_set import check_hangar_options, ndarray_schema
from .columns import Column, make_column
from .context import RepoContext


class WriterCheckout(Checkout):
    """The single writer of a branch; its staging area survives process exits."""

    is_writer = True

    def __init__(self, ctx: RepoContext, branch: str) -> None:
        super().__init__(ctx)
        self.branch_name = branch
        self._lock = HeldLock(ctx.path("writer.lock"))
        holder = self._lock.try_acquire()
        if holder is not None:
            raise WriterLockError(
                f"another writer holds this repository ({HeldLock.describe(holder)}): close that "
                f"write checkout first; if its process is gone the lock is recovered automatically",
                holder=HeldLock.describe(holder))
        if self._lock.recovered:
            warnings.warn(f"recovered a stale writer lock left by {self._lock.recovered}",
                          UserWarning, stacklevel=3)
        try:
            self._open_staging()
        except BaseException:
            self._lock.release()
            raise
        self._dirty_columns: dict[str, Column] = {}
        self._removed: set[str] = set()
        self._added: set[str] = set()
        self._dirty = False

    # -- staging area ------------------------------------------------------------
    def _open_staging(self) -> None:
        git = self._ctx.git
        self.base_commit: Optional[Oid] = git.get_ref(branch_ref(self.branch_name))
        staged = git.get_ref(STAGING)
        tree: Optional[Oid] = git.commit_info(self.base_commit).tree if self.base_commit else None
        if staged is not None:
            info = git.commit_info(staged)
            same_branch = info.message == STAGING_MESSAGE.format(branch=self.branch_name)
            same_base = (info.parents[:1] == [self.base_commit]) if self.base_commit else not info.parents
            if same_branch and same_base:
                tree = info.tree
            elif same_branch and tree is not None and info.tree == tree:
                pass
            elif self._staging_is_clean(info):
                git.set_ref(STAGING, None)
            else:
                raise DirtyStagingError(
                    f"the staging area holds uncommitted changes made on another base "
                    f"({info.message.splitlines()[-1]}): check out that branch and commit or "
                    f"reset them first")
        self.staging_tree = tree
        self._load(tree)

    def _staging_is_clean(self, info: Any) -> bool:
        if not info.parents:
            return not self._ctx.git.tree_entries(info.tree).get("columns")
        return self._ctx.git.commit_info(info.parents[0]).tree == info.tree

    def _mark_dirty(self, column: Optional[Column]) -> None:
        self._dirty = True
        if column is not None:
            self._dirty_columns[column.name] = column

    def flush(self) -> Optional[Oid]:
        """Persist staged data and records (they survive this process); returns the staging tree."""
        self._check_open()
        self._store.flush()
        if not self._dirty:
            return self.staging_tree
        git = self._ctx.git
        trees: dict[str, Optional[str]] = {name: None for name in self._removed}
        for name, col in self._dirty_columns.items():
            if name in self.columns._columns:
                tree, _ = write_column(git, col._records, col.schema, col._changes)
                trees[name] = tree
        metadata = self.metadata.as_dict() if self.metadata.dirty else None
        root = write_root(git, self.staging_tree, trees, metadata)
        parents = [self.base_commit] if self.base_commit else []
        staged = git.create_commit(root, parents, STAGING_MESSAGE.format(branch=self.branch_name),
                                   *self._ctx.user)
        checkpoint("staging.before_ref")
        git.set_ref(STAGING, staged)
        self.staging_tree = root
        self._reload_flushed(trees)
        return root

    def _reload_flushed(self, trees: dict[str, Optional[str]]) -> None:
        self._snapshot = Snapshot(self._ctx.git, self.staging_tree)
        for name, tree in trees.items():
            if tree is not None:
                old = self.columns._columns[name]
                rec = self._snapshot.column(name)
                # a new column holds only data written here; an old one keeps its status
                if old._records is None or old._is_known_complete():
                    self._ctx.presence.mark_complete(tree)
                # rebase in place: column objects the user holds must stay live
                old._records, old._changes, old._count = rec, {}, rec.count
        self.metadata.dirty = False
        self._dirty_columns.clear()
        self._removed.clear()
        self._added.clear()
        self._dirty = False

    @property
    def has_changes(self) -> bool:
        """True when the staging area differs from the branch head."""
        if self._dirty:
            return True
        head_tree = self._ctx.git.commit_info(self.base_commit).tree if self.base_commit else None
        if head_tree is None:
            return bool(self.columns._columns) or len(self.metadata) > 0
        return self.staging_tree != head_tree

    def commit(self, commit_message: str) -> str:
        """Record the staging area as a new commit on the branch; returns its digest."""
        self._check_open()
        if not isinstance(commit_message, str) or not commit_message.strip():
            raise SchemaError("a commit needs a non-empty message", expected="text", given=commit_message)
        self.flush()
        if not self.has_changes:
            raise NothingToCommitError("nothing to commit: the staging area matches the branch head")
        git = self._ctx.git
        parents = [self.base_commit] if self.base_commit else []
        root = self.staging_tree or write_root(git, None, {}, {})
        commit = git.create_commit(root, parents, commit_message.rstrip() + "\n", *self._ctx.user)
        checkpoint("commit.before_branch_ref")
        try:
            git.set_ref(branch_ref(self.branch_name), commit, expected=self.base_commit)
        except RefChangedError:
            raise RefMovedError(
                f"branch {self.branch_name!r} moved while this checkout was open; nothing was "
                f"committed. Close this checkout, open a new one and redo the changes") from None
        checkpoint("commit.before_staging_drop")
        git.set_ref(STAGING, None)
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
        self._ctx.git.set_ref(STAGING, None)
        self._reopen()
        return self.base_commit or ""

    def _reopen(self) -> None:
        """Load the staging area afresh; column objects the user holds follow it."""
        self._dirty_columns.clear()
        self._removed.clear()
        self._dirty = False
        held = self.columns._columns
        self._open_staging()
        for name, col in held.items():
            col._changes, col._count = {}, 0
            new = self.columns._columns.get(name)
            if new is not None and new.schema == col.schema:
                col._records, col._count = new._records, new._count
                self.columns._columns[name] = col

    def merge(self, message: str, dev_branch: str) -> str:
        """Merge ``dev_branch`` into this checkout's branch (as ``repo.merge`` does, under
        this checkout's writer lock); returns the branch's new head digest."""
        from .merge import merge_held
        self._check_open()
        if self.has_changes:
            raise DirtyStagingError(
                f"uncommitted changes on {self.branch_name!r}: commit or reset them before merging")
        head = merge_held(self._ctx, message, self.branch_name, dev_branch)
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
        if name in self.columns._columns:
            raise ColumnExistsError(name)
        col = make_column(self, name, schema, None)
        self.columns._columns[name] = col
        self._removed.discard(name)
        self._added.add(name)
        self._mark_dirty(col)
        return col

    def _delete_column(self, name: str) -> None:
        self._check_open()
        if name not in self.columns._columns:
            raise ColumnNotFoundError(name)
        del self.columns._columns[name]
        self._dirty_columns.pop(name, None)
        self._removed.add(name)
        self._dirty = True

    def close(self) -> None:
        """Persist the staging area and release the writer lock."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            self._lock.release()

    def __reduce__(self) -> tuple:
        raise NotPicklableError(
            "a write checkout cannot be pickled (the writer lock stays in its process): "
            "commit, then pass repo.checkout() or its columns to other processes")

    def __repr__(self) -> str:
        return ("Hangar WriterCheckout\n    Writer       : True\n"
                f"    Base Branch  : {self.branch_name}\n    Num Columns  : {len(self.columns)}\n"
                f"    Num Metadata : {len(self.metadata)}\n")
