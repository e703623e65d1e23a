"""Write new trees from a base tree plus staged changes.

Only shards touched by a change are rewritten; unchanged shards keep their
blob ids, so history stays small and diffs can skip them.
"""
from __future__ import annotations

import os
from collections import defaultdict
from typing import Optional

from .gitrepo import BLOB, GitRepo, Oid
from .keyindex import MIN_DIGITS, derive
from .packwriter import write_objects
from .records import (ColumnSchema, ColumnStats, encode_format, encode_metadata, encode_shard,
                      shard_digits_for, shard_path, shard_prefix)
from .snapshot import ColumnRecords, shard_blocks, shard_oids


def write_column(git: GitRepo, base: Optional[ColumnRecords], schema: ColumnSchema,
                 changes: dict[str, Optional[str]]) -> tuple[Oid, ColumnStats]:
    """Tree of a column: ``base`` with ``changes`` (enc key -> digest, None deletes)."""
    digits = base.digits if base else 0
    count = base.count if base else 0
    groups: dict[str, dict[str, Optional[str]]] = defaultdict(dict)
    for enc, digest in changes.items():
        groups[shard_prefix(enc, digits)][enc] = digest
    new_shards: dict[str, dict[str, str]] = {}
    for prefix, group in groups.items():
        old = base.shard(prefix) if base else {}
        new = dict(old)
        for enc, digest in group.items():
            if digest is None:
                new.pop(enc, None)
            else:
                new[enc] = digest
        count += len(new) - len(old)
        new_shards[prefix] = new
    new_digits = shard_digits_for(count, digits)
    if new_digits != digits:
        samples = _reshard(git, base, new_shards, digits, new_digits)
    else:
        updates: dict[tuple[str, ...], Optional[str]] = dict(zip(
            [shard_path(p) for p, s in new_shards.items() if s],
            write_shards(git, [s for s in new_shards.values() if s])))
        updates.update({shard_path(p): None for p, s in new_shards.items() if not s})
        samples = git.update_tree(base.samples_tree if base else None, updates) if updates else (
            base.samples_tree if base else None)
    stats = ColumnStats(count=count, shard_digits=new_digits)
    if samples is not None and new_digits >= MIN_DIGITS:
        write_key_index(git, base, changes, samples)
    entries: dict[str, Optional[str]] = {"schema.json": git.write_blob(schema.encode()),
                                         "stats.json": git.write_blob(stats.encode())}
    if samples is not None:
        entries["samples"] = samples
    tree = git.update_tree(None, {(k,): v for k, v in entries.items()})
    assert tree is not None
    return tree, stats


def write_key_index(git: GitRepo, base: Optional[ColumnRecords], changes: dict[str, Optional[str]],
                    samples: Oid) -> None:
    """The key index of a column's new records: derived from its base's index when it has
    one (no shard is read), else built from the shards (just written: in the record cache)."""
    indexes = git.key_indexes
    if os.path.exists(indexes.path(samples)):
        return
    base_index = base.key_index() if base is not None else None
    blob = None
    if base_index is not None:
        blob = derive(base_index, {e: bytes.fromhex(d) if d is not None else None for e, d in changes.items()})
    if blob is not None:
        indexes.put(samples, blob)
    else:
        indexes.build(samples, shard_blocks(git, shard_oids(git, samples)))


def write_shards(git: GitRepo, shards: list[dict[str, str]]) -> list[Oid]:
    """Write shard blobs (each: encoded key -> digest) and their binary copies for scans.

    Many at once (a first commit, a reshard) go to git as one pack rather than
    as that many loose files.
    """
    ordered = [{k: records[k] for k in sorted(records)} for records in shards]
    blobs = [encode_shard(records) for records in ordered]
    oids = [git.blob_id(b) for b in blobs]
    write_objects(git, [(o, BLOB, b) for o, b in zip(oids, blobs)])
    for oid, records in zip(oids, ordered):
        git.record_cache.put(oid, records)
    return oids


def _reshard(git: GitRepo, base: Optional[ColumnRecords], changed: dict[str, dict[str, str]],
             old_digits: int, new_digits: int) -> Optional[Oid]:
    records: dict[str, str] = {}
    if base is not None:
        for enc, digest in base.items():
            if shard_prefix(enc, old_digits) not in changed:
                records[enc] = digest
    for shard in changed.values():
        records.update(shard)
    regrouped: dict[str, dict[str, str]] = defaultdict(dict)
    for enc, digest in records.items():
        regrouped[shard_prefix(enc, new_digits)][enc] = digest
    updates: dict[tuple[str, ...], Optional[str]] = dict(zip(
        [shard_path(p) for p in regrouped], write_shards(git, list(regrouped.values()))))
    return git.update_tree(None, updates) if updates else None


def write_root(git: GitRepo, base_root: Optional[str], columns: dict[str, Optional[str]],
               metadata: Optional[dict[str, str]]) -> Oid:
    """Root tree: ``base_root`` with column trees replaced (None removes) and new metadata."""
    changes: dict[tuple[str, ...], Optional[str]] = {("hangar.json",): git.write_blob(encode_format())}
    for name, tree in columns.items():
        changes[("columns", name)] = tree
    if metadata is not None:
        changes[("metadata.json",)] = git.write_blob(encode_metadata(metadata))
    root = git.update_tree(base_root, changes)
    assert root is not None
    return root
