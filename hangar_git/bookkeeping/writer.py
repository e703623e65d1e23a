"""Write new trees from a base tree plus staged changes.

Only shards touched by a change are rewritten; unchanged shards keep their
blob ids, so history stays small and diffs can skip them.
"""
from __future__ import annotations

import os
from collections import defaultdict
from typing import Mapping, Optional, TypeVar
from zlib import crc32

from .gitrepo import BLOB, GitRepo, Oid
from .packwriter import write_objects
from .records import (KEY_INDEX_DIGITS, ColumnSchema, ColumnStats, encode_format, encode_metadata,
                      encode_shard, shard_digits_for, shard_path)
from .snapshot import ColumnRecords, shard_blocks, shard_oids

_V = TypeVar("_V")
REWRITE_SHARE = 4
"""A column whose staged changes number at least a quarter of its records is written whole
from arrays (:mod:`.bulkwrite`) rather than shard by shard."""


def write_column(git: GitRepo, base: Optional[ColumnRecords], schema: ColumnSchema,
                 changes: Mapping[str, Optional[str]]) -> tuple[Oid, ColumnStats]:
    """Tree of a column: ``base`` with ``changes`` (enc key -> digest, None deletes)."""
    if base is None or len(changes) * REWRITE_SHARE >= base.count:
        from .bulkwrite import records_run, write_samples  # numpy: loaded by writes only
        from .changes import Run, StagedChanges, merge_runs
        run = changes.merged() if isinstance(changes, StagedChanges) else Run.of(dict(changes))
        if base is not None:
            run = merge_runs([run, records_run(base.shard_blocks())])
        samples, count, digits = write_samples(git, run)
        return _column_tree(git, schema, samples, ColumnStats(count=count, shard_digits=digits))
    digits, count = base.digits, base.count
    new_shards: dict[str, dict[str, str]] = {}
    for prefix, group in group_by_shard(changes, digits).items():
        old = base.shard(prefix)
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
        samples = _reshard(git, base, new_shards, new_digits)
    else:
        updates: dict[tuple[str, ...], Optional[str]] = dict(zip(
            [shard_path(p) for p, s in new_shards.items() if s],
            write_shards(git, [s for s in new_shards.values() if s])))
        updates.update({shard_path(p): None for p, s in new_shards.items() if not s})
        samples = git.update_tree(base.samples_tree, updates) if updates else base.samples_tree
    write_key_index(git, base, changes, samples, new_digits)
    return _column_tree(git, schema, samples, ColumnStats(count=count, shard_digits=new_digits))


def _column_tree(git: GitRepo, schema: ColumnSchema, samples: Optional[Oid],
                 stats: ColumnStats) -> tuple[Oid, ColumnStats]:
    entries: dict[str, Optional[str]] = {"schema.json": git.write_blob(schema.encode()),
                                         "stats.json": git.write_blob(stats.encode())}
    if samples is not None:
        entries["samples"] = samples
    tree = git.update_tree(None, {(k,): v for k, v in entries.items()})
    assert tree is not None
    return tree, stats


def write_key_index(git: GitRepo, base: Optional[ColumnRecords], changes: Mapping[str, Optional[str]],
                    samples: Optional[Oid], digits: int) -> None:
    """The key index of a column's new records (columns of ``KEY_INDEX_DIGITS`` shard
    levels and more): derived from its base's index when it has one (no shard is read),
    else built from the shards (just written: in the record cache)."""
    if samples is None or digits < KEY_INDEX_DIGITS or os.path.exists(git.key_indexes.path(samples)):
        return
    from .keyindex import derive
    base_index = base.key_index() if base is not None else None
    blob = None
    if base_index is not None:
        blob = derive(base_index, changes)
    if blob is not None:
        git.key_indexes.put(samples, blob)
    else:
        git.key_indexes.build(samples, shard_blocks(git, shard_oids(git, samples)))


def group_by_shard(records: Mapping[str, _V], digits: int) -> dict[str, dict[str, _V]]:
    """``records`` (encoded key -> value) split by shard prefix at ``digits``, one pass."""
    if digits == 0:
        return {"": dict(records)} if records else {}
    shift = 32 - 4 * digits
    groups: dict[int, dict[str, _V]] = defaultdict(dict)
    for enc, value in records.items():
        groups[crc32(enc.encode()) >> shift][enc] = value
    return {f"{n:0{digits}x}": group for n, group in groups.items()}


def write_shards(git: GitRepo, shards: list[dict[str, str]]) -> list[Oid]:
    """Write shard blobs (each: encoded key -> digest) and their binary copies for scans.

    Many at once (a first commit, a reshard) go to git as one pack rather than
    as that many loose files.
    """
    ordered = [dict(sorted(records.items())) for records in shards]
    blobs = [encode_shard(records) for records in ordered]
    oids = [git.blob_id(b) for b in blobs]
    write_objects(git, [(o, BLOB, b) for o, b in zip(oids, blobs)])
    for oid, records in zip(oids, ordered):
        git.record_cache.put(oid, records)
    return oids


def _write_all(git: GitRepo, records: dict[str, str], digits: int) -> Optional[Oid]:
    """A samples tree holding exactly ``records``, sharded at ``digits``."""
    groups = group_by_shard(records, digits)
    updates: dict[tuple[str, ...], Optional[str]] = dict(zip(
        [shard_path(p) for p in groups], write_shards(git, list(groups.values()))))
    return git.update_tree(None, updates) if updates else None


def _reshard(git: GitRepo, base: ColumnRecords, changed: dict[str, dict[str, str]],
             new_digits: int) -> Optional[Oid]:
    records: dict[str, str] = {}
    for prefix in base.shard_oids():
        if prefix not in changed:
            records.update(base.shard(prefix, warm=False))
    for shard in changed.values():
        records.update(shard)
    return _write_all(git, records, new_digits)


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
