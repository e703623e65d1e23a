"""What a checkout shares with its columns, its column mapping and its metadata.

A checkout makes one :class:`CheckoutSession` and hands it to every object that belongs
to it; they talk to each other through its public members only (tests/test_private_access.py
keeps it so): whether the checkout is open and may write, the repository and the store, the
columns by name, the metadata, and what a write checkout has staged but not yet flushed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from ..errors import CheckoutClosedError, ColumnNotFoundError, PermissionDeniedError
from ..storage import ObjectStore
from .context import RepoContext

if TYPE_CHECKING:
    from .columns import Column


class CheckoutSession:
    """The state of one checkout, shared with the objects that belong to it."""

    def __init__(self, ctx: RepoContext, owner: Any, is_writer: bool) -> None:
        self.ctx = ctx
        self.store: ObjectStore = ctx.store
        self.owner = owner
        """The checkout (its public ``commit_hash`` and ``branch_name`` name it in messages and pickles)."""
        self.is_writer = is_writer
        self.closed = False
        self.closed_by_with = False
        self.columns: dict[str, "Column"] = {}
        self.metadata: dict[str, str] = {}
        self.metadata_dirty = False
        # what a write checkout changed since its last flush
        self.dirty = False
        self.dirty_columns: dict[str, "Column"] = {}
        self.removed: set[str] = set()
        self.batching = 0
        """How many ``with col:`` / ``with co.columns:`` blocks are running."""

    def check_open(self) -> None:
        """CheckoutClosedError when the checkout was closed."""
        if not self.closed:
            return
        if self.closed_by_with:
            raise CheckoutClosedError(
                "this checkout was closed when its `with` block ended (`with co:` closes the "
                "checkout, unlike Hangar 0.5; `with co.columns:` batches writes and keeps it "
                "open): open a new one with repo.checkout()")
        raise CheckoutClosedError("this checkout is closed: open a new one with repo.checkout()")

    @property
    def writable(self) -> bool:
        return self.is_writer and not self.closed

    def mark_dirty(self, column: Optional["Column"]) -> None:
        """Note a change to ``column`` (None: to the metadata) for the next flush."""
        if not self.is_writer:
            raise PermissionDeniedError("read-only checkout")
        self.dirty = True
        if column is not None:
            self.dirty_columns[column.name] = column

    def begin_batch(self) -> None:
        """A ``with col:`` or ``with co.columns:`` block starts."""
        self.batching += 1

    def end_batch(self, exc_type: object) -> None:
        """A batching block ends (raising ``exc_type``, or None). When the outermost one ends
        in a write checkout, what it wrote is put in the staging area (a flush), as in Hangar
        0.5; after an error only the samples' data is stored (the records wait for the next
        flush: close, commit, exit) and after Ctrl-C (not an Exception) nothing is."""
        self.batching -= 1
        if self.batching or not self.writable:
            return
        if exc_type is None:
            self.owner.flush()
        elif isinstance(exc_type, type) and issubclass(exc_type, Exception):
            self.store.flush()

    def where(self) -> str:
        """Where this checkout's columns and metadata are, for messages: ``on branch 'dev'`` (its
        head, or a write checkout's staging area) or ``in commit a=...``."""
        branch = getattr(self.owner, "branch_name", "")
        if branch:
            return f"in the staging area of branch {branch!r}" if self.is_writer else f"on branch {branch!r}"
        return f"in commit a={getattr(self.owner, 'commit_hash', '')}"

    def add_column(self, column: "Column") -> None:
        self.columns[column.name] = column
        self.removed.discard(column.name)
        self.mark_dirty(column)

    def delete_column(self, name: str) -> None:
        """Remove column ``name`` from the staging area (a write checkout's only)."""
        if not self.is_writer:
            raise PermissionDeniedError(
                f"cannot delete column {name!r} from a read-only checkout: open repo.checkout(write=True)")
        self.check_open()
        if name not in self.columns:
            raise ColumnNotFoundError(name, self.where(), sorted(self.columns))
        del self.columns[name]
        self.dirty_columns.pop(name, None)
        self.removed.add(name)
        self.dirty = True

    def flushed(self) -> None:
        """Everything noted so far is in the staging area now."""
        self.metadata_dirty = False
        self.dirty_columns.clear()
        self.removed.clear()
        self.dirty = False
