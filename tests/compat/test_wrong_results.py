"""Item by item, the three ways Hangar 0.5 code gave wrong results here, and the
silent misreadings of arguments; each written as a Hangar user writes it."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from hangar_git import Repository


# -- a transform loop visits each key of the starting state exactly once ---------------
def _counting_transform(col, method: str, fn) -> Counter:
    seen: Counter = Counter()
    if method == "keys":
        for k in col.keys():
            seen[k] += 1
            col[k] = fn(col[k])
    elif method == "iter":
        for k in col:
            seen[k] += 1
            col[k] = fn(col[k])
    elif method == "items":
        for k, v in col.items():
            seen[k] += 1
            col[k] = fn(v)
    else:
        for v in col.values():
            seen[len(seen)] += 1
    return seen


@pytest.mark.parametrize("method", ["keys", "iter", "items"])
@pytest.mark.parametrize("committed_first", [False, True], ids=["staged", "committed"])
def test_array_transform_loop_changes_each_sample_once(repo: Repository, method: str,
                                                      committed_first: bool) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(2, dtype=np.float32))
        for i in range(50):
            col[str(i)] = np.zeros(2, dtype=np.float32)
        if committed_first:
            co.commit("zeros")
        seen = _counting_transform(col, method, lambda v: v + 100)
        assert set(seen.values()) == {1} and len(seen) == 50
        assert all((col[str(i)] == 100).all() for i in range(50))
        assert float(col["0"][0]) == 100.0


@pytest.mark.parametrize("kind", ["str", "bytes"])
@pytest.mark.parametrize("method", ["keys", "items"])
def test_text_transform_loop_over_10000_committed_samples(repo: Repository, kind: str,
                                                          method: str) -> None:
    n = 10_000
    suffix = "!" if kind == "str" else b"!"
    with repo.checkout(write=True) as co:
        col = co.add_str_column("t") if kind == "str" else co.add_bytes_column("t")
        col.update({i: (str(i) if kind == "str" else str(i).encode()) for i in range(n)})
        co.commit("text")
        seen = _counting_transform(col, method, lambda v: v + suffix)
        assert len(seen) == n and set(seen.values()) == {1}
        assert col[0] == ("0!" if kind == "str" else b"0!")
        assert col[n - 1] == (f"{n - 1}!" if kind == "str" else f"{n - 1}!".encode())
        assert sum(1 for _ in col.values()) == n


@pytest.mark.parametrize("n", [32_767, 32_768, 32_769, 40_000])
def test_array_items_loop_above_32000_with_a_change_already_staged(repo: Repository, n: int) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(1, dtype=np.int64))
        with col:
            for i in range(n):
                col[i] = np.array([i], dtype=np.int64)
        co.commit("rows")
        col[0] = np.array([-1], dtype=np.int64)  # a change staged before the loop
        count = 0
        for k, v in col.items():
            count += 1
            col[k] = v + 1_000_000
        assert count == n
        assert int(col[0][0]) == 999_999 and int(col[n - 1][0]) == n - 1 + 1_000_000
        assert len(col) == n


def test_loop_that_adds_and_deletes_sees_the_starting_keys(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_str_column("t")
        col.update({i: str(i) for i in range(10)})
        co.commit("ten")
        col[99] = "staged"
        visited = []
        for k in col.keys():
            visited.append(k)
            col[k + 1000] = "new"
            if k < 5:
                del col[k]
        assert sorted(visited) == list(range(10)) + [99]
        assert len(col) == 11 + 11 - 5


# -- write must be a bool --------------------------------------------------------------
@pytest.mark.parametrize("write", ["dev", "False", "True", 1, 0, None])
def test_checkout_write_must_be_a_bool(committed: Repository, write: object) -> None:
    committed.create_branch("dev")
    with pytest.raises(ValueError, match="write"):
        committed.checkout(write)  # type: ignore[arg-type]
    assert not committed.writer_lock_held
    with committed.checkout(write=True, branch="dev") as co:  # no writer was left behind
        assert co.branch_name == "dev"


def test_write_checkout_without_a_branch_opens_the_current_head_branch(committed: Repository) -> None:
    # Hangar 0.5: checkout(write=True) writes to the staging area's HEAD branch, which
    # the last checkout(write=True, branch=...) moved; a read checkout follows it too
    committed.create_branch("dev")
    with committed.checkout(write=True) as co:
        assert co.branch_name == "master"
    with committed.checkout(write=True, branch="dev") as co:
        co["a"][0] = np.full(3, 42.0)
        dev_head = co.commit("on dev")
    with committed.checkout(write=True) as co:
        assert co.branch_name == "dev"
        assert co.commit_hash == dev_head
    assert committed.checkout().commit_hash == dev_head
    with committed.checkout(write=True, branch="master") as co:
        pass
    with committed.checkout(write=True) as co:
        assert co.branch_name == "master"


# -- a local branch may not shadow a remote-tracking one -------------------------------
@pytest.mark.parametrize("name", ["origin/master", "origin/dev/x"])
def test_branch_named_like_a_remote_tracking_branch_is_refused(committed: Repository,
                                                              name: str, tmp_path) -> None:
    committed.remote.add("origin", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="origin"):
        committed.create_branch(name)
    assert committed.list_branches() == ["master"]


def test_slash_names_without_a_remote_are_fine(committed: Repository) -> None:
    committed.create_branch("feature/x")
    assert committed.list_branches() == ["feature/x", "master"]


# -- unknown keywords to add_*_column --------------------------------------------------
@pytest.mark.parametrize("method,kwargs", [
    ("add_ndarray_column", {"prototype": np.zeros(3), "variable_shap": True}),
    ("add_str_column", {"bogus": 1}),
    ("add_bytes_column", {"layout": "flat"}),
])
def test_add_column_with_unknown_keyword_raises(repo: Repository, method: str, kwargs: dict) -> None:
    with repo.checkout(write=True) as co:
        bad = next(k for k in kwargs if k != "prototype")
        with pytest.raises(TypeError, match=bad):
            getattr(co, method)("c", **kwargs)
        assert "c" not in co.columns


@pytest.mark.parametrize("method,kwargs", [
    ("add_ndarray_column", {"prototype": np.zeros(3)}),
    ("add_str_column", {}),
    ("add_bytes_column", {}),
])
def test_nested_columns_are_refused(repo: Repository, method: str, kwargs: dict) -> None:
    with repo.checkout(write=True) as co:
        with pytest.raises(ValueError, match="nested"):
            getattr(co, method)("c", contains_subsamples=True, **kwargs)
        assert "c" not in co.columns
        getattr(co, method)("c", contains_subsamples=False, **kwargs)  # Hangar's default, accepted


# -- iswriteable after close -----------------------------------------------------------
def test_columns_not_writeable_after_close(committed: Repository) -> None:
    co = committed.checkout(write=True)
    col = co.columns["a"]
    assert co.columns.iswriteable and col.iswriteable
    co.close()
    assert not co.columns.iswriteable and not col.iswriteable
    assert not committed.checkout().columns.iswriteable


def test_the_nested_column_refusal_suggests_a_key_that_is_valid(repo: Repository) -> None:
    """Regression: it suggested keys like 'sample/subsample', which '/' makes invalid."""
    import re
    with repo.checkout(write=True) as co:
        with pytest.raises(ValueError) as info:
            co.add_str_column("c", contains_subsamples=True)
        examples = re.findall(r"such as '([^']+)'", str(info.value))
        assert examples, str(info.value)
        col = co.add_str_column("flat")
        for key in examples:
            col[key] = "stored"  # the suggested key is accepted
