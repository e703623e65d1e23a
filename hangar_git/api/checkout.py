"""Checkouts: a read view of one commit, or the single writer of a branch."""
from __future__ import annotations

import warnings
from typing import Any, Iterator, Optional, Sequence, TypeVar, Union

import numpy as np

from ..bookkeeping.gitrepo import STAGING, Oid, RefChangedError, branch_ref
from ..bookkeeping.records import ColumnSchema, check_name
from ..bookkeeping.snapshot import Snapshot
from ..bookkeeping.writer import write_column, write_root
from ..errors import (AlreadyExistsError, ColumnNotFoundError, HangarError, NothingToCommitError,
                      PermissionDeniedError, SchemaError, WriterLockError, join_names)
from ..faults import checkpoint
from ..locks import HeldLock
from ..storage import check_dtype_supported
from .columns import Column, make_column
from .context import RepoContext
from .metadata import Metadata

_C = TypeVar("_C", bound="Checkout")
STAGING_MESSAGE = "hangar staging area\n\nbranch: {branch}\n"


class Columns:
    """The columns of a checkout, by name (``co.columns``)."""

    def __init__(self, checkout: "Checkout") -> None:
        self._co = checkout
        self._columns: dict[str, Column] = {}

    def __getitem__(self, name: str) -> Column:
        self._co._check_open()
        try:
            return self._columns[name]
        except KeyError:
            raise ColumnNotFoundError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return self._columns.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return len(self._columns)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._columns))

    def keys(self) -> list[str]:
        return sorted(self._columns)

    def values(self) -> list[Column]:
        return [self._columns[k] for k in self.keys()]

    def items(self) -> list[tuple[str, Column]]:
        return [(k, self._columns[k]) for k in self.keys()]

    @property
    def iswriteable(self) -> bool:
        return self._co.is_writer

    @property
    def contains_remote_references(self) -> dict[str, bool]:
        """Column name -> whether it has samples whose data is not local."""
        return {name: col.contains_remote_references for name, col in self.items()}

    @property
    def remote_sample_keys(self) -> dict[str, tuple]:
        return {name: col.remote_reference_keys for name, col in self.items()}

    def __delitem__(self, name: str) -> None:
        self._co._delete_column(name)

    def delete(self, name: str) -> str:
        """Remove a column (and all its samples) from the staging area."""
        self._co._delete_column(name)
        return name

    def __repr__(self) -> str:
        remote = self.contains_remote_references
        lines = [f"Hangar Columns\n    Writeable         : {self.iswriteable}\n",
                 f"    Number of Columns : {len(self)}\n",
                 "    Column Names / Partial Remote References:\n"]
        lines += [f"      - {name} / {remote[name]}\n" for name in self.keys()]
        return "".join(lines)


class Checkout:
    """Common behaviour of read and write checkouts."""

    is_writer = False

    def __init__(self, ctx: RepoContext) -> None:
        self._ctx = ctx
        self._store = ctx.store
        self.closed = False
        self.columns = Columns(self)
        self.metadata: Metadata = None  # type: ignore[assignment]
        self._snapshot: Snapshot

    def _load(self, tree: Optional[Oid]) -> None:
        self._snapshot = Snapshot(self._ctx.git, tree)
        self.columns._columns = {
            name: make_column(self, name, rec.schema, rec)
            for name, rec in ((n, self._snapshot.column(n)) for n in self._snapshot.column_trees)}
        if getattr(self, "metadata", None) is None:
            self.metadata = Metadata(self, self._snapshot.metadata)
        else:  # keep handles users hold (``meta = co.metadata``) live across resets
            self.metadata._data = dict(self._snapshot.metadata)
            self.metadata.dirty = False

    def _check_open(self) -> None:
        if self.closed:
            raise PermissionDeniedError("this checkout is closed: open a new one with repo.checkout()")

    def _mark_dirty(self, column: Optional[Column]) -> None:
        raise PermissionDeniedError("read-only checkout")

    def _delete_column(self, name: str) -> None:
        raise PermissionDeniedError(
            f"cannot delete column {name!r} from a read-only checkout: open repo.checkout(write=True)")

    def __getitem__(self, index: Union[str, tuple]) -> Any:
        """``co[col]`` a column; ``co[col, key]`` a sample; ``co[col, [k1, k2]]`` several."""
        if type(index) is tuple:
            name, keys = index
            col = self.columns._columns.get(name) or self.columns[name]
            if type(keys) is int or type(keys) is str:
                return col[keys]
            if isinstance(keys, (list, tuple)):
                return [col[k] for k in keys]
            return col[keys]
        return self.columns[index]  # type: ignore[index]

    def get(self, name: str, key: Any, default: Any = None) -> Any:
        col = self.columns.get(name)
        return default if col is None else col.get(key, default)

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True

    def _warn_remote_references(self) -> None:
        partial = [name for name, col in self.columns.items() if col.contains_remote_references]
        if partial:
            warnings.warn(
                f"column(s) {join_names(partial)} contain remote references: some samples' data "
                f"is not on this machine. Run `git hangar fetch-data REMOTE BRANCH` to retrieve it",
                UserWarning, stacklevel=3)


