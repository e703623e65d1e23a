"""Hangar 0.5 habits: ``co.get(keys, default=None, except_missing=False)`` with a positional
default, numpy scalars written to shape-() columns, and remote reference keys in key order."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository, SchemaError
from tests.repos import new_repo

MISSING = object()


@pytest.fixture
def mixed(repo: Repository) -> Repository:
    """master holds str column ``var`` (keys 'a', 'b', 3) and ndarray column ``x`` (keys 0, 1)."""
    with repo.checkout(write=True) as co:
        co.add_str_column("var").update({"a": "A", "b": "B", 3: "three"})
        co.add_ndarray_column("x", prototype=np.zeros(2)).update({0: np.zeros(2), 1: np.ones(2)})
        co.commit("mixed")
    return repo


# (keys, what co.get returns with default 'DEF' -- MISSING: the call raises with except_missing)
GETS: list[tuple[Any, Any]] = [
    (("var", "a"), "A"),
    (("var", 3), "three"),
    (("var", "missing"), "DEF"),
    (("nope", "a"), "DEF"),
    ([("var", "a"), ("var", "missing"), ("var", "b")], ["A", "DEF", "B"]),
    ((("var", "b"), ("var", "missing")), ["B", "DEF"]),
    (("var", ["b", "missing", 3]), ["B", "DEF", "three"]),
]


@pytest.mark.parametrize("form", ["positional", "keyword"])
@pytest.mark.parametrize("keys, expected", GETS, ids=[repr(k) for k, _ in GETS])
def test_checkout_get_takes_hangar_arguments(mixed: Repository, keys: Any, expected: Any, form: str) -> None:
    with mixed.checkout() as co:
        got = co.get(keys, "DEF") if form == "positional" else co.get(keys, default="DEF")
        assert got == expected
        assert co.get(keys) == (expected if "DEF" not in _flat(expected) else _none_for_def(expected))
        if "DEF" in _flat(expected):
            with pytest.raises(KeyError):
                co.get(keys, "DEF", True) if form == "positional" else co.get(keys, "DEF", except_missing=True)
        else:
            assert (co.get(keys, "DEF", True) if form == "positional"
                    else co.get(keys, except_missing=True)) == expected


def _flat(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _none_for_def(value: Any) -> Any:
    return [None if v == "DEF" else v for v in value] if isinstance(value, list) else None


def test_checkout_get_of_a_column_and_of_arrays(mixed: Repository) -> None:
    with mixed.checkout() as co:
        assert co.get("var").column == "var"
        assert co.get("nope", "DEF") == "DEF"
        assert np.array_equal(co.get(("x", 1), "DEF"), np.ones(2))
        assert co.get(("x", 7), "DEF") == "DEF"


@pytest.mark.parametrize("form", ["positional", "keyword"])
def test_column_get_takes_a_default(mixed: Repository, form: str) -> None:
    with mixed.checkout() as co:
        col = co.columns["var"]
        get = (lambda k: col.get(k, "D")) if form == "positional" else (lambda k: col.get(k, default="D"))
        assert get("a") == "A" and get(3) == "three" and get("missing") == "D"
        assert col.get("missing") is None


# -- numpy scalars -----------------------------------------------------------------------
@pytest.mark.parametrize("value", [np.int64(3), np.array(3, np.int64)[()]], ids=["np.int64", "0-d item"])
def test_numpy_scalar_is_a_0d_array(repo: Repository, value: Any) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("n", shape=(), dtype=np.int64)
        col[0] = value
        co.commit("scalar")
    with repo.checkout() as co:
        got = co["n", 0]
        assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == np.int64 and got == 3


@pytest.mark.parametrize("value, fragment", [
    (np.float64(3), "expects dtype int64, got float64"),
    (3, "np.asarray"),
    ([1, 2], "np.asarray"),
])
def test_other_values_name_the_fix(repo: Repository, value: Any, fragment: str) -> None:
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("n", shape=(), dtype=np.int64)
        with pytest.raises(SchemaError, match=fragment.replace("(", r"\(")):
            col[0] = value


# -- remote reference keys ---------------------------------------------------------------
def test_remote_reference_keys_are_in_key_order(tmp_path: Path) -> None:
    origin = new_repo(tmp_path / "origin")
    keys: list[Any] = [105, 3, "b", 104, 20, "a", 4, 103, 5]
    with origin.checkout(write=True) as co:
        co.add_ndarray_column("x", prototype=np.zeros(2)).update({k: np.zeros(2) for k in keys})
        co.commit("keys")
    partial = new_repo(tmp_path / "partial")
    subprocess.run(["git", "-C", partial.path, "fetch", "-q", origin.path,
                    "refs/hangar/heads/*:refs/hangar/heads/*"], check=True)
    with pytest.warns(UserWarning):
        co = partial.checkout()
    with co:
        expected = (3, 4, 5, 20, 103, 104, 105, "a", "b")
        assert co.columns["x"].remote_reference_keys == expected
        assert co.columns.remote_sample_keys == {"x": expected}
