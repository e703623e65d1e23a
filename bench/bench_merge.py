"""Diff and 3-way merge on a 1,000,000-sample column, from bookkeeping only.

A base commit holds one column of N samples; branches ``left`` and
``right`` each change 1,000 different samples. The records are written
directly with the bookkeeping writer (fake digests, no sample data: the
store stays empty, as in a partial clone), then ``repo.diff`` and
``repo.merge`` run through the public API with the data store wrapped to
count every call: both must make none.

Same-run baselines: a naive diff that reads both versions' full record
maps and compares them (what a diff costs without skipping shards by tree
id), and a naive 3-way pass that reads all three versions' records.

    python -m bench.bench_merge [--quick]
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from typing import Any, Callable

import numpy as np

from hangar_git import Repository
from hangar_git.bookkeeping.diff import map_changes
from hangar_git.bookkeeping.gitrepo import branch_ref
from hangar_git.bookkeeping.records import ColumnSchema
from hangar_git.bookkeeping.snapshot import Snapshot
from hangar_git.bookkeeping.writer import write_column, write_root

from .common import CountingStore, Figure

COLUMN = "data"
CHANGES = 1_000


def _digest(n: int) -> str:
    return f"{n:064x}"


def build(path: str, n: int, seed: int = 0) -> tuple[Repository, dict[str, str]]:
    """Repository with ``master`` (n samples) and branches ``left``/``right`` (1,000 changes each)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = Repository(path, exists=False)
    repo.init("bench", "bench@localhost", remove_old=True)
    git, user = repo.ctx.git, repo.ctx.user
    schema = ColumnSchema("ndarray", dtype=np.dtype(np.float32).str, shape=(8,))
    tree, _ = write_column(git, None, schema, {f"i{k}": _digest(k) for k in range(n)})
    root = write_root(git, None, {COLUMN: tree}, {"source": "bench"})
    base = git.create_commit(root, [], "base: 1M samples\n", *user)
    git.set_ref(branch_ref("master"), base)
    keys = np.random.default_rng(seed).choice(n, size=2 * CHANGES, replace=False).tolist()
    heads: dict[str, str] = {"master": base}
    for side, chosen in (("left", keys[:CHANGES]), ("right", keys[CHANGES:])):
        rec = Snapshot(git, root).column(COLUMN)
        offset = (1 << 200) if side == "left" else (1 << 220)
        ctree, _ = write_column(git, rec, schema, {f"i{k}": _digest(offset + k) for k in chosen})
        commit = git.create_commit(write_root(git, root, {COLUMN: ctree}, None), [base],
                                   f"change {CHANGES} samples on {side}\n", *user)
        git.set_ref(branch_ref(side), commit)
        heads[side] = commit
    return repo, heads


def _median(fn: Callable[[], Any], repeat: int, before: Callable[[], None] = lambda: None) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        before()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def _naive_records(repo: Repository, commit: str) -> dict[str, str]:
    git = repo.ctx.git
    return dict(Snapshot(git, git.commit_info(commit).tree).column(COLUMN).items())


def run(quick: bool = False) -> list[Figure]:
    n = 200_000 if quick else 1_000_000
    repeat = 1 if quick else 3
    tmp = tempfile.mkdtemp(prefix="hangar-bench-merge-")
    try:
        t = time.perf_counter()
        repo, heads = build(os.path.join(tmp, "repo"), n)
        print(f"built {n:,}-sample base and two branches in {time.perf_counter() - t:.1f} s",
              file=sys.stderr)
        store = CountingStore(repo.ctx.store)
        repo.ctx._store = store  # type: ignore[assignment]
        git = repo.ctx.git

        diff_s, result = _median(lambda: repo.diff("left", "right"), repeat)
        assert len(result.samples[COLUMN]) == 2 * CHANGES, result
        naive_diff_s, _ = _median(lambda: map_changes(_naive_records(repo, heads["left"]),
                                                      _naive_records(repo, heads["right"])), repeat)

        def merge() -> str:
            with contextlib.redirect_stdout(io.StringIO()) as out:
                commit = repo.merge("merge right into left", "left", "right")
            assert "3-Way" in out.getvalue()
            return commit

        merge_s, merged = _median(merge, repeat,
                                  before=lambda: git.set_ref(branch_ref("left"), heads["left"]))
        assert git.commit_info(merged).parents == [heads["left"], heads["right"]]

        def naive_merge() -> None:
            base = _naive_records(repo, heads["master"])
            map_changes(base, _naive_records(repo, heads["left"]))
            map_changes(base, _naive_records(repo, heads["right"]))
        naive_merge_s, _ = _median(naive_merge, repeat)
        calls = sum(store.calls.values())
        size = f"{n // 1000:,}k" if n < 1_000_000 else "1M"
        return [
            Figure(f"diff of 2 branches x {CHANGES:,} changes, {size} samples", diff_s, "s",
                   "full-record diff", naive_diff_s, "< 0.5 s", higher_is_better=False),
            Figure(f"3-way merge, 2 x {CHANGES:,} changes, {size} samples", merge_s, "s",
                   "full-record 3-way scan", naive_merge_s, "< 1 s", higher_is_better=False),
            Figure("data store calls during diff + merge", float(calls), "call",
                   target="0 (bookkeeping only)", higher_is_better=False,
                   note=f"reads={store.reads}, calls={store.calls}"),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    from .common import print_table
    print_table(run(quick="--quick" in sys.argv))
