"""Differences between two record trees, found by comparing git tree ids.

Equal content has equal ids, so a diff skips every subtree whose id is the
same on both sides and reads only the shards that differ: its cost grows
with the size of the change, not with the size of the dataset. Nothing
here reads sample data; records name data by digest only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from .gitrepo import GitRepo, Oid
from .records import Key, decode_key, decode_shard, key_sort
from .snapshot import ColumnRecords, Snapshot

Digest = Optional[str]
Change = tuple[Digest, Digest]   # (digest before, digest after); None = absent


# -- raw changes: encoded key -> (before, after) ----------------------------------
def record_changes(git: GitRepo, old: Optional[ColumnRecords],
                   new: Optional[ColumnRecords]) -> dict[str, Change]:
    """Sample records that differ between two versions of a column."""
    if old is None and new is None:
        return {}
    if old is None:
        return {enc: (None, d) for enc, d in new.items()}  # type: ignore[union-attr]
    if new is None:
        return {enc: (d, None) for enc, d in old.items()}
    if old.samples_tree == new.samples_tree:
        return {}
    if old.digits != new.digits:  # resharded: shard ids are not comparable
        return map_changes(dict(old.items()), dict(new.items()))
    out: dict[str, Change] = {}
    _diff_tree(git, old.samples_tree, new.samples_tree, out)
    return out


def map_changes(old: dict[str, str], new: dict[str, str]) -> dict[str, Change]:
    """Entries that differ between two mappings, as (before, after)."""
    out: dict[str, Change] = {}
    for key, value in old.items():
        other = new.get(key)
        if other != value:
            out[key] = (value, other)
    for key, value in new.items():
        if key not in old:
            out[key] = (None, value)
    return out


def _diff_tree(git: GitRepo, a: Optional[Oid], b: Optional[Oid], out: dict[str, Change]) -> None:
    ea, eb = git.tree_entries(a), git.tree_entries(b)
    for name in ea.keys() | eb.keys():
        xa, xb = ea.get(name), eb.get(name)
        if xa == xb:
            continue
        if xa is not None and xb is not None and xa[1] and xb[1]:
            _diff_tree(git, xa[0], xb[0], out)
        elif xa is not None and xb is not None and not xa[1] and not xb[1]:
            _diff_shard(git, xa[0], xb[0], out)
        else:
            out.update(map_changes(_all_records(git, xa), _all_records(git, xb)))


def _diff_shard(git: GitRepo, a: Oid, b: Oid, out: dict[str, Change]) -> None:
    """Differing records of two shards: set difference of their (sorted, unique) lines."""
    la, lb = set(git.read_blob(a).split(b"\n")), set(git.read_blob(b).split(b"\n"))
    gone = {line[65:].decode(): line[:64].decode() for line in la - lb if line}
    came = {line[65:].decode(): line[:64].decode() for line in lb - la if line}
    for enc, digest in gone.items():
        out[enc] = (digest, came.get(enc))
    for enc, digest in came.items():
        if enc not in gone:
            out[enc] = (None, digest)


def _all_records(git: GitRepo, entry: Optional[tuple[Oid, bool]]) -> dict[str, str]:
    if entry is None:
        return {}
    oid, is_tree = entry
    if not is_tree:
        return decode_shard(git.read_blob(oid))
    records: dict[str, str] = {}
    for sub in git.tree_entries(oid).values():
        records.update(_all_records(git, sub))
    return records


# -- value objects ----------------------------------------------------------------
def _keys(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(key_sort(values))


def _show(keys: tuple[Any, ...], limit: int) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


@dataclass(frozen=True, slots=True)
class ColumnDiff:
    """Sample keys of one column added, removed and mutated (keys sorted)."""

    added: tuple[Key, ...] = ()
    removed: tuple[Key, ...] = ()
    mutated: tuple[Key, ...] = ()

    @classmethod
    def from_changes(cls, changes: dict[str, Change]) -> "ColumnDiff":
        added: list[Key] = []
        removed: list[Key] = []
        mutated: list[Key] = []
        for enc, (before, after) in changes.items():
            (added if before is None else removed if after is None else mutated).append(decode_key(enc))
        return cls(_keys(added), _keys(removed), _keys(mutated))

    def __len__(self) -> int:
        return len(self.added) + len(self.removed) + len(self.mutated)

    def counts(self) -> str:
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.mutated)} mutated"

    def lines(self, limit: int, indent: str) -> list[str]:
        return [f"{indent}{what}: {_show(keys, limit)}"
                for what, keys in (("added", self.added), ("removed", self.removed),
                                   ("mutated", self.mutated)) if keys]

    def to_dict(self) -> dict:
        return {"added": list(self.added), "removed": list(self.removed), "mutated": list(self.mutated)}

    @classmethod
    def from_dict(cls, d: dict) -> "ColumnDiff":
        return cls(tuple(d.get("added", ())), tuple(d.get("removed", ())), tuple(d.get("mutated", ())))


@dataclass(frozen=True, slots=True)
class DiffResult:
    """What changed from ``source`` to ``target``.

    ``samples`` maps each column with changed samples to its ``ColumnDiff``
    (an added column lists all its keys as added, a removed one as removed);
    ``metadata`` is a ``ColumnDiff`` of metadata keys.
    """

    source: str = ""
    target: str = ""
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    schema_changed: tuple[str, ...] = ()
    samples: dict[str, ColumnDiff] = field(default_factory=dict)
    metadata: ColumnDiff = ColumnDiff()

    @property
    def has_changes(self) -> bool:
        return bool(self.columns_added or self.columns_removed or self.schema_changed
                    or self.samples or len(self.metadata))

    def format(self, limit: int = 10) -> str:
        """Readable report: counts first, then up to ``limit`` keys per set."""
        head = f"Diff {self.source} -> {self.target}" if self.source or self.target else "Diff"
        if not self.has_changes:
            return f"{head}\nNo changes\n"
        lines = [head, f"Columns: {len(self.columns_added)} added, {len(self.columns_removed)} "
                       f"removed, {len(self.schema_changed)} schema changed"]
        for what, names in (("added", self.columns_added), ("removed", self.columns_removed),
                            ("schema changed", self.schema_changed)):
            if names:
                lines.append(f"  {what}: {_show(names, limit)}")
        total = sum(len(c) for c in self.samples.values())
        lines.append(f"Samples: {total} changed in {len(self.samples)} column(s)")
        for name in sorted(self.samples):
            cdiff = self.samples[name]
            lines.append(f"  {name}: {cdiff.counts()}")
            lines += cdiff.lines(limit, "    ")
        lines.append(f"Metadata: {self.metadata.counts()}")
        lines += self.metadata.lines(limit, "  ")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        n = sum(len(c) for c in self.samples.values())
        return (f"DiffResult({self.source!r} -> {self.target!r}: columns +{len(self.columns_added)} "
                f"-{len(self.columns_removed)} ~{len(self.schema_changed)}, samples {n} changed, "
                f"metadata {len(self.metadata)} changed)")

    def to_dict(self) -> dict:
        return {"source": self.source, "target": self.target,
                "columns_added": list(self.columns_added), "columns_removed": list(self.columns_removed),
                "schema_changed": list(self.schema_changed),
                "samples": {k: v.to_dict() for k, v in self.samples.items()},
                "metadata": self.metadata.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "DiffResult":
        return cls(source=d.get("source", ""), target=d.get("target", ""),
                   columns_added=tuple(d.get("columns_added", ())),
                   columns_removed=tuple(d.get("columns_removed", ())),
                   schema_changed=tuple(d.get("schema_changed", ())),
                   samples={k: ColumnDiff.from_dict(v) for k, v in d.get("samples", {}).items()},
                   metadata=ColumnDiff.from_dict(d.get("metadata", {})))


# -- trees -> DiffResult ----------------------------------------------------------------
def metadata_changes(old: Snapshot, new: Snapshot) -> dict[str, Change]:
    """Metadata entries that differ (reads nothing when the blobs are the same)."""
    if old.metadata_oid == new.metadata_oid:
        return {}
    return map_changes(old.metadata, new.metadata)


def diff_trees(git: GitRepo, old_root: Optional[str], new_root: Optional[str], *,
               source: str = "", target: str = "") -> DiffResult:
    """Everything that changed from root tree ``old_root`` to ``new_root``."""
    old, new = Snapshot(git, Oid(old_root) if old_root else None), Snapshot(git, Oid(new_root) if new_root else None)
    added, removed, schema, samples = [], [], [], {}
    for name in sorted(old.column_trees.keys() | new.column_trees.keys()):
        ta, tb = old.column_trees.get(name), new.column_trees.get(name)
        if ta == tb:
            continue
        ra = old.column(name) if ta else None
        rb = new.column(name) if tb else None
        if ra is None:
            added.append(name)
        elif rb is None:
            removed.append(name)
        elif ra.schema != rb.schema:
            schema.append(name)
        changes = record_changes(git, ra, rb)
        if changes:
            samples[name] = ColumnDiff.from_changes(changes)
    meta = metadata_changes(old, new)
    return DiffResult(source=source, target=target, columns_added=tuple(added),
                      columns_removed=tuple(removed), schema_changed=tuple(schema), samples=samples,
                      metadata=ColumnDiff.from_changes({"s" + k: v for k, v in meta.items()}))
