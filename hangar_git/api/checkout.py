"""Checkouts: what read and write checkouts share, and the read view of one commit."""
from __future__ import annotations

import warnings
from typing import Any, Iterable, Iterator, Optional, Sequence, TypeVar

from ..bookkeeping.gitrepo import Oid
from ..bookkeeping.snapshot import Snapshot
from ..errors import ColumnNotFoundError, DamagedDataWarning, InvalidArgumentError, MissingDataWarning, caller_stacklevel
from ..storage import ObjectStore
from . import log as _log
from .column_reads import read_samples
from .column_set import Columns
from .columns import Column, make_column
from .context import RepoContext
from .hints import fetch_data_hint, revision_words
from .metadata import Metadata
from .session import CheckoutSession

_C = TypeVar("_C", bound="Checkout")


def join_names(names: Iterable[str]) -> str:
    """Names for a message: 'a', 'b' and 'c'."""
    items = [repr(n) for n in names]
    return "".join(items) if len(items) <= 1 else ", ".join(items[:-1]) + " and " + items[-1]


class Checkout:
    """Common behaviour of read and write checkouts; a checkout is also a mapping
    of its columns by name (``'x' in co``, ``len(co)``, ``co.keys()``...)."""

    is_writer = False

    def __init__(self, ctx: RepoContext) -> None:
        self._ctx = ctx
        self._session = CheckoutSession(ctx, self, self.is_writer)
        self.columns = Columns(self._session)
        self.metadata = Metadata(self._session)
        self._snapshot: Snapshot

    @property
    def _store(self) -> ObjectStore:
        return self._session.store

    @property
    def closed(self) -> bool:
        return self._session.closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self._session.closed = value

    def _load(self, tree: Optional[Oid]) -> None:
        """Show the records of root ``tree``; the metadata handle users hold (``meta =
        co.metadata``) stays live, as it reads the session."""
        self._snapshot = Snapshot(self._ctx.git, tree)
        self._session.columns = {
            name: make_column(self._session, name, rec.schema, rec)
            for name, rec in ((n, self._snapshot.column(n)) for n in self._snapshot.column_trees)}
        self._session.metadata = dict(self._snapshot.metadata)
        self._session.metadata_dirty = False

    def _check_open(self) -> None:
        self._session.check_open()

    # -- samples ------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Any:
        """``co[col]`` a column; ``co[col, key]`` a sample; ``co[col, [k1, k2]]`` and
        ``co[[(col, k1), (col2, k2)]]`` several, in order, read in one batch."""
        if type(index) is tuple and len(index) == 2:
            name, keys = index
            if not isinstance(name, str):
                raise InvalidArgumentError(
                    f"co[name, key] reads one column, got {name!r} for its name: for samples of several "
                    f"columns give (column, key) pairs, e.g. co[[('x', 0), ('s', 0)]]")
            col = self._session.columns.get(name) or self.columns[name]
            if isinstance(keys, (list, tuple)):  # keys are never tuples: several keys
                return read_samples([(col, k) for k in keys], except_missing=True)
            return col[keys]
        if isinstance(index, list):
            return read_samples(self._pairs(index), except_missing=True)
        return self.columns[index]

    def get(self, keys: Any, default: Any = None, except_missing: bool = False) -> Any:
        """Like ``co[keys]`` (Hangar 0.5's signature): ``default`` in place of each absent column
        or key, unless ``except_missing`` (then a KeyError). ``keys``: a column name, a
        ``(name, key)`` pair, ``(name, [k1, k2])``, or a list (or tuple) of pairs."""
        try:
            if isinstance(keys, str):
                return self.columns[keys]
            if type(keys) is tuple and len(keys) == 2 and isinstance(keys[0], str):
                if isinstance(keys[1], (list, tuple)):
                    col = self.columns[keys[0]]
                    return read_samples([(col, k) for k in keys[1]], default, except_missing=except_missing)
                return self._read_pairs([keys], default, except_missing)[0]
            if isinstance(keys, (list, tuple)):
                return self._read_pairs(list(keys), default, except_missing)
            return self.columns[keys]
        except ColumnNotFoundError:
            if except_missing:
                raise
            return default

    def _read_pairs(self, index: list, default: Any, except_missing: bool) -> list[Any]:
        """``(name, key)`` items read in one batch; ``default`` for those whose column is absent
        too (unless ``except_missing``)."""
        if except_missing:
            return read_samples(self._pairs(index), default, except_missing=True)
        present = [i for i, item in enumerate(index)
                   if not (isinstance(item, tuple) and len(item) == 2 and item[0] not in self.columns)]
        out = [default] * len(index)
        for i, value in zip(present, read_samples(self._pairs([index[i] for i in present]), default)):
            out[i] = value
        return out

    def _pairs(self, index: list) -> list[tuple[Column, Any]]:
        """(column, key) of each ``(name, key)`` item of a multi-sample read."""
        out = []
        for item in index:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise InvalidArgumentError(f"a multi-sample read takes (column, key) pairs, got {item!r}")
            out.append((self.columns[item[0]], item[1]))
        return out

    def __setitem__(self, index: tuple, value: Any) -> None:
        """``co[col, key] = value`` (a TypeError through a read checkout, as in Hangar)."""
        name, key = index
        self.columns[name][key] = value

    # -- a mapping of columns -----------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __len__(self) -> int:
        return len(self.columns)

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def keys(self) -> list[str]:
        return self.columns.keys()

    def values(self) -> list[Column]:
        return self.columns.values()

    def items(self) -> list[tuple[str, Column]]:
        return self.columns.items()

    @property
    def diff(self) -> Any:
        """Hangar's differ: ``co.diff.branch(name)``, ``co.diff.commit(digest)``; a write
        checkout adds ``status()`` and ``staged()`` (see :mod:`.checkout_diff`)."""
        from .checkout_diff import ReaderUserDiff, WriterUserDiff
        self._check_open()
        return (WriterUserDiff if self.is_writer else ReaderUserDiff)(self, self._session)

    def log(self, *, return_contents: bool = False, show_time: bool = False,
            show_user: bool = False) -> Optional[dict]:
        """The history of this checkout's commit, as ``repo.log`` prints or returns it."""
        self._check_open()
        start = getattr(self, "base_commit", None) if self.is_writer else getattr(self, "commit_hash")
        return _log.log(self._ctx, start, return_contents=return_contents, show_time=show_time,
                        show_user=show_user)

    # -- life cycle ---------------------------------------------------------------
    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.closed:
            self._session.closed_by_with = True
        self.close()

    def close(self) -> None:
        self.closed = True

    def _warn_remote_references(self, revision: Sequence[str]) -> None:
        """Warn once when columns hold samples whose data is elsewhere; ``revision`` is how a
        fetch-data command names what this checkout shows (a branch, or ``--commit DIGEST``)."""
        partial = [name for name, col in self.columns.items() if col.contains_remote_references]
        warn_remote_references(self._ctx, partial, revision, [n for n in partial if self.columns[n].has_damaged_samples])


