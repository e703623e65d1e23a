"""A remote on a plain git host plus an object store: the object store is read directly."""
from __future__ import annotations

import subprocess
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import MissingDataError, Repository
from hangar_git.storage import open_store
from hangar_git.transport.streamsource import StoreObjects

from .conftest import ROWS, TEXTS, fill, store_files


def test_streaming_from_a_git_host_reads_its_data_store(make_repo: Callable[[str], Repository],
                                                        tmp_path: Path) -> None:
    host = tmp_path / "host.git"
    subprocess.run(["git", "init", "--bare", "-q", str(host)], check=True)
    data = tmp_path / "data-store"
    source = make_repo("source")
    fill(source)
    source.remote.add("origin", str(host), data_url=str(data))
    source.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.remote.quiet = True
    clone.clone("reader", "reader@hangar.invalid", str(host))
    before = store_files(clone)
    with clone.checkout(branch="master", stream_from="origin") as co:
        assert isinstance(co.stream_store.source, StoreObjects)
        assert np.array_equal(co["rows", 12], ROWS[12])
        got = dict(co["rows"].items())
        assert all(np.array_equal(got[k], ROWS[k]) for k in range(len(ROWS)))
        assert co["texts", [0, 199]] == [TEXTS[0], TEXTS[199]]
    assert store_files(clone) == before
    lost = co_digest(clone, 7)
    remote_store = open_store(str(data))
    try:
        remote_store.rewrite(lambda d: d != lost)  # type: ignore[attr-defined]
    finally:
        remote_store.close()
    with clone.checkout(branch="master", stream_from="origin", cache_dir_bytes=0) as co:  # not the shared cache
        with pytest.raises(MissingDataError, match="'origin'"):
            co["rows", 7]
        assert np.array_equal(co["rows", 8], ROWS[8])


def co_digest(repo: Repository, key: int) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return repo.checkout(branch="master")["rows"]._digest(f"i{key}")

