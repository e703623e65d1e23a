"""Fixtures for history tests (diff, merge, log, summary): real repositories in tmp_path.

* ``repo``: an initialised repository, no commits.
* ``forked``: ``repo`` with one commit on master (column ``x``: keys 0-9 with
  value ``k``; metadata ``a=1``, ``b=2``) and branch ``dev`` at that commit.
* ``edit(repo, branch, message, ...)``: one commit through the public API.
* ``state(repo, branch)``: what a branch holds, read back through a checkout.
* ``count_store``: wraps a repository's data store in ``bench.common.CountingStore``, which counts every call.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import numpy as np
import pytest

from bench.common import CountingStore
from hangar_git import Repository
from tests.repos import new_repo  # noqa: F401  (re-exported to this suite's tests)

SHAPE = (3,)


def value(v: Any) -> Any:
    """Test sample values: numbers become float32 arrays filled with that number."""
    return np.full(SHAPE, v, np.float32) if isinstance(v, (int, float)) else v


def edit(repo: Repository, branch: str, message: str, *,
         put: Optional[Mapping[str, Mapping[Any, Any]]] = None,
         delete: Optional[Mapping[str, Iterable[Any]]] = None,
         meta: Optional[Mapping[str, Optional[str]]] = None,
         add: Optional[Mapping[str, Any]] = None,
         drop: Iterable[str] = ()) -> str:
    """Commit on ``branch``: drop columns, add columns (prototype array or 'str'),
    put samples, delete samples, set metadata (None deletes). Returns the digest."""
    with repo.checkout(write=True, branch=branch) as co:
        for name in drop:
            co.columns.delete(name)
        for name, proto in (add or {}).items():
            if isinstance(proto, str):
                co.add_str_column(name)
            else:
                co.add_ndarray_column(name, prototype=proto)
        for name, values in (put or {}).items():
            co[name].update({k: value(v) for k, v in values.items()})
        for name, keys in (delete or {}).items():
            for k in keys:
                del co[name][k]
        for k, v in (meta or {}).items():
            if v is None:
                del co.metadata[k]
            else:
                co.metadata[k] = v
        return co.commit(message)


def state(repo: Repository, branch: str) -> tuple[dict[str, dict[Any, Any]], dict[str, str]]:
    """{column: {key: value}} (arrays as their first element) and metadata of a branch head."""
    with repo.checkout(branch=branch) as co:
        cols = {}
        for name, col in co.columns.items():
            cols[name] = {k: (float(v[0]) if isinstance(v, np.ndarray) else v) for k, v in col.items()}
        return cols, dict(co.metadata.items())


def heads(repo: Repository) -> dict[str, str]:
    """Every hangar ref (branches, staging) -> target."""
    return dict(repo.ctx.git.list_refs("refs/hangar/"))


def count_store(repo: Repository) -> CountingStore:
    store = CountingStore(repo.ctx.store)
    repo.ctx._store = store  # type: ignore[assignment]
    return store


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return new_repo(tmp_path / "repo")


@pytest.fixture
def forked(repo: Repository) -> Repository:
    edit(repo, "master", "initial commit", add={"x": value(0)}, put={"x": {k: k for k in range(10)}},
         meta={"a": "1", "b": "2"})
    repo.create_branch("dev")
    return repo
