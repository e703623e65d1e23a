"""repo.merge: fast-forward, 3-way rules, conflicts, dirty staging, partial data, criss-cross."""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import numpy as np
import pytest

from hangar_git import (DirtyStagingError, MergeConflictError, MissingDataError, Repository,
                        WriterLockError)
from hangar_git.bookkeeping.merge import Conflict
from hangar_git.storage import open_store

from .conftest import count_store, edit, heads, state, value

FF = "Selected Fast-Forward Merge Strategy"
THREE_WAY = "Selected 3-Way Merge Strategy"


def parents(repo: Repository, commit: str) -> list[str]:
    return list(repo.ctx.git.commit_info(commit).parents)


# -- strategies ---------------------------------------------------------------------------
def test_fast_forward(forked: Repository, capsys: pytest.CaptureFixture) -> None:
    dev = edit(forked, "dev", "add train", put={"x": {10: 10}})
    merged = forked.merge("unused", "master", "dev")
    assert merged == dev == forked.branch_head("master")
    assert FF in capsys.readouterr().out
    assert state(forked, "master")[0]["x"][10] == 10.0


def test_nothing_to_merge_when_dev_is_contained(forked: Repository, capsys: pytest.CaptureFixture) -> None:
    master = edit(forked, "master", "more", put={"x": {11: 1}})
    assert forked.merge("m", "master", "dev") == master
    out = capsys.readouterr().out
    assert FF not in out and THREE_WAY not in out and "Already up to date" in out


def test_three_way_disjoint_changes_to_one_column(forked: Repository, capsys: pytest.CaptureFixture) -> None:
    m = edit(forked, "master", "relabel", put={"x": {1: 100}}, delete={"x": [2]})
    d = edit(forked, "dev", "add train", put={"x": {3: 300, 20: 20}}, delete={"x": [4]})
    merged = forked.merge("merge dev", "master", "dev")
    assert THREE_WAY in capsys.readouterr().out
    assert parents(forked, merged) == [m, d]
    assert forked.branch_head("master") == merged and forked.branch_head("dev") == d
    cols, _ = state(forked, "master")
    expected = {k: float(k) for k in range(10)} | {1: 100.0, 3: 300.0, 20: 20.0}
    del expected[2], expected[4]
    assert cols["x"] == expected
    with forked.checkout(branch="master") as co:
        assert len(co["x"]) == len(expected)
    assert forked.ctx.git.commit_info(merged).message == "merge dev\n"


def test_merge_commit_shows_in_git_log_graph(forked: Repository) -> None:
    edit(forked, "master", "relabel", put={"x": {1: 100}})
    edit(forked, "dev", "added training data", put={"x": {30: 1}})
    forked.merge("merge commit message", "master", "dev")
    out = subprocess.run(["git", "-C", forked.path, "log", "--graph", "--format=%s",
                          "refs/hangar/heads/master"], capture_output=True, text=True, check=True).stdout
    assert [line.rstrip() for line in out.splitlines()] == ["*   merge commit message", "|\\", "| * added training data",
                                "* | relabel", "|/", "* initial commit"]


@pytest.mark.parametrize("side", ["master", "dev"])
def test_change_on_one_side_only_is_taken(forked: Repository, side: str) -> None:
    other = "dev" if side == "master" else "master"
    edit(forked, side, "change", put={"x": {5: 55}}, meta={"a": "changed", "c": "new"},
         add={"labels": "str"})
    edit(forked, side, "labels", put={"labels": {"k": "v"}})
    edit(forked, other, "unrelated", put={"x": {6: 66}})
    forked.merge("m", "master", "dev")
    cols, meta = state(forked, "master")
    assert cols["x"][5] == 55.0 and cols["x"][6] == 66.0
    assert cols["labels"] == {"k": "v"}
    assert meta == {"a": "changed", "b": "2", "c": "new"}


