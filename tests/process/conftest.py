"""Fixtures of the process-safety suite.

``dataset``: a repository (made once per session) with small rows and large objects
(over the store's 1 MiB large tier, some blosc2-compressed, some not), and the
fingerprint of every sample, computed from the arrays written, not read back.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from tests.faults.world import World, build_world

from .workers import fingerprint

SMALL_ROWS = 300
LARGE = 6


@dataclass(frozen=True)
class Dataset:
    path: Path
    expected: dict[tuple[str, str], str]

    @property
    def index(self) -> list[tuple[str, str]]:
        return sorted(self.expected)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    path = tmp_path_factory.mktemp("process") / "repo"
    rng = np.random.default_rng(10)
    small = {f"s{i:03d}": rng.integers(0, 1 << 40, 8, dtype=np.int64) for i in range(SMALL_ROWS)}
    large = {f"b{i}": (rng.standard_normal((600, 600)).astype(np.float32) if i % 2 else
                       np.arange(360_000, dtype=np.float32).reshape(600, 600) * i)   # compresses
             for i in range(LARGE)}
    repo = Repository(path, exists=False)
    repo.init("process", "p@x")
    with repo.checkout(write=True) as co:
        for name, samples in (("small", small), ("big", large)):
            col = co.add_ndarray_column(name, prototype=next(iter(samples.values())))
            with col:
                for key, value in samples.items():
                    col[key] = value
        co.commit("samples")
    repo.ctx.reset_store()
    expected = {("small", k): fingerprint(v) for k, v in small.items()}
    expected.update({("big", k): fingerprint(v) for k, v in large.items()})
    return Dataset(path, expected)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The fault suite's template repositories (see :mod:`tests.faults.world`)."""
    return build_world(tmp_path_factory.mktemp("world"))
