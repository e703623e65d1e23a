"""Read checkouts and columns pickle and reopen in other processes, as in Hangar 0.5:
``multiprocessing.Pool().map(col.get, keys)`` works under every start method."""
from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import CheckoutClosedError, NotPicklableError

START_METHODS = ["fork", "forkserver", "spawn"]
TIMEOUT = 120
"""Seconds a pool may take before a hang counts as a failure."""


def test_read_checkout_and_column_round_trip(committed: Repository) -> None:
    co = committed.checkout()
    again = pickle.loads(pickle.dumps(co))
    assert again.commit_hash == co.commit_hash and again.branch_name == "master"
    assert sorted(again.columns) == ["a", "b", "s"]
    col = pickle.loads(pickle.dumps(co.columns["a"]))
    assert col.column == "a" and len(col) == 10
    np.testing.assert_array_equal(col[3], np.full(3, 3.0))
    assert not col.iswriteable


def test_checkout_of_a_commit_round_trips(committed: Repository) -> None:
    first = committed.checkout().commit_hash
    with committed.checkout(write=True) as co:
        co["s"][0] = "changed"
        co.commit("second")
    old = pickle.loads(pickle.dumps(committed.checkout(commit=first)["s"]))
    assert old[0] == "s0"


def test_a_process_reopens_one_checkout_for_all_its_columns(committed: Repository) -> None:
    co = committed.checkout()
    a, s = pickle.loads(pickle.dumps((co["a"], co["s"])))
    assert a._session is s._session  # one checkout (its session) serves both


@pytest.mark.parametrize("method", START_METHODS)
def test_pool_map_of_col_get(committed: Repository, method: str) -> None:
    co = committed.checkout()
    col = co.columns["s"]
    with multiprocessing.get_context(method).Pool(2) as pool:
        got = pool.map_async(col.get, list(range(10)) + [99], chunksize=3).get(TIMEOUT)
    assert got == [f"s{i}" for i in range(10)] + [None]
    with multiprocessing.get_context(method).Pool(2) as pool:
        arrays = pool.map_async(co["a"].get, range(10)).get(TIMEOUT)
    for i, arr in enumerate(arrays):
        np.testing.assert_array_equal(arr, np.full(3, float(i)))


def test_write_checkout_and_its_columns_refuse_pickling(committed: Repository) -> None:
    with committed.checkout(write=True) as co:
        for obj in (co, co.columns["a"]):
            with pytest.raises(TypeError, match="write checkout"):
                pickle.dumps(obj)
            with pytest.raises(PermissionError):
                pickle.dumps(obj)
            with pytest.raises(NotPicklableError):
                pickle.dumps(obj)


def test_closed_read_checkout_refuses_pickling(committed: Repository) -> None:
    co = committed.checkout()
    col = co["a"]
    co.close()
    with pytest.raises(CheckoutClosedError):
        pickle.dumps(co)
    with pytest.raises(CheckoutClosedError):
        pickle.dumps(col)
