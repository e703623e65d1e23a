"""Fixtures of the streaming suite: a server holding data, and a clone holding none of it.

* ``streamed(kind)``: pushes :data:`ROWS` (column ``rows``), :data:`TEXTS` (column ``texts``)
  and one large incompressible sample (column ``blobs``, key 0) from a source repository to a
  fresh server repository served over ``kind`` (see tests/remote/conftest.py), then clones it:
  the clone has the records and no data.
* ``store_files(repo)``: (path, size) of every file in a repository's store.
* ``proxied(address, port)``: the same SSH address through a :class:`bench.proxy.LatencyProxy`,
  its host key trusted under the proxy's port.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.storage import open_store

from ..remote.conftest import (ServerRepo, dota_rows, hangar_ssh,  # noqa: F401 (fixtures)
                               server_address)

ROWS = dota_rows(3000, seed=13)
TEXTS = [f"sample text {i}" for i in range(200)]
BLOB = np.random.default_rng(5).integers(0, 256, size=(3 << 20), dtype=np.uint8).tobytes()
__all__ = ["BLOB", "ROWS", "TEXTS", "Streamed", "hangar_ssh", "server_address"]


@dataclass
class Streamed:
    server: ServerRepo
    source: Repository
    clone: Repository

    def checkout(self, **kwargs: Any) -> Any:
        return self.clone.checkout(branch="master", stream_from="origin", **kwargs)

    def plain(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return self.clone.checkout(branch="master")


def fill(repo: Repository) -> str:
    with repo.checkout(write=True, branch="master") as co:
        rows = co.add_ndarray_column("rows", prototype=ROWS[0])
        with rows as c:
            for i, row in enumerate(ROWS):
                c[i] = row
        texts = co.add_str_column("texts")
        with texts as c:
            for i, text in enumerate(TEXTS):
                c[i] = text
        co.add_bytes_column("blobs")[0] = BLOB
        return co.commit("data to stream")


@pytest.fixture
def streamed(server_address: Callable[[str], ServerRepo], make_repo: Callable[[str], Repository],
             tmp_path: Path) -> Callable[[str], Streamed]:
    def make(kind: str) -> Streamed:
        server = server_address(kind)
        source = make_repo("source")
        fill(source)
        source.remote.add("origin", server.address)
        source.remote.push("origin", "master")
        clone = Repository(tmp_path / f"clone-{kind}", exists=False)
        clone.remote.quiet = True
        clone.clone("reader", "reader@hangar.invalid", server.address)
        return Streamed(server, source, clone)
    return make


def store_files(repo: Repository) -> dict[str, int]:
    root = repo.ctx.store_uri.removeprefix("file://")
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = os.path.getsize(path)
    return out


def server_store_drop(server: ServerRepo, digests: set[str]) -> None:
    """Remove objects from the server's store (a server that never received them)."""
    store = open_store(server.open().ctx.store_uri)
    try:
        store.rewrite(lambda d: d not in digests)  # type: ignore[attr-defined]
    finally:
        store.close()


@pytest.fixture
def trust_port(sshd_server: Any) -> Iterator[Callable[[str, int], None]]:
    """``trust_port(known_hosts_line, port)``: accept that host key under ``port`` too (undone after)."""
    known = Path(sshd_server.known_hosts_path)
    added: list[str] = []

    def trust(line: str, port: int) -> None:
        key = line.split(None, 1)[1]
        entry = f"[127.0.0.1]:{port} {key}".rstrip("\n") + "\n"
        with known.open("a") as fh:
            fh.write(entry)
        added.append(entry)

    yield trust
    text = known.read_text()
    for entry in added:
        text = text.replace(entry, "")
    known.write_text(text)