@pytest.mark.parametrize("key", [3, 42], ids=["mutated", "added"])
def test_same_change_on_both_sides_is_taken_once(forked: Repository, key: int) -> None:
    edit(forked, "master", "m", put={"x": {key: 7, 50: 50}}, meta={"a": "same"})
    edit(forked, "dev", "d", put={"x": {key: 7, 60: 60}}, meta={"a": "same"})
    forked.merge("m", "master", "dev")
    cols, meta = state(forked, "master")
    assert cols["x"][key] == 7.0 and cols["x"][50] == 50.0 and cols["x"][60] == 60.0
    assert meta["a"] == "same"


def test_same_delete_on_both_sides_is_fine(forked: Repository) -> None:
    edit(forked, "master", "m", delete={"x": [1]}, put={"x": {50: 1}}, meta={"b": None})
    edit(forked, "dev", "d", delete={"x": [1]}, put={"x": {60: 1}}, meta={"b": None})
    forked.merge("m", "master", "dev")
    cols, meta = state(forked, "master")
    assert 1 not in cols["x"] and {50, 60} <= set(cols["x"])
    assert meta == {"a": "1"}


def test_both_sides_add_the_same_column(forked: Repository) -> None:
    edit(forked, "master", "m", add={"y": value(0)}, put={"y": {1: 1, 2: 2}})
    edit(forked, "dev", "d", add={"y": value(0)}, put={"y": {2: 2, 3: 3}})
    forked.merge("m", "master", "dev")
    assert state(forked, "master")[0]["y"] == {1: 1.0, 2: 2.0, 3: 3.0}


# -- conflicts --------------------------------------------------------------------------------
CONFLICTS = [
    pytest.param(dict(put={"x": {42: 1}}), dict(put={"x": {42: 2}}),
                 Conflict("sample", "x", 42, "added", "added"), id="both-add-different-data"),
    pytest.param(dict(put={"x": {3: 1}}), dict(put={"x": {3: 2}}),
                 Conflict("sample", "x", 3, "mutated", "mutated"), id="both-mutate-differently"),
    pytest.param(dict(delete={"x": [3]}), dict(put={"x": {3: 2}}),
                 Conflict("sample", "x", 3, "deleted", "mutated"), id="delete-vs-modify"),
    pytest.param(dict(put={"x": {3: 2}}), dict(delete={"x": [3]}),
                 Conflict("sample", "x", 3, "mutated", "deleted"), id="modify-vs-delete"),
    pytest.param(dict(meta={"a": "m"}), dict(meta={"a": "d"}),
                 Conflict("metadata", None, "a", "mutated", "mutated"), id="metadata-mutated"),
    pytest.param(dict(meta={"a": None}), dict(meta={"a": "d"}),
                 Conflict("metadata", None, "a", "deleted", "mutated"), id="metadata-delete-vs-modify"),
    pytest.param(dict(meta={"n": "m"}), dict(meta={"n": "d"}),
                 Conflict("metadata", None, "n", "added", "added"), id="metadata-added"),
    pytest.param(dict(drop=["x"]), dict(put={"x": {3: 2}}),
                 Conflict("column", "x", None, "deleted", "modified"), id="column-delete-vs-modify"),
    pytest.param(dict(drop=["x"], add={"x": np.zeros(3, np.uint8)}), dict(put={"x": {3: 2}}),
                 Conflict("schema", "x", None, "ndarray |u1 (3,)", "ndarray <f4 (3,)"), id="schema-changed"),
    pytest.param(dict(add={"y": "str"}), dict(add={"y": np.zeros(2, np.int64)}),
                 Conflict("schema", "y", None, "str", "ndarray <i8 (2,)"), id="schema-both-add"),
]


@pytest.mark.parametrize(("master", "dev", "expected"), CONFLICTS)
def test_conflicts(forked: Repository, master: dict, dev: dict, expected: Conflict) -> None:
    edit(forked, "master", "m", **master)
    edit(forked, "dev", "d", **dev)
    with forked.checkout(write=True, branch="master"):   # a clean staging ref for master
        pass
    before = heads(forked)
    with pytest.raises(MergeConflictError) as info:
        forked.merge("m", "master", "dev")
    assert info.value.conflicts == [expected]
    assert str(expected) in str(info.value) and f"1 {expected.kind}" in str(info.value)
    assert heads(forked) == before


