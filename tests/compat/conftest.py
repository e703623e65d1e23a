"""Fixtures for the Hangar 0.5 compatibility tests: real repositories in tmp_path.

* ``repo``: an initialised repository with no commits.
* ``committed``: a repository whose master holds column ``a`` (int keys 0..9,
  float arrays of value ``key``), str column ``s`` and bytes column ``b``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from tests.repos import new_repo  # noqa: F401  (re-exported to this suite's tests)


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return new_repo(tmp_path / "repo")


@pytest.fixture
def committed(repo: Repository) -> Repository:
    with repo.checkout(write=True) as co:
        a = co.add_ndarray_column("a", prototype=np.zeros(3, dtype=np.float64))
        s = co.add_str_column("s")
        b = co.add_bytes_column("b")
        for i in range(10):
            a[i] = np.full(3, float(i))
            s[i] = f"s{i}"
            b[i] = b"b%d" % i
        co.commit("first")
    return repo
