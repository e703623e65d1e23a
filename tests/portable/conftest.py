"""Fixtures for portable repositories and shared stores: a real `git hangar`
in subprocesses (``gh``), and helpers that commit samples and check them."""
from __future__ import annotations

import gc
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository
from tests.subprocesses import python_env

GH = Callable[..., str]


def run_gh(*args: object, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """`git hangar args` in a subprocess started in ``cwd``."""
    proc = subprocess.run(["git", "hangar", *map(str, args)], cwd=cwd, env=python_env(),
                          capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, (args, cwd, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def gh() -> GH:
    """Run `git hangar` and return its stdout; it must succeed."""
    def run(*args: object, cwd: Path) -> str:
        return run_gh(*args, cwd=cwd).stdout
    return run


def git(*args: object, cwd: Path) -> str:
    return subprocess.run(["git", *map(str, args)], cwd=cwd, env=python_env(), check=True,
                          capture_output=True, text=True, timeout=60).stdout


def sample(i: int) -> np.ndarray:
    return np.full((4,), i, dtype=np.int64)


def commit_samples(path: Path, keys: range, column: str = "x", message: str = "more") -> str:
    """Commit ``sample(k)`` under key ``str(k)`` for each key (API, write branch)."""
    repo = Repository(str(path))
    with repo.checkout(write=True) as co:
        col = co.columns[column] if column in co.columns else co.add_ndarray_column(column, prototype=sample(0))
        for k in keys:
            col[str(k)] = sample(k)
        return str(co.commit(message))


def commit_with_cli(gh: GH, cwd: Path, keys: range, column: str = "x") -> None:
    """The same through `git hangar add` + `commit` (files under cwd/../files)."""
    folder = cwd.parent / f"files-{cwd.name}-{keys.start}"
    folder.mkdir(exist_ok=True)
    names = []
    for k in keys:
        np.save(folder / f"{k}.npy", sample(k))
        names.append(str(folder / f"{k}.npy"))
    gh("add", column, *names, "--key-from", "name", cwd=cwd)  # str keys, as commit_samples uses
    gh("commit", "-m", f"samples {keys.start}..{keys.stop}", cwd=cwd)


def assert_samples(path: Path, keys: range, column: str = "x") -> None:
    """Every key reads back exactly, from local data."""
    repo = Repository(str(path))
    with repo.checkout() as co:
        col = co.columns[column]
        assert not col.contains_remote_references, col.remote_reference_keys
        for k in keys:
            np.testing.assert_array_equal(col[str(k)], sample(k))


def close_dropped_stores() -> None:
    """Collect Repository objects of earlier calls whose stores are still open.

    A store with a reader open in this process makes gc's fragment deletion fail
    in TileDB ("May not perform simultaneous open or close operations"), the
    store-layer bug issue 10 lists separately; these tests are about the registry.
    """
    gc.collect()