def test_every_conflict_is_listed_by_kind_and_nothing_changes(forked: Repository,
                                                               capsys: pytest.CaptureFixture) -> None:
    edit(forked, "master", "m", put={"x": {1: 10, 2: 20, 7: 70}}, delete={"x": [3]}, meta={"a": "m"},
         add={"s": "str"})
    edit(forked, "dev", "d", put={"x": {1: 11, 2: 20, 3: 33, 8: 80}}, meta={"a": "d"},
         add={"s": np.zeros(1, np.uint8)})
    edit(forked, "dev", "staged", put={"x": {9: 99}})
    with forked.checkout(write=True, branch="dev") as co:      # uncommitted work on dev stays
        co["x"][0] = value(-1)
    before = heads(forked)
    capsys.readouterr()
    with pytest.raises(MergeConflictError) as info:
        forked.merge("m", "master", "dev")
    assert capsys.readouterr().out == ""  # regression: "Selected 3-Way Merge Strategy", then the failure
    conflicts: list[Any] = info.value.conflicts
    kinds = [(c.kind, c.column, c.key) for c in conflicts]
    assert kinds == [("schema", "s", None), ("sample", "x", 1), ("sample", "x", 3), ("metadata", None, "a")]
    text = str(info.value)
    assert "4 conflict(s) (1 schema, 2 sample, 1 metadata)" in text
    assert text.index("schema conflict") < text.index("sample conflict") < text.index("metadata conflict")
    assert heads(forked) == before
    assert forked.status("dev").samples["x"].mutated == (0,)


def test_conflict_dict_roundtrip() -> None:
    c = Conflict("sample", "x", 3, "deleted", "mutated")
    assert Conflict.from_dict(c.to_dict()) == c
    assert str(c) == "sample conflict: column 'x' key 3 deleted on master, mutated on dev"


# -- staging area and the writer lock --------------------------------------------------------
def diverge(repo: Repository) -> None:
    edit(repo, "master", "m", put={"x": {1: 10}})
    edit(repo, "dev", "d", put={"x": {2: 20}})


@pytest.mark.parametrize("flushed", [False, True], ids=["open-checkout", "staging-ref"])
def test_merge_into_branch_with_uncommitted_changes_is_refused(forked: Repository, flushed: bool) -> None:
    diverge(forked)
    co = forked.checkout(write=True, branch="master")
    co["x"][5] = value(55)
    if flushed:
        co.close()
    before = heads(forked)
    try:
        with pytest.raises(DirtyStagingError, match="uncommitted changes"):
            forked.merge("m", "master", "dev")
        assert heads(forked) == before
    finally:
        co.close()
    with forked.checkout(write=True, branch="master") as co:
        assert co.has_changes and co["x"][5][0] == 55.0


def test_merge_while_a_clean_writer_is_open_is_refused(forked: Repository) -> None:
    diverge(forked)
    with forked.checkout(write=True, branch="master"):
        with pytest.raises(WriterLockError, match="close it before merging"):
            forked.merge("m", "master", "dev")
    forked.merge("m", "master", "dev")


def test_uncommitted_changes_of_another_branch_do_not_block(forked: Repository) -> None:
    diverge(forked)
    with forked.checkout(write=True, branch="dev") as co:
        co["x"][7] = value(77)
    forked.merge("m", "master", "dev")
    assert forked.status("dev").samples["x"].mutated == (7,)


def test_writer_opened_after_a_merge_builds_on_it(forked: Repository) -> None:
    diverge(forked)
    with forked.checkout(write=True, branch="master"):
        pass                                   # leaves a clean staging ref based on the old head
    merged = forked.merge("m", "master", "dev")
    with forked.checkout(write=True, branch="master") as co:
        assert co.base_commit == merged and not co.has_changes
        assert co["x"][2][0] == 20.0
        co["x"][8] = value(88)
        after = co.commit("after merge")
    assert parents(forked, after) == [merged]


