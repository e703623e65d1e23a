"""Small real repositories that tests of several capabilities start from."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

from hangar_git import Repository


def new_repo(path: Path) -> Repository:
    """An initialised, empty repository at ``path``."""
    repo = Repository(str(path), exists=False)
    repo.init("tester", "t@x")
    return repo


def one_sample_repo(path: Path, key: Union[int, str] = 0) -> Repository:
    """A repository whose master holds one float64[3] sample, ``x[key]``."""
    repo = Repository(str(path), exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("x", prototype=np.zeros(3))[key] = np.ones(3)
        co.commit("one")
    return repo


def add_bare_origin(repo: Repository, path: Path) -> None:
    """Create an empty bare repository at ``path`` and add it to ``repo`` as remote ``origin``."""
    Repository(str(path), exists=False).init("s", "s@x", bare=True)
    repo.remote.add("origin", str(path))
    repo.remote.quiet = True


def commit_rows(repo: Repository, keys: list, width: int = 7, seed: int = 1) -> dict:
    """Commit random uint8[``width``] rows under ``keys`` as column ``rows``; key -> row."""
    rows = np.random.default_rng(seed).integers(0, 255, size=(len(keys), width), dtype=np.uint8)
    data = dict(zip(keys, rows))
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("rows", prototype=rows[0]).update(data)
        co.commit("rows")
    return data


def shard_oids(repo: Repository) -> dict[str, str]:
    """Path -> blob id of each record shard of column ``rows`` at the head."""
    with repo.checkout() as co:
        return co["rows"]._records.shard_oids()


def store_bytes(uri: str) -> int:
    """Bytes of every file under a local store (what ``du -sb`` counts)."""
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(uri) for f in files)
