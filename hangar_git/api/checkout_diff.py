"""``co.diff``: Hangar 0.5's diff of a checkout against a branch, a commit or its staging area.

Each method returns Hangar's structure, ``DiffAndConflicts(diff, conflict)``:
``diff`` is ``DiffOut(added, deleted, mutated)``, each a ``Changes(schema,
samples)`` where ``schema`` maps ``ColumnSchemaKey(column, layout)`` to the
schema's digest and ``samples`` holds ``FlatColumnDataKey(column, sample)``
records (``Changes.metadata`` adds the metadata keys, which Hangar 0.5 did not
have). ``conflict`` is ``Conflicts(t1, t21, t22, t3, conflict)``, a preview of
what merging the other side into this checkout's would refuse: ``t1`` added on
both sides differently, ``t21`` deleted here and mutated there, ``t22``
mutated here and deleted there, ``t3`` mutated on both sides differently.

Directions follow Hangar: when this checkout's head is an ancestor of the
other commit (a fast-forward), the diff goes from this checkout to the
other commit; otherwise from the other commit to this checkout, and the
conflicts are those of a 3-way merge from their merge base. Everything is
computed from bookkeeping (tree ids); no sample data is read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Union

from ..bookkeeping import branches
from ..bookkeeping.diff import diff_trees
from ..bookkeeping.gitrepo import GitRepo, Oid
from ..bookkeeping.merge import Conflict, plan_merge
from ..bookkeeping.snapshot import Snapshot
from ..core import revisions

if TYPE_CHECKING:
    from .checkout import Checkout
    from .session import CheckoutSession
    from .writer import WriterCheckout


class ColumnSchemaKey(NamedTuple):
    column: str
    layout: str


class FlatColumnDataKey(NamedTuple):
    column: str
    sample: Union[str, int]

    @property
    def layout(self) -> str:
        return "flat"


class _ChangesFields(NamedTuple):
    schema: dict
    samples: tuple


class Changes(_ChangesFields):
    """Schema and sample records (Hangar's two fields), and ``metadata`` keys (ours)."""

    metadata: tuple

    def __new__(cls, schema: dict, samples: tuple, metadata: tuple = ()) -> "Changes":
        self = super().__new__(cls, schema, samples)
        self.metadata = tuple(metadata)
        return self

    def __eq__(self, other: object) -> bool:
        return tuple.__eq__(self, other) is True and getattr(other, "metadata", ()) == self.metadata

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]  # holds a dict, as Hangar's did

    def __reduce__(self) -> tuple:
        return Changes, (self.schema, self.samples, self.metadata)

    def __repr__(self) -> str:
        return f"Changes(schema={self.schema!r}, samples={self.samples!r}, metadata={self.metadata!r})"


class DiffOut(NamedTuple):
    added: Changes
    deleted: Changes
    mutated: Changes


class Conflicts(NamedTuple):
    """``t1`` added on both sides differently, ``t21`` deleted here and mutated there,
    ``t22`` mutated here and deleted there, ``t3`` mutated differently on both sides."""

    t1: Changes
    t21: Changes
    t22: Changes
    t3: Changes
    conflict: bool


class DiffAndConflicts(NamedTuple):
    diff: DiffOut
    conflict: Conflicts


def _schema_digests(git: GitRepo, snap: Snapshot, names: Any) -> dict:
    """``ColumnSchemaKey -> digest`` (the schema record's git id) of ``names`` in ``snap``."""
    out = {}
    for name in names:
        tree = snap.column_trees.get(name)
        if tree is not None:
            out[ColumnSchemaKey(name, "flat")] = git.tree_entries(tree)["schema.json"][0]
    return out


def diff_out(git: GitRepo, old_root: Optional[str], new_root: Optional[str]) -> DiffOut:
    """What changed from root tree ``old_root`` to ``new_root``, in Hangar's structure."""
    d = diff_trees(git, old_root, new_root)
    old, new = Snapshot(git, Oid(old_root) if old_root else None), Snapshot(git, Oid(new_root) if new_root else None)

    def samples(kind: str) -> tuple:
        return tuple(FlatColumnDataKey(col, k) for col in sorted(d.samples)
                     for k in getattr(d.samples[col], kind))

    return DiffOut(
        added=Changes(_schema_digests(git, new, d.columns_added), samples("added"), d.metadata.added),
        deleted=Changes(_schema_digests(git, old, d.columns_removed), samples("removed"), d.metadata.removed),
        mutated=Changes(_schema_digests(git, new, d.schema_changed), samples("mutated"), d.metadata.mutated))