def test_merge_holds_the_writer_lock(forked: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    diverge(forked)
    from hangar_git.api import merge as merge_mod
    seen = []
    real = merge_mod.merge_trees

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(forked.writer_lock_held)
        with pytest.raises(WriterLockError):
            forked.checkout(write=True, branch="master")
        return real(*args, **kwargs)
    monkeypatch.setattr(merge_mod, "merge_trees", spy)
    forked.merge("m", "master", "dev")
    assert seen == [True] and not forked.writer_lock_held


# -- bookkeeping only ---------------------------------------------------------------------------
def test_merge_with_absent_data(forked: Repository) -> None:
    m = edit(forked, "master", "m", put={"x": {1: 10}}, meta={"a": "m"})
    d = edit(forked, "dev", "d", put={"x": {2: 20, 100: 1}}, delete={"x": [3]}, add={"t": "str"})
    edit(forked, "dev", "more", put={"t": {"k": "text"}})
    uri = forked.ctx.store_uri
    forked.ctx.reset_store()
    shutil.rmtree(uri)                    # every data object is gone: bookkeeping only
    open_store(uri, create=True).close()
    if os.path.exists(forked.ctx.presence.path):
        os.remove(forked.ctx.presence.path)   # nor is any column known to be complete
    repo = Repository(forked.path)
    store = count_store(repo)
    merged = repo.merge("merge without data", "master", "dev")
    assert store.calls == {}
    assert parents(repo, merged)[0] == m and d in [parents(repo, p)[0] for p in parents(repo, merged)[1:]]
    with pytest.warns(UserWarning, match="not on this machine"):
        co = repo.checkout(branch="master")
    with co:
        assert sorted(co["x"].keys()) == [0, 1, 2, 4, 5, 6, 7, 8, 9, 100]
        assert list(co["t"].keys()) == ["k"]
        assert co.columns.contains_remote_references == {"t": True, "x": True}
        with pytest.raises(MissingDataError):
            co["x", 1]
        assert dict(co.metadata.items()) == {"a": "m", "b": "2"}


def test_merge_and_diff_never_touch_the_store(forked: Repository) -> None:
    diverge(forked)
    store = count_store(forked)
    forked.diff("master", "dev")
    forked.diff(branch="dev", onto="master")
    forked.merge("m", "master", "dev")
    assert store.calls == {}


# -- merge base -------------------------------------------------------------------------------------
def test_criss_cross_history_picks_a_valid_base(forked: Repository) -> None:
    a1 = edit(forked, "master", "A1", put={"x": {1: 11}})
    b1 = edit(forked, "dev", "B1", put={"x": {2: 22}})
    forked.create_branch("at-a1", a1)
    a2 = forked.merge("A2", "master", "dev")
    b2 = forked.merge("B2", "dev", "at-a1")
    assert parents(forked, a2) == [a1, b1] and parents(forked, b2) == [b1, a1]
    edit(forked, "master", "A3", put={"x": {3: 33}})
    edit(forked, "dev", "B3", put={"x": {4: 44}}, meta={"c": "3"})
    git = forked.ctx.git
    base = git.merge_base(forked.branch_head("master"), forked.branch_head("dev"))
    assert base in (a1, b1)               # a best common ancestor, not the older fork point
    merged = forked.merge("criss-cross", "master", "dev")
    cols, meta = state(forked, "master")
    assert {k: cols["x"][k] for k in (1, 2, 3, 4)} == {1: 11.0, 2: 22.0, 3: 33.0, 4: 44.0}
    assert meta["c"] == "3"
    log = forked.log("master", return_contents=True)
    assert log is not None
    assert log["order"][0] == merged and set(log["order"]) >= {a1, b1, a2, b2}


# -- larger columns: subtree merge and resharding --------------------------------------------------------
@pytest.mark.parametrize(("n", "extra"), [(3000, 0), (1000, 40)], ids=["sharded", "crosses-shard-level"])
def test_merge_matches_a_record_by_record_merge(repo: Repository, n: int, extra: int) -> None:
    rng = np.random.default_rng(n)
    edit(repo, "master", "base", add={"x": value(0)}, put={"x": {k: k for k in range(n)}})
    repo.create_branch("dev")
    keys = rng.permutation(n).tolist()
    m_put = {k: -k for k in keys[:60]} | {n + i: 1 for i in range(extra)}
    d_put = {k: -k for k in keys[40:120]} | {"s%d" % i: 2 for i in range(extra)}
    m_del, d_del = keys[120:140], keys[130:150]
    edit(repo, "master", "m", put={"x": m_put}, delete={"x": m_del})
    edit(repo, "dev", "d", put={"x": d_put}, delete={"x": d_del})
    repo.merge("m", "master", "dev")
    expected = {k: float(k) for k in range(n)}
    for k in m_del + d_del:
        expected.pop(k, None)
    expected.update({k: float(v) for k, v in (m_put | d_put).items()})
    with repo.checkout(branch="master") as co:
        col = co["x"]
        assert len(col) == len(expected)
        assert {k: float(v[0]) for k, v in col.items()} == expected


def _stats(repo: Repository, branch: str, column: str) -> tuple[int, int]:
    from hangar_git.bookkeeping.snapshot import Snapshot
    git = repo.ctx.git
    rec = Snapshot(git, git.commit_info(repo.branch_head(branch)).tree).column(column)
    return rec.count, rec.digits


def test_merged_column_that_outgrows_its_shard_level_is_resharded(repo: Repository) -> None:
    edit(repo, "master", "base", add={"x": value(0)}, put={"x": {k: 1 for k in range(1010)}})
    repo.create_branch("dev")
    edit(repo, "master", "m", put={"x": {f"m{i}": 2 for i in range(10)}})
    edit(repo, "dev", "d", put={"x": {f"d{i}": 3 for i in range(10)}})
    assert _stats(repo, "master", "x") == (1020, 0) == _stats(repo, "dev", "x")
    repo.merge("m", "master", "dev")
    assert _stats(repo, "master", "x") == (1030, 1)
    assert len(state(repo, "master")[0]["x"]) == 1030


def test_identical_change_in_a_shard_both_sides_touched_is_counted_once(repo: Repository) -> None:
    from hangar_git.bookkeeping.records import encode_key, shard_prefix
    edit(repo, "master", "base", add={"x": value(0)}, put={"x": {k: 1 for k in range(3000)}})
    repo.create_branch("dev")
    assert _stats(repo, "master", "x")[1] == 1
    by_shard: dict[str, list[int]] = {}
    for k in range(3000, 6000):
        by_shard.setdefault(shard_prefix(encode_key(k), 1), []).append(k)
    same, only_m, only_d = (by_shard[p][:3] for p in ("0", "1", "2"))
    edit(repo, "master", "m", put={"x": {k: 5 for k in same + only_m}}, delete={"x": [0]})
    edit(repo, "dev", "d", put={"x": {k: 5 for k in same + only_d}}, delete={"x": [0]})
    repo.merge("m", "master", "dev")
    assert _stats(repo, "master", "x")[0] == 3000 - 1 + 9
    assert len(state(repo, "master")[0]["x"]) == 3008


def test_a_conflict_from_the_api_names_the_api_strategy_and_the_cli_its_flag(forked: Repository) -> None:
    """Regression: the API's error told Python users to pass `--strategy ours`, a CLI flag."""
    from hangar_git.cli.main import one_line
    edit(forked, "master", "m", put={"x": {1: 10}})
    edit(forked, "dev", "d", put={"x": {1: 11}})
    with pytest.raises(MergeConflictError) as info:
        forked.merge("m", "master", "dev")
    text = str(info.value)
    assert "strategy='ours'" in text and "strategy='theirs'" in text and "--strategy" not in text, text
    cli_text = one_line(info.value)
    assert "`--strategy ours`" in cli_text and "strategy='ours'" not in cli_text, cli_text
    assert cli_text.splitlines()[1:] == text.splitlines()[1:]  # the same conflicts listed