def warn_remote_references(ctx: RepoContext, columns: list[str], revision: Sequence[str],
                           damaged: Sequence[str] = ()) -> None:
    """A MissingDataWarning (naming the user's line) that ``columns`` of ``revision`` (a branch,
    or ``--commit DIGEST``) have samples whose data is not on this machine, and what to do
    (:func:`.hints.fetch_data_hint`); nothing for no columns. Those of them in ``damaged`` get
    a DamagedDataWarning instead: their copies here were found damaged, not absent."""
    if damaged:
        message = (f"column(s) {join_names(list(damaged))} have samples whose copies on this machine are damaged "
                   f"(they fail their digest check; fetch-data replaces them): {fetch_data_hint(ctx, revision, them=True)}")
        warnings.warn(message, DamagedDataWarning, stacklevel=caller_stacklevel())
    columns = [c for c in columns if c not in damaged]
    if not columns:
        return
    what = ("contain remote references: some samples' data is not on this machine" if ctx.remote_names()
            else "have samples whose data is not on this machine")
    message = f"column(s) {join_names(columns)} {what}; {fetch_data_hint(ctx, revision)}"
    warnings.warn(message, MissingDataWarning, stacklevel=caller_stacklevel())


class ReaderCheckout(Checkout):
    """A read-only view of one commit."""

    def __init__(self, ctx: RepoContext, commit: Oid, branch: str = "") -> None:
        super().__init__(ctx)
        self.commit_hash = commit
        self.branch_name = branch
        self._load(ctx.git.commit_info(commit).tree)
        self._warn_remote_references(revision_words(branch, commit))

    def __reduce__(self) -> tuple:
        """A pickle names the repository, commit and branch; it reopens in the receiving
        process (see :mod:`.reopen`)."""
        from . import reopen
        self._check_open()
        return reopen.reader, (self._ctx.git.git_dir, self.commit_hash, self.branch_name)

    def __repr__(self) -> str:
        return ("Hangar ReaderCheckout\n    Writer       : False\n"
                f"    Commit Hash  : {self.commit_hash}\n    Num Columns  : {len(self.columns)}\n"
                f"    Num Metadata : {len(self.metadata)}\n")
