"""Fixtures for the local-core capability tests: real repositories in tmp_path.

* ``repo``: an initialised hangar repository (git work tree + TileDB store).
* ``wco``: a write checkout of ``repo`` (closed at teardown if still open).
* ``run_py``: run a Python snippet in a fresh interpreter (another process),
  with this checkout of ``hangar_git`` importable and the isolated git env.
* ``committed``: a repository with three commits on master whose expected
  contents are recorded, for history tests.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

from hangar_git import Repository
from tests.repos import new_repo  # noqa: F401  (re-exported to this suite's tests)

from .. import subprocesses



@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    return new_repo(tmp_path / "repo")


@pytest.fixture
def wco(repo: Repository) -> Iterator[Any]:
    co = repo.checkout(write=True)
    yield co
    if not co.closed:
        co.close()


def python_env() -> dict[str, str]:
    return subprocesses.python_env(strict_warnings=True)


PyRunner = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def run_py() -> PyRunner:
    """``run_py(code)`` runs dedented ``code`` in a new interpreter; the result must
    exit 0 (stdout returned); ``check=False`` returns anyway."""
    return lambda code, check=True, timeout=60: subprocesses.run_python(code, python_env(), check, timeout)


@pytest.fixture
def spawn_py() -> Iterator[Callable[[str], subprocess.Popen]]:
    """Start a long-lived interpreter (stdin/stdout pipes); killed at teardown."""
    procs: list[subprocess.Popen] = []

    def spawn(code: str) -> subprocess.Popen:
        procs.append(subprocesses.spawn_python(code, python_env()))
        return procs[-1]

    yield spawn
    subprocesses.reap(procs)


def wait_line(proc: subprocess.Popen, expected: str) -> str:
    line = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if line != expected:
        proc.kill()
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"subprocess said {line!r}, expected {expected!r}:\n{err}")
    return line


def assert_same_array(got: Any, expected: np.ndarray) -> None:
    """Exactly equal: type, dtype (byte order included), shape and bytes."""
    assert isinstance(got, np.ndarray)
    assert got.dtype == expected.dtype and got.dtype.str == expected.dtype.str
    assert got.shape == expected.shape
    assert got.tobytes() == np.ascontiguousarray(expected).tobytes()


@dataclass
class History:
    """A repo with commits c0, c1, c2 on master and what each contains."""

    repo: Repository
    commits: list[str] = field(default_factory=list)
    arrays: list[dict[Any, np.ndarray]] = field(default_factory=list)
    texts: list[dict[Any, str]] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def committed(repo: Repository) -> History:
    """c0: 5 arrays, 2 texts; c1: overwrite key 1, delete key 2, add 'new';
    c2: delete texts column, metadata change, overwrite key 0."""
    h = History(repo)
    rng = np.random.default_rng(0)
    arrays = {k: rng.standard_normal((4, 3)).astype(np.float32) for k in range(5)}
    texts = {"a": "alpha", 1: "one"}
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("arr", prototype=arrays[0])
        col.update(arrays)
        co.add_str_column("text").update(texts)
        co.metadata["stage"] = "zero"
        h.commits.append(co.commit("c0"))
    h.arrays.append(dict(arrays)); h.texts.append(dict(texts)); h.metadata.append({"stage": "zero"})

    arrays[1] = np.full((4, 3), 7, np.float32)
    del arrays[2]
    arrays["new"] = np.arange(12, dtype=np.float32).reshape(4, 3)
    texts["b"] = "beta"
    with repo.checkout(write=True) as co:
        co["arr"][1] = arrays[1]
        del co["arr"][2]
        co["arr"]["new"] = arrays["new"]
        co["text"]["b"] = "beta"
        h.commits.append(co.commit("c1"))
    h.arrays.append(dict(arrays)); h.texts.append(dict(texts)); h.metadata.append({"stage": "zero"})

    arrays[0] = -arrays[0]
    with repo.checkout(write=True) as co:
        co["arr"][0] = arrays[0]
        co.columns.delete("text")
        co.metadata["stage"] = "two"
        co.metadata["extra"] = "x"
        h.commits.append(co.commit("c2"))
    h.arrays.append(dict(arrays)); h.texts.append({}); h.metadata.append({"stage": "two", "extra": "x"})
    return h
