"""Fixtures of the digest tests: a real repository, values whose digest ends in a zero byte.

* ``repo``: an initialised hangar repository in tmp_path (git + TileDB store).
* :func:`trailing_zero_values` searches values (never hard-coded digests) until
  ``digest_of`` gives a raw digest whose last byte is 0: about 1 value in 256.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.storage import digest_of, ndarray_meta

from .. import subprocesses


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    repo = Repository(tmp_path / "repo", exists=False)
    repo.init("tester", "t@x")
    return repo


def ends_in_zero(digest: str) -> bool:
    return bytes.fromhex(digest)[-1] == 0


def candidates(kind: str, shape: tuple[int, ...] = (4,)) -> Iterator[object]:
    """Distinct values of a column kind: arrays of ``shape`` (uint8), str or bytes."""
    for i in range(1 << 20):
        if kind == "ndarray":
            value = np.zeros(shape, np.uint8)
            value.reshape(-1)[:4] = np.frombuffer(i.to_bytes(4, "little"), np.uint8)
            yield value
        elif kind == "str":
            yield f"text {i}"
        else:
            yield f"blob {i}".encode()


def digest_of_value(value: object) -> str:
    if isinstance(value, np.ndarray):
        return digest_of(ndarray_meta(value.dtype, value.shape), value.tobytes())
    if isinstance(value, str):
        return digest_of("str", value.encode())
    assert isinstance(value, bytes)
    return digest_of("bytes", value)


def trailing_zero_values(kind: str, count: int, shape: tuple[int, ...] = (4,)) -> list[object]:
    """``count`` values whose raw digest ends in a zero byte."""
    found = []
    for value in candidates(kind, shape):
        if ends_in_zero(digest_of_value(value)):
            found.append(value)
            if len(found) == count:
                return found
    raise AssertionError("no value with a trailing zero digest byte in 2**20 tries")


@pytest.fixture
def run_py() -> Callable[..., subprocess.CompletedProcess]:
    """``run_py(code)`` runs ``code`` in a new interpreter (must exit 0; stdout returned)."""
    env = subprocesses.python_env(strict_warnings=True)
    return lambda code, timeout=120: subprocesses.run_python(code, env, True, timeout)
