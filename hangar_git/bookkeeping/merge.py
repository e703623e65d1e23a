"""Three-way merge of record trees, from bookkeeping alone.

Each side's changes against the merge base are found by comparing tree ids
(:mod:`.diff`), so the work grows with the size of the changes. Rules, at
the level of columns, sample keys and metadata keys:

* a change made on one side only is taken;
* the same change made on both sides is taken once;
* different changes to one key, a delete against a mutation, a column
  deleted on one side and changed on the other, and a column whose schema
  differs between the sides are conflicts; with ``prefer`` (``'master'`` or
  ``'dev'``) each conflict takes that side's version instead (the key, or the
  whole column for column and schema conflicts).

Every conflict is found before anything is written. Columns changed on
one side only are taken by tree id; columns both sides changed are merged
subtree by subtree (:mod:`.shardmerge`), reading only the shards both
changed. Sample data is never read: records name data by digest, and a
merge only moves digests around.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import InvalidArgumentError, MergeConflictError
from .diff import Change, metadata_changes
from .gitrepo import GitRepo, Oid
from .records import ColumnSchema, Key, decode_key
from .shardmerge import SampleMerge, combine
from .snapshot import Snapshot
from .writer import write_root

KINDS = ("schema", "column", "sample", "metadata")


def _action(change: Optional[Change]) -> str:
    if change is None:
        return "unchanged"
    before, after = change
    return "added" if before is None else "deleted" if after is None else "mutated"


def _schema_text(schema: Optional[ColumnSchema]) -> str:
    if schema is None:
        return "deleted"
    if schema.column_type != "ndarray":
        return schema.column_type
    shape = "variable " if schema.variable_shape else ""
    return f"ndarray {schema.dtype} {shape}{schema.shape}"


@dataclass(frozen=True, slots=True)
class Conflict:
    """One change the merge cannot combine.

    ``kind`` is ``schema`` (the column's schema differs between the sides),
    ``column`` (deleted on one side, changed on the other), ``sample`` or
    ``metadata`` (one key changed differently on each side). ``column`` is
    None for metadata; ``key`` is None for column-level conflicts.
    ``master`` and ``dev`` say what each side did (``added``, ``mutated``,
    ``deleted``, ``modified``, or a schema).
    """

    kind: str
    column: Optional[str]
    key: Optional[Key]
    master: str
    dev: str

    def __str__(self) -> str:
        return self.describe("master", "dev")

    def describe(self, master_name: str, dev_name: str) -> str:
        """The conflict in words, naming the two sides ``master_name`` and ``dev_name``."""
        sides = f"{self.master} on {master_name}, {self.dev} on {dev_name}"
        if self.kind == "schema":
            return f"schema conflict: column {self.column!r} is {sides}"
        if self.kind == "column":
            return f"column conflict: column {self.column!r} {sides}"
        if self.kind == "sample":
            return f"sample conflict: column {self.column!r} key {self.key!r} {sides}"
        return f"metadata conflict: key {self.key!r} {sides}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "column": self.column, "key": self.key,
                "master": self.master, "dev": self.dev}

    @classmethod
    def from_dict(cls, d: dict) -> "Conflict":
        return cls(d["kind"], d.get("column"), d.get("key"), d["master"], d["dev"])


@dataclass
class _Plan:
    columns: dict[str, Optional[str]] = field(default_factory=dict)          # taken whole
    writes: dict[str, SampleMerge] = field(default_factory=dict)                # combined records
    metadata: Optional[dict[str, str]] = None
    conflicts: list[Conflict] = field(default_factory=list)
    prefer: Optional[str] = None


def _plan_column(git: GitRepo, plan: _Plan, name: str, base: Snapshot, master: Snapshot,
                 dev: Snapshot) -> None:
    b, m, d = (s.column_trees.get(name) for s in (base, master, dev))
    if m == d or d == b:
        return
    if m == b:
        plan.columns[name] = d
        return
    if m is None or d is None:
        plan.conflicts.append(Conflict("column", name, None, "deleted" if m is None else "modified",
                                       "deleted" if d is None else "modified"))
        if plan.prefer == "dev":
            plan.columns[name] = d
        return
    rm, rd = master.column(name), dev.column(name)
    if rm.schema != rd.schema:
        plan.conflicts.append(Conflict("schema", name, None, _schema_text(rm.schema), _schema_text(rd.schema)))
        if plan.prefer == "dev":
            plan.columns[name] = d
        return
    rb = base.column(name) if b is not None else None
    merged = SampleMerge(git, rb, rm, rd, plan.prefer)
    plan.conflicts += [Conflict("sample", name, decode_key(k), _action(cm), _action(cd))
                       for k, cm, cd in merged.clashes]
    if merged.changes_master:
        plan.writes[name] = merged


def _plan_metadata(plan: _Plan, base: Snapshot, master: Snapshot, dev: Snapshot) -> None:
    dev_changes = metadata_changes(base, dev)
    if not dev_changes:
        return
    apply, clashes = combine(metadata_changes(base, master), dev_changes, plan.prefer)
    plan.conflicts += [Conflict("metadata", None, k, _action(cm), _action(cd)) for k, cm, cd in clashes]
    if apply:
        merged = dict(master.metadata)
        for key, value in apply.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        plan.metadata = merged


def _sort_key(c: Conflict) -> tuple:
    key = c.key
    return (KINDS.index(c.kind), c.column or "", (0, key, "") if type(key) is int else (1, 0, str(key)))


def plan_merge(git: GitRepo, base_root: Optional[str], master_root: Optional[str],
               dev_root: Optional[str], prefer: Optional[str] = None) -> _Plan:
    """Decide every column and key; conflicts are collected, nothing is written."""
    if prefer not in (None, "master", "dev"):
        raise InvalidArgumentError(f"prefer must be None, 'master' or 'dev', not {prefer!r}")
    base, master, dev = (Snapshot(git, Oid(t) if t else None) for t in (base_root, master_root, dev_root))
    plan = _Plan(prefer=prefer)
    for name in sorted(base.column_trees.keys() | master.column_trees.keys() | dev.column_trees.keys()):
        _plan_column(git, plan, name, base, master, dev)
    _plan_metadata(plan, base, master, dev)
    plan.conflicts.sort(key=_sort_key)
    return plan


def merge_trees(git: GitRepo, base_root: Optional[str], master_root: Optional[str],
                dev_root: Optional[str], prefer: Optional[str] = None,
                resolved: Optional[list[Conflict]] = None) -> tuple[Oid, dict[str, tuple[str, str, str]]]:
    """Root tree of the 3-way merge; raises MergeConflictError before writing anything
    (with ``prefer``, conflicts take that side instead and are appended to ``resolved``).

    Also returns, for each column whose records were combined, the column
    tree ids (merged, master, dev), so callers can carry cached facts over.
    """
    plan = plan_merge(git, base_root, master_root, dev_root, prefer)
    if plan.conflicts and prefer is None:
        raise MergeConflictError(plan.conflicts)
    if resolved is not None:
        resolved += plan.conflicts
    trees = dict(plan.columns)
    combined: dict[str, tuple[str, str, str]] = {}
    for name, merged in plan.writes.items():
        tree = merged.write()
        trees[name] = tree
        combined[name] = (tree, merged.master.tree, merged.dev.tree)
    if not trees and plan.metadata is None and master_root:
        return Oid(master_root), combined
    return write_root(git, master_root, trees, plan.metadata), combined


__all__ = ["Conflict", "KINDS", "merge_trees", "plan_merge"]
