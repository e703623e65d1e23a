"""``co.diff`` as Hangar 0.5 code uses it: ``status()``, ``staged()``, ``branch(name)``,
``commit(digest)``, each giving ``(diff, conflict)`` with added/deleted/mutated
schema and sample records and the t1/t21/t22/t3 conflict preview."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from hangar_git import Repository


@pytest.fixture
def two_branches(repo: Repository) -> Repository:
    """master: column ``dummy`` with keys '0'..'9'; branch ``testbranch`` at the same commit."""
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("dummy", prototype=np.arange(50))
        for i in range(10):
            col[str(i)] = np.arange(50) + i
        co.commit("ten samples")
    repo.create_branch("testbranch")
    return repo


def _write(repo: Repository, branch: str, fn) -> str:
    with repo.checkout(write=True, branch=branch) as co:
        fn(co)
        return co.commit(f"change on {branch}")


@pytest.mark.parametrize("writer", [False, True])
def test_branch_and_commit_give_the_same_diff(two_branches: Repository, writer: bool) -> None:
    def change(co) -> None:
        co["dummy"]["1"] = np.zeros(50, dtype=np.int64)
        del co["dummy"]["2"]
        for i in range(10, 20):
            co["dummy"][str(i)] = np.arange(50)
        co.metadata["note"] = "dev"
    dev = _write(two_branches, "testbranch", change)
    with two_branches.checkout(write=writer, branch="master") as co:
        by_branch = co.diff.branch("testbranch")
        assert co.diff.commit(dev) == by_branch
    assert by_branch.conflict.conflict is False
    diff = by_branch.diff
    assert sorted(int(r.sample) for r in diff.added.samples) == list(range(10, 20))
    assert {r.column for r in diff.added.samples} == {"dummy"}
    assert [r.sample for r in diff.mutated.samples] == ["1"]
    assert [r.sample for r in diff.deleted.samples] == ["2"]
    assert diff.added.schema == diff.deleted.schema == diff.mutated.schema == {}
    assert diff.added.metadata == ("note",)
    assert diff.added.samples[0].layout == "flat"


@pytest.mark.parametrize("writer", [False, True])
def test_dev_and_master_see_the_same_changes(two_branches: Repository, writer: bool) -> None:
    def change(co) -> None:
        co["dummy"]["1"] = np.zeros(50, dtype=np.int64)
        del co["dummy"]["2"]
    _write(two_branches, "testbranch", change)
    with two_branches.checkout(write=writer, branch="master") as co:
        one = co.diff.branch("testbranch").diff
    with two_branches.checkout(write=writer, branch="testbranch") as co:
        other = co.diff.branch("master").diff
    for kind in ("added", "deleted", "mutated"):
        assert getattr(one, kind).samples == getattr(other, kind).samples


@pytest.mark.parametrize("writer", [False, True])
def test_unknown_branch_or_commit_is_a_value_error(two_branches: Repository, writer: bool) -> None:
    with two_branches.checkout(write=writer, branch="master") as co:
        with pytest.raises(ValueError):
            co.diff.branch("wrong_branch_name")
        with pytest.raises(ValueError):
            co.diff.commit(two_branches.checkout().commit_hash + "WrongHash")


@pytest.mark.parametrize("writer", [False, True])
def test_sample_conflicts(two_branches: Repository, writer: bool) -> None:
    def on_master(co) -> None:
        co["dummy"]["55"] = np.full(50, 123)           # t1: added on both, differently
        del co["dummy"]["6"]                           # t21: deleted here, mutated there
        co["dummy"]["7"] = np.full(50, 123)            # t22: mutated here, deleted there
        co["dummy"]["8"] = np.full(50, 123)            # t3: mutated on both, differently
        co["dummy"]["9"] = np.full(50, 9)              # same change on both: no conflict
    def on_dev(co) -> None:
        co["dummy"]["55"] = np.full(50, 234)
        co["dummy"]["6"] = np.full(50, 234)
        del co["dummy"]["7"]
        co["dummy"]["8"] = np.full(50, 234)
        co["dummy"]["9"] = np.full(50, 9)
    _write(two_branches, "master", on_master)
    _write(two_branches, "testbranch", on_dev)
    with two_branches.checkout(write=writer, branch="master") as co:
        conflict = co.diff.branch("testbranch").conflict
    assert conflict.conflict is True
    assert [k.sample for k in conflict.t1.samples] == ["55"]
    assert [k.sample for k in conflict.t21.samples] == ["6"]
    assert [k.sample for k in conflict.t22.samples] == ["7"]
    assert [k.sample for k in conflict.t3.samples] == ["8"]
    with pytest.raises(ValueError):  # and the merge it previews is refused
        two_branches.merge("m", "master", "testbranch")


@pytest.mark.parametrize("writer", [False, True])
def test_column_conflicts(two_branches: Repository, writer: bool) -> None:
    def on_master(co) -> None:
        co.add_ndarray_column("new", shape=(5, 7), dtype=np.float64)      # t1 against dev's
        del co.columns["dummy"]                                             # t21
    def on_dev(co) -> None:
        co.add_ndarray_column("new", shape=(7, 7), dtype=np.float64)
        co["dummy"]["0"] = np.full(50, 1)
    _write(two_branches, "master", on_master)
    _write(two_branches, "testbranch", on_dev)
    with two_branches.checkout(write=writer, branch="master") as co:
        conflict = co.diff.branch("testbranch").conflict
    assert [k.column for k in conflict.t1.schema] == ["new"]
    assert [k.column for k in conflict.t21.schema] == ["dummy"]
    with two_branches.checkout(branch="testbranch") as co:  # seen from the other side
        assert [k.column for k in co.diff.branch("master").conflict.t22.schema] == ["dummy"]


@pytest.mark.parametrize("writer", [False, True])
def test_schema_mutation_conflict(two_branches: Repository, writer: bool) -> None:
    def recreate(dtype):
        def fn(co) -> None:
            del co.columns["dummy"]
            co.add_ndarray_column("dummy", shape=(5, 7), dtype=dtype)
        return fn
    _write(two_branches, "master", recreate(np.float64))
    _write(two_branches, "testbranch", recreate(np.float32))
    with two_branches.checkout(write=writer, branch="master") as co:
        result = co.diff.branch("testbranch")
    assert [k.column for k in result.conflict.t3.schema] == ["dummy"]
    assert list(result.diff.mutated.schema) == [("dummy", "flat")]


def test_status_and_staged(two_branches: Repository) -> None:
    co = two_branches.checkout()
    with pytest.raises(AttributeError):
        co.diff.status()  # a read checkout has no staging area
    with two_branches.checkout(write=True) as co:
        assert co.diff.status() == "CLEAN"
        co["dummy"]["45"] = np.zeros(50, dtype=np.int64)
        co.add_str_column("names")
        assert co.diff.status() == "DIRTY"
        staged = co.diff.staged()
        assert [(r.column, r.sample) for r in staged.diff.added.samples] == [("dummy", "45")]
        assert [k.column for k in staged.diff.added.schema] == ["names"]
        assert staged.conflict.conflict is False
        co.commit("adding")
        assert co.diff.status() == "CLEAN"
        assert co.diff.staged().diff.added == ({}, ())


def test_staging_area_against_a_branch(two_branches: Repository) -> None:
    """A write checkout compares its staging area, uncommitted changes included."""
    _write(two_branches, "testbranch", lambda co: co["dummy"].__setitem__("3", np.full(50, 7)))
    with two_branches.checkout(write=True, branch="master") as co:
        co["dummy"]["3"] = np.full(50, 8)
        result = co.diff.branch("testbranch")
    assert result.diff.mutated.samples == (("dummy", "3"),)


def test_results_are_plain_values(two_branches: Repository) -> None:
    _write(two_branches, "testbranch", lambda co: co.metadata.__setitem__("k", "v"))
    result = two_branches.checkout(branch="master").diff.branch("testbranch")
    again = pickle.loads(pickle.dumps(result))
    assert again == result and again.diff.added.metadata == ("k",)
    diff, conflict = result  # a two-tuple, as in Hangar
    schema, samples = diff.added  # Changes unpacks to Hangar's two fields
    assert (schema, samples) == ({}, ())
