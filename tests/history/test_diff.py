"""repo.diff / repo.status: structured results, readable report, shard skipping."""
from __future__ import annotations

import numpy as np
import pytest

from hangar_git import NotFoundError, Repository
from hangar_git.bookkeeping.diff import ColumnDiff, DiffResult
from hangar_git.bookkeeping.gitrepo import GitRepo

from .conftest import count_store, edit, value


def test_clean_staging_area_has_no_changes(forked: Repository) -> None:
    result = forked.diff()
    assert not result.has_changes and result == forked.status()
    assert result.target == "staging area" and "No changes" in str(result)


def test_status_of_an_empty_repository(repo: Repository) -> None:
    assert not repo.status().has_changes
    with repo.checkout(write=True) as co:
        co.add_str_column("s")["k"] = "v"
        co.metadata["m"] = "1"
        status = repo.status()                       # the open checkout's unflushed changes count
    assert status.columns_added == ("s",) and status.samples["s"].added == ("k",)
    assert status.metadata.added == ("m",)
    assert repo.status() == status                   # and, once closed, the persisted staging area


def test_status_shows_uncommitted_changes(forked: Repository) -> None:
    with forked.checkout(write=True) as co:
        co["x"][1] = value(100)
        del co["x"][2]
        co["x"]["new"] = value(1)
        co.metadata["a"] = "changed"
        co.metadata["c"] = "new"
        del co.metadata["b"]
        result = forked.diff()
    assert result.samples == {"x": ColumnDiff(added=("new",), removed=(2,), mutated=(1,))}
    assert result.metadata == ColumnDiff(added=("c",), removed=("b",), mutated=("a",))
    assert forked.status() == result
    assert forked.status("dev").has_changes is False     # the staging area belongs to master


CASES = [
    pytest.param(dict(put={"x": {10: 1, "s": 2}}), dict(samples={"x": ColumnDiff(added=(10, "s"))}),
                 id="samples-added"),
    pytest.param(dict(delete={"x": [0, 9]}), dict(samples={"x": ColumnDiff(removed=(0, 9))}),
                 id="samples-removed"),
    pytest.param(dict(put={"x": {3: 33}}), dict(samples={"x": ColumnDiff(mutated=(3,))}), id="samples-mutated"),
    pytest.param(dict(add={"t": "str"}), dict(columns_added=("t",)), id="empty-column-added"),
    pytest.param(dict(drop=["x"]), dict(columns_removed=("x",),
                                        samples={"x": ColumnDiff(removed=tuple(range(10)))}),
                 id="column-removed"),
    pytest.param(dict(drop=["x"], add={"x": np.zeros(3, np.uint8)}, put={"x": {0: np.zeros(3, np.uint8)}}),
                 dict(schema_changed=("x",), samples={"x": ColumnDiff(removed=tuple(range(1, 10)),
                                                                      mutated=(0,))}),
                 id="schema-changed"),
    pytest.param(dict(meta={"a": None, "b": "3", "z": "new"}),
                 dict(metadata=ColumnDiff(added=("z",), removed=("a",), mutated=("b",))), id="metadata"),
]


@pytest.mark.parametrize(("change", "expected"), CASES)
def test_diff_between_commits(forked: Repository, change: dict, expected: dict) -> None:
    before = forked.branch_head("master")
    after = edit(forked, "dev", "change", **change)
    result = forked.diff(before, after)
    want = DiffResult(source=f"a={before}", target=f"a={after}", **expected)
    assert result == want
    assert forked.diff("master", "dev") == DiffResult(
        source=f"master (a={before})", target=f"dev (a={after})", **expected)
    assert DiffResult.from_dict(result.to_dict()) == result


