"""Backends of the store contract suite, and the objects it stores.

``backend`` is parametrised over every store we have: a local folder, an S3
prefix on the session's ``rclone serve s3`` (tests/s3.py) and the in-memory
store. A :class:`Backend` opens more store objects on the same location
(``open()``), names it for other processes (``uri``) and can damage a stored
object's bytes on disk, wherever the store keeps them (``corrupt()``).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, MutableMapping, Optional

import numpy as np
import pytest

from hangar_git.storage import Digest, Meta, ObjectBatch, ObjectStore, digest_of, digests_to_raw, open_store
from hangar_git.storage.memory import MemoryStore
from hangar_git.storage.writes import LARGE_THRESHOLD
from hangar_git.transport.wire import PART_BYTES

from tests import subprocesses
from tests.s3 import S3Server

BACKENDS = ("local", "s3", "memory")


def _edges() -> dict[str, int]:
    named = {"0": 0, "1": 1}
    for name, edge in (("large", LARGE_THRESHOLD), ("part", PART_BYTES)):
        named.update({f"{name}-1": edge - 1, name: edge, f"{name}+1": edge + 1})
    ids: dict[int, list[str]] = {}
    for name, size in named.items():
        ids.setdefault(size, []).append(name)
    return {"=".join(names): size for size, names in ids.items()}


EDGES = _edges()
"""Every size class of an object and its edges: large tier, wire part (id -> size;
thresholds that coincide share one case)."""

Item = tuple[Digest, Meta, bytes]


@dataclass
class Backend:
    """One kind of store under test, at a fresh location."""

    name: str
    opener: Callable[[], ObjectStore]
    uri: Optional[str] = None
    """What another process opens (None: the store lives in this process only)."""
    root: Optional[Path] = None
    """Where the store's bytes are on this machine's disk (None: in memory)."""
    memory: Optional[MutableMapping[Digest, tuple[Meta, bytes]]] = None
    opened: list[ObjectStore] = field(default_factory=list)

    def open(self) -> ObjectStore:
        """Another store object on the same location."""
        store = self.opener()
        self.opened.append(store)
        return store

    def files(self) -> dict[str, int]:
        """Every file the store keeps (relative path -> size); empty in memory."""
        if self.root is None:
            return {}
        return {str(p.relative_to(self.root)): p.stat().st_size for p in self.root.rglob("*") if p.is_file()}

    def corrupt(self, data: bytes) -> None:
        """Flip one byte of the stored copy of ``data`` (which must be incompressible)."""
        if self.memory is not None:
            for digest, (meta, stored) in list(self.memory.items()):
                if stored == data:
                    self.memory[digest] = (meta, flip(stored, len(stored) // 2))
                    return
            raise AssertionError("object not in the memory store")
        assert self.root is not None
        probe = data[len(data) // 2:len(data) // 2 + 32] if len(data) >= 32 else data
        for path in sorted(self.root.rglob("*")):
            blob = path.read_bytes() if path.is_file() else b""
            at = blob.find(probe)
            if at >= 0 and blob.find(probe, at + 1) < 0:
                path.write_bytes(flip(blob, at + len(probe) // 2))
                return
        raise AssertionError(f"no file under {self.root} holds the object's bytes verbatim")


def flip(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0xFF]) + blob[at + 1:]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh, empty store of each kind (stores it opened are closed afterwards)."""
    if request.param == "memory":
        objects: dict[Digest, tuple[Meta, bytes]] = {}
        made = Backend("memory", lambda: MemoryStore(objects), memory=objects)
    elif request.param == "local":
        uri = str(tmp_path / "store")
        made = Backend("local", lambda: open_store(uri), uri=uri, root=tmp_path / "store")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        uri = server.new_uri()
        made = Backend("s3", lambda: open_store(uri), uri=uri, root=server.local_path(uri))
    if made.uri is not None:
        open_store(made.uri, create=True).close()
    yield made
    for store in made.opened:
        store.close()


@pytest.fixture
def store(backend: Backend) -> ObjectStore:
    return backend.open()


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` incompressible bytes (the same for the same seed)."""
    return np.random.default_rng(seed).bytes(size)


def item(data: bytes, meta: str = "bytes") -> Item:
    return digest_of(meta, data), Meta(meta), data


@functools.lru_cache(maxsize=None)
def zero_tail(size: int, zeros: int, meta: str = "bytes") -> bytes:
    """Bytes of ``size`` whose digest's raw form ends in ``zeros`` zero bytes, found by search
    (whatever the digest algorithm is)."""
    base = bytearray(payload(size, seed=size + zeros))
    for n in range(1 << 24):
        base[-4:] = n.to_bytes(4, "little")
        if digest_of(meta, base).endswith("00" * zeros):
            return bytes(base)
    raise AssertionError(f"no digest ending in {zeros} zero byte(s) within 2**24 tries")


def batch_of(items: list[Item]) -> ObjectBatch:
    """Objects as one received batch (a data frame's shape)."""
    metas = list(dict.fromkeys(m for _, m, _ in items))
    return ObjectBatch(digests_to_raw([d for d, _, _ in items]), [str(m) for m in metas],
                       np.array([metas.index(m) for _, m, _ in items], dtype=np.int64),
                       np.array([len(b) for _, _, b in items], dtype=np.int64),
                       memoryview(b"".join(b for _, _, b in items)))


def python_env() -> dict[str, str]:
    """Environment of another process using the store (the S3 settings included)."""
    return subprocesses.python_env(strict_warnings=True)