class ReaderCheckout(Checkout):
    """A read-only view of one commit."""

    def __init__(self, ctx: RepoContext, commit: Oid, branch: str = "") -> None:
        super().__init__(ctx)
        self.commit_hash = commit
        self.branch_name = branch
        self._load(ctx.git.commit_info(commit).tree)
        self._warn_remote_references()

    def __repr__(self) -> str:
        return ("Hangar ReaderCheckout\n    Writer       : False\n"
                f"    Commit Hash  : {self.commit_hash}\n    Num Columns  : {len(self.columns)}\n"
                f"    Num Metadata : {len(self.metadata)}\n")


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
                raise HangarError(
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
            raise HangarError(
                f"branch {self.branch_name!r} moved while this checkout was open; nothing was "
                f"committed. Close this checkout, open a new one and redo the changes") from None
        checkpoint("commit.before_staging_drop")
        git.set_ref(STAGING, None)
        self.base_commit = commit
        self.staging_tree = root
        return commit

    def reset_staging_area(self) -> str:
        """Drop every uncommitted change; returns the branch head digest."""
        self._check_open()
        self._ctx.git.set_ref(STAGING, None)
        self._dirty_columns.clear()
        self._removed.clear()
        self._dirty = False
        held = self.columns._columns
        self._open_staging()
        for name, col in held.items():  # held column objects follow the reset
            col._changes, col._count = {}, 0
            new = self.columns._columns.get(name)
            if new is not None and new.schema == col.schema:
                col._records, col._count = new._records, new._count
                self.columns._columns[name] = col
        return self.base_commit or ""

    # -- columns -------------------------------------------------------------------
    def add_ndarray_column(self, name: str, shape: Union[int, Sequence[int], None] = None,
                           dtype: Any = None, prototype: Optional[np.ndarray] = None,
                           variable_shape: bool = False, **_: Any) -> Column:
        """Create an ndarray column: from a ``prototype`` array or an explicit shape and dtype."""
        if prototype is not None:
            if not isinstance(prototype, np.ndarray):
                raise SchemaError("prototype must be a numpy array", expected="numpy.ndarray",
                                  given=type(prototype).__name__)
            shape, dtype = prototype.shape, prototype.dtype
        if shape is None or dtype is None:
            raise SchemaError(f"column {name!r} needs a prototype array or both shape and dtype",
                              expected="prototype or shape+dtype", given=(shape, dtype))
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
        if any(s < 0 for s in shape) or len(shape) > 31:
            raise SchemaError(f"invalid shape {shape} for column {name!r}", expected="up to 31 dims >= 0",
                              given=shape)
        try:
            np_dtype = np.dtype(dtype)
        except TypeError:
            raise SchemaError(f"invalid dtype {dtype!r}", expected="a numpy dtype", given=dtype) from None
        check_dtype_supported(np_dtype)
        schema = ColumnSchema("ndarray", dtype=np_dtype.str, shape=shape, variable_shape=bool(variable_shape))
        return self._add_column(name, schema)

    def add_str_column(self, name: str, **_: Any) -> Column:
        """Create a column of text samples."""
        return self._add_column(name, ColumnSchema("str"))

    def add_bytes_column(self, name: str, **_: Any) -> Column:
        """Create a column of raw-bytes samples."""
        return self._add_column(name, ColumnSchema("bytes"))

    def _add_column(self, name: str, schema: ColumnSchema) -> Column:
        self._check_open()
        check_name(name)
        if name in self.columns._columns:
            raise AlreadyExistsError(f"column {name!r} already exists: delete it first or use another name")
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

    def __setitem__(self, index: tuple, value: Any) -> None:
        """``co[col, key] = value``."""
        name, key = index
        self.columns[name][key] = value

    def close(self) -> None:
        """Persist the staging area and release the writer lock."""
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            self._lock.release()

    def __repr__(self) -> str:
        return ("Hangar WriterCheckout\n    Writer       : True\n"
                f"    Base Branch  : {self.branch_name}\n    Num Columns  : {len(self.columns)}\n"
                f"    Num Metadata : {len(self.metadata)}\n")