_KIND = {("added", "added"): "t1", ("deleted", "mutated"): "t21", ("deleted", "modified"): "t21",
         ("mutated", "deleted"): "t22", ("modified", "deleted"): "t22", ("mutated", "mutated"): "t3"}


def conflicts(git: GitRepo, base_root: Optional[str], head_root: Optional[str],
              other_root: Optional[str]) -> Conflicts:
    """What a 3-way merge of ``other_root`` into ``head_root`` (from ``base_root``) refuses."""
    found = plan_merge(git, base_root, head_root, other_root).conflicts
    base = Snapshot(git, Oid(base_root) if base_root else None)
    other = Snapshot(git, Oid(other_root) if other_root else None)
    head = Snapshot(git, Oid(head_root) if head_root else None)
    parts: dict[str, tuple[dict, list, list]] = {t: ({}, [], []) for t in ("t1", "t21", "t22", "t3")}
    for c in found:
        schema, samples, metadata = parts[_kind(c, base)]
        if c.kind == "sample":
            samples.append(FlatColumnDataKey(c.column, c.key))  # type: ignore[arg-type]
        elif c.kind == "metadata":
            metadata.append(c.key)
        else:
            side = other if c.column in other.column_trees else head
            schema.update(_schema_digests(git, side, [c.column]))
    out = {t: Changes(s, tuple(k), tuple(m)) for t, (s, k, m) in parts.items()}
    return Conflicts(conflict=bool(found), **out)


def _kind(c: Conflict, base: Snapshot) -> str:
    if c.kind == "schema":
        return "t3" if c.column in base.column_trees else "t1"
    return _KIND.get((c.master, c.dev), "t3")


def _no_conflicts() -> Conflicts:
    empty = Changes({}, ())
    return Conflicts(empty, empty, empty, empty, False)


class ReaderUserDiff:
    """``co.diff`` of a read checkout: ``commit(digest)`` and ``branch(name)``."""

    def __init__(self, checkout: "Checkout", session: "CheckoutSession") -> None:
        self._co = checkout
        self._session = session
        self._git: GitRepo = session.ctx.git

    def _head(self) -> tuple[Optional[Oid], Optional[str]]:
        """(head commit, root tree) of this checkout."""
        commit = Oid(getattr(self._co, "commit_hash"))
        return commit, self._git.commit_info(commit).tree

    def commit(self, dev_commit_hash: str) -> DiffAndConflicts:
        """Diff against a commit (a ValueError if there is no such commit)."""
        self._session.check_open()
        return self._against(revisions.resolve(self._git, dev_commit_hash))

    def branch(self, dev_branch: str) -> DiffAndConflicts:
        """Diff against the head of a branch (a ValueError if there is no such branch)."""
        self._session.check_open()
        return self._against(branches.branch_head(self._git, dev_branch))

    def _against(self, dev: Oid) -> DiffAndConflicts:
        git = self._git
        head, head_tree = self._head()
        dev_tree = git.commit_info(dev).tree
        if head is None or git.is_ancestor(head, dev):
            return DiffAndConflicts(diff_out(git, head_tree, dev_tree), _no_conflicts())
        base = git.merge_base(head, dev)
        base_tree = git.commit_info(base).tree if base else None
        return DiffAndConflicts(diff_out(git, dev_tree, head_tree), conflicts(git, base_tree, head_tree, dev_tree))


class WriterUserDiff(ReaderUserDiff):
    """``co.diff`` of a write checkout: also ``status()`` and ``staged()``; comparisons
    start from the staging area."""

    _co: "WriterCheckout"

    def _head(self) -> tuple[Optional[Oid], Optional[str]]:
        return self._co.base_commit, self._co.flush()

    def status(self) -> str:
        """``'DIRTY'`` when the staging area differs from the branch head, else ``'CLEAN'``."""
        self._co.flush()
        return "DIRTY" if self._co.has_changes else "CLEAN"

    def staged(self) -> DiffAndConflicts:
        """What the staging area changes on the branch head."""
        base = self._co.base_commit
        staged_tree = self._co.flush()
        base_tree = self._git.commit_info(base).tree if base else None
        return DiffAndConflicts(diff_out(self._git, base_tree, staged_tree), _no_conflicts())