def test_diff_of_a_branch_against_its_merge_base(forked: Repository) -> None:
    edit(forked, "master", "m", put={"x": {1: 100}})
    edit(forked, "dev", "d", put={"x": {2: 200}})
    result = forked.diff(branch="dev", onto="master")
    assert result.samples == {"x": ColumnDiff(mutated=(2,))}
    assert "merge base of dev and master" in result.source
    both = forked.diff("master", "dev")
    assert both.samples == {"x": ColumnDiff(mutated=(1, 2))}
    assert forked.diff("dev", "master") != both
    with forked.checkout(write=True, branch="master"):   # master is the write branch again
        pass
    assert forked.diff(branch="dev") == result  # onto defaults to the write branch


def test_one_argument_compares_with_the_write_branch(forked: Repository) -> None:
    dev = edit(forked, "dev", "d", put={"x": {2: 200}})
    edit(forked, "master", "m", put={"x": {1: 100}})        # makes master the write branch
    result = forked.diff(dev)
    assert result.samples == {"x": ColumnDiff(mutated=(1, 2))} and result.target.startswith("master")


def test_unknown_names(forked: Repository) -> None:
    with pytest.raises(NotFoundError, match="no branch or commit named 'nope'"):
        forked.diff("nope", "master")
    with pytest.raises(TypeError):
        forked.diff("master", branch="dev")


def test_resharded_column_falls_back_to_full_records(forked: Repository) -> None:
    before = forked.branch_head("master")
    after = edit(forked, "dev", "grow", put={"x": {**{k: 1 for k in range(10, 1100)}, 3: 33}},
                 delete={"x": [4]})
    result = forked.diff(before, after)
    assert result.samples["x"] == ColumnDiff(added=tuple(range(10, 1100)), removed=(4,), mutated=(3,))


def test_diff_reads_only_differing_shards(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(repo, "master", "base", add={"x": value(0), "y": value(0)},
         put={"x": {k: 1 for k in range(5000)}, "y": {k: 1 for k in range(5000)}}, meta={"a": "1"})
    before = repo.branch_head("master")
    after = edit(repo, "master", "one change", put={"x": {17: 2}})
    reads: list[str] = []
    real = GitRepo.read_blob

    def read_blob(self: GitRepo, oid: str) -> bytes:
        reads.append(oid)
        return real(self, oid)
    monkeypatch.setattr(GitRepo, "read_blob", read_blob)
    store = count_store(repo)
    result = repo.diff(before, after)
    assert result.samples == {"x": ColumnDiff(mutated=(17,))}
    # column x: schema.json + stats.json on each side, and the one shard on each side;
    # column y and metadata are skipped by id.
    assert len(reads) == 6
    assert store.calls == {}


def test_report_counts_first_then_truncated_keys(forked: Repository) -> None:
    before = forked.branch_head("master")
    after = edit(forked, "dev", "many", put={"x": {k: 1 for k in range(100, 130)}}, meta={"c": "x"})
    text = forked.diff(before, after).format(limit=5)
    lines = text.splitlines()
    assert lines[0] == f"Diff a={before} -> a={after}"
    assert lines[1] == "Columns: 0 added, 0 removed, 0 schema changed"
    assert lines[2] == "Samples: 30 changed in 1 column(s)"
    assert lines[3] == "  x: 30 added, 0 removed, 0 mutated"
    assert lines[4] == "    added: 100, 101, 102, 103, 104, ... (+25 more)"
    assert lines[5:] == ["Metadata: 1 added, 0 removed, 0 mutated", "  added: 'c'"]
    assert str(forked.diff(before, after)).count("+20 more") == 1
    assert "samples 30 changed" in repr(forked.diff(before, after))


def test_diff_of_commits_in_any_spelling(forked: Repository) -> None:
    head = forked.branch_head("master")
    for spec in (head, f"a={head}", head[:10]):
        assert not forked.diff(spec, "master").has_changes


def test_diff_accepts_remote_tracking_branches(forked: Repository) -> None:
    dev = edit(forked, "dev", "d", put={"x": {2: 200}})
    forked.ctx.git.set_ref("refs/hangar/remotes/origin/dev", dev)
    assert forked.diff("master", "origin/dev").samples == {"x": ColumnDiff(mutated=(2,))}
