"""The subtree merge of one column equals a key-by-key 3-way merge (property test).

Records are written with fake digests straight through the bookkeeping
writer, so many random histories run quickly; sizes cross shard levels.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hangar_git.bookkeeping.diff import map_changes
from hangar_git.bookkeeping.gitrepo import GitRepo, Oid
from hangar_git.bookkeeping.records import ColumnSchema
from hangar_git.bookkeeping.shardmerge import SampleMerge, combine
from hangar_git.bookkeeping.snapshot import ColumnRecords
from hangar_git.bookkeeping.writer import write_column

SCHEMA = ColumnSchema("str")
OPS = st.sampled_from(["delete", "v1", "v2"])


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    return GitRepo.init(str(Path(tmp_path_factory.mktemp("shardmerge")) / "repo"), bare=True)


_bases: dict[tuple[str, int], str] = {}


def base_column(git: GitRepo, n: int) -> Optional[ColumnRecords]:
    if not n:
        return None
    key = (git.git_dir, n)
    if key not in _bases:
        _bases[key] = column(git, None, {f"i{k}": digest("base", k) for k in range(n)}).tree
    return ColumnRecords(git, "x", Oid(_bases[key]))


def digest(tag: str, key: int) -> str:
    return hashlib.sha256(f"{tag} {key}".encode()).hexdigest()


def column(git: GitRepo, base: Optional[ColumnRecords], changes: dict[str, Optional[str]]) -> ColumnRecords:
    tree, _ = write_column(git, base, SCHEMA, changes)
    return ColumnRecords(git, "x", tree)


def side(ops: dict[int, str]) -> dict[str, Optional[str]]:
    """Encoded changes; both sides choosing the same op for a key make the same change."""
    return {f"i{k}": None if op == "delete" else digest(op, k) for k, op in ops.items()}


@settings(max_examples=60, deadline=None)
@given(n=st.sampled_from([0, 40, 1000, 1100, 3000]),
       master=st.dictionaries(st.integers(0, 3200), OPS, max_size=60),
       dev=st.dictionaries(st.integers(0, 3200), OPS, max_size=60),
       shared=st.dictionaries(st.integers(0, 3200), OPS, max_size=20))
def test_subtree_merge_equals_key_by_key_merge(git: GitRepo, n: int, master: dict[int, str],
                                               dev: dict[int, str], shared: dict[int, str]) -> None:
    base = base_column(git, n)
    rm = column(git, base, side({**master, **shared}))
    rd = column(git, base, side({**dev, **shared}))
    b = dict(base.items()) if base else {}
    m, d = dict(rm.items()), dict(rd.items())
    apply, clashes = combine(map_changes(b, m), map_changes(b, d))

    merge = SampleMerge(git, ColumnRecords(git, "x", base.tree) if base else None,
                        ColumnRecords(git, "x", rm.tree), ColumnRecords(git, "x", rd.tree))
    assert sorted(c[0] for c in merge.clashes) == sorted(c[0] for c in clashes)
    if clashes:
        return
    merged = dict(m)
    for enc, value in apply.items():
        if value is None:
            merged.pop(enc, None)
        else:
            merged[enc] = value
    tree = merge.write() if merge.changes_master else rm.tree
    result = ColumnRecords(git, "x", tree)
    assert dict(result.items()) == merged
    assert result.count == len(merged)
    # byte-identical to rewriting master's records with dev's changes
    assert tree == write_column(git, ColumnRecords(git, "x", rm.tree), SCHEMA, apply)[0]
