"""Small real repositories that tests of several capabilities start from."""
from __future__ import annotations

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
