"""Three-way merge of one column's sample records, subtree by subtree.

When base, master and dev shard a column alike, the merge walks their
``samples`` trees together and decides by tree id wherever it can: a
subtree dev did not change keeps master's; one master did not change is
taken from dev whole (unread); one both changed alike is kept. Only shards
*both* sides changed, differently, are read and merged key by key. The
cost therefore grows with the overlap of the two changes, not with the
size of the column, nor even with the size of either change.

The merged count needs no reading either: it is master's count plus dev's
change in count (both from ``stats.json``), corrected for the subtrees
whose records were looked at.

Columns sharded differently fall back to merging full change maps with
:func:`.writer.write_column`.
"""
from __future__ import annotations

from typing import Optional

from .diff import Change, map_changes, record_changes
from .gitrepo import GitRepo, Oid
from .records import ColumnStats, decode_shard, encode_shard, shard_digits_for
from .snapshot import ColumnRecords
from .writer import write_column

Path = tuple[str, ...]
Entry = Optional[tuple[Oid, bool]]
Clash = tuple[str, Change, Change]


def combine(master: dict[str, Change], dev: dict[str, Change], prefer: Optional[str] = None
            ) -> tuple[dict[str, Optional[str]], list[Clash]]:
    """Dev's changes to apply onto master, and the keys both sides changed differently
    (with ``prefer='dev'`` dev's side of those is applied too; ``'master'`` keeps master's)."""
    apply: dict[str, Optional[str]] = {}
    clashes: list[Clash] = []
    for key, change in dev.items():
        other = master.get(key)
        if other is None:
            apply[key] = change[1]
        elif other[1] != change[1]:
            clashes.append((key, other, change))
            if prefer == "dev":
                apply[key] = change[1]
    return apply, clashes


class _Mixed(Exception):
    """A path is a shard on one side and a directory on another."""


class SampleMerge:
    """Reads and decides (phase 1) on construction; :meth:`write` writes (phase 2)."""

    def __init__(self, git: GitRepo, base: Optional[ColumnRecords], master: ColumnRecords,
                 dev: ColumnRecords, prefer: Optional[str] = None) -> None:
        self.git, self.master, self.dev, self.prefer = git, master, dev, prefer
        self.clashes: list[Clash] = []
        self._shards: dict[Path, dict[str, str]] = {}
        self._taken: dict[Path, Optional[Oid]] = {}
        self._apply: Optional[dict[str, Optional[str]]] = None
        base_count = base.count if base is not None else 0
        self.count = master.count + dev.count - base_count
        alike = master.digits == dev.digits and (base is None or base.digits == master.digits)
        try:
            if not alike:
                raise _Mixed
            self._walk(base.samples_tree if base else None, master.samples_tree, dev.samples_tree, ())
        except _Mixed:
            self._shards, self._taken, self.clashes = {}, {}, []
            self._apply, self.clashes = combine(record_changes(git, base, master),
                                                record_changes(git, base, dev), prefer)

    @property
    def changes_master(self) -> bool:
        return bool(self._shards or self._taken or self._apply)

    # -- phase 1: decide ---------------------------------------------------------------
    def _walk(self, b: Optional[Oid], m: Optional[Oid], d: Optional[Oid], path: Path) -> None:
        eb, em, ed = (self.git.tree_entries(t) for t in (b, m, d))
        for name in eb.keys() | em.keys() | ed.keys():
            xb, xm, xd = eb.get(name), em.get(name), ed.get(name)
            if xd == xb:
                continue
            sub = path + (name,)
            if xm == xb:
                self._taken[sub] = xd[0] if xd else None
            elif xm == xd:
                self.count -= self._size(xd) - self._size(xb)
            else:
                kinds = {x[1] for x in (xb, xm, xd) if x is not None}
                if len(kinds) != 1:
                    raise _Mixed
                if kinds == {True}:
                    self._walk(xb[0] if xb else None, xm[0] if xm else None, xd[0] if xd else None, sub)
                else:
                    self._merge_shard(sub, xb, xm, xd)

    def _records(self, entry: Entry) -> dict[str, str]:
        return decode_shard(self.git.read_blob(entry[0])) if entry else {}

    def _merge_shard(self, path: Path, xb: Entry, xm: Entry, xd: Entry) -> None:
        rb, rm, rd = self._records(xb), self._records(xm), self._records(xd)
        apply, clashes = combine(map_changes(rb, rm), map_changes(rb, rd), self.prefer)
        self.clashes += clashes
        merged = dict(rm)
        for enc, digest in apply.items():
            if digest is None:
                merged.pop(enc, None)
            else:
                merged[enc] = digest
        self._shards[path] = merged
        self.count += (len(merged) - len(rm)) - (len(rd) - len(rb))

    def _size(self, entry: Entry) -> int:
        """Number of records below a tree entry."""
        if entry is None:
            return 0
        oid, is_tree = entry
        if not is_tree:
            return self.git.read_blob(oid).count(b"\n")
        return sum(self._size(sub) for sub in self.git.tree_entries(oid).values())

    # -- phase 2: write ------------------------------------------------------------------
    def write(self) -> Oid:
        """The merged column tree (master's records with dev's changes)."""
        git, master = self.git, self.master
        if self._apply is not None:
            return write_column(git, master, master.schema, self._apply)[0]
        updates: dict[Path, Optional[str]] = {p: o for p, o in self._taken.items()}
        for path, records in self._shards.items():
            updates[path] = git.write_blob(encode_shard(records)) if records else None  # cached lazily by scans
        samples = git.update_tree(master.samples_tree, updates) if updates else master.samples_tree
        entries: dict[Path, Optional[str]] = {("schema.json",): git.write_blob(master.schema.encode()),
                   ("stats.json",): git.write_blob(ColumnStats(self.count, master.digits).encode()),
                   ("samples",): samples}
        tree = git.update_tree(None, entries)
        assert tree is not None
        if shard_digits_for(self.count, master.digits) != master.digits:
            tree = write_column(git, ColumnRecords(git, master.name, tree), master.schema, {})[0]
        return tree
