"""A locations file looks each digest up once in a catalog of every pack's prefixes: it must
give what looking it up pack by pack gives, with a digest held by two packs (the newest copy
decides), two digests sharing their 8-byte prefix, repeated and absent digests."""
from __future__ import annotations

import os
from typing import Callable, Iterator

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.storage import rawreads
from hangar_git.storage.packs import SmallObjects

META = "nd:|u1:64"


def _pack(store: object, raws: list[bytes], blobs: list[bytes]) -> None:
    small = SmallObjects(np.array(raws, dtype="S32"), np.zeros(len(raws), np.int64), [META],
                         np.array([len(b) for b in blobs], np.int64), b"".join(blobs))
    store.write_pack(small, [])  # type: ignore[attr-defined]


def _by_pack(store: object, raws: np.ndarray, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The locations file when every digest is searched pack by pack (the catalog finds none)."""
    def nothing(self: object, raws: np.ndarray) -> Iterator[tuple]:
        return iter(())
    with monkeypatch.context() as m:
        m.setattr(rawreads._Catalog, "hits", nothing)
        m.setattr(rawreads._Catalog, "__init__", lambda self, packs: self.__dict__.update(collided=True, packs=packs))
        return b"".join(store.locations_of(raws) or [])  # type: ignore[attr-defined]


@pytest.mark.parametrize("block", [1, 3, 1 << 17])
def test_catalog_locations_equal_pack_by_pack(make_repo: Callable[[str], Repository],
                                              monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(rawreads, "LOCATIONS_BLOCK", block)
    store = make_repo("r").ctx.store
    blob: Callable[[], bytes] = lambda: os.urandom(64)  # incompressible: chunks stored plain, so located
    shared = os.urandom(32)                      # in both packs: the newer one's copy counts
    twin_a = b"\x07" * 8 + os.urandom(24)        # two digests, one 8-byte prefix
    twin_b = b"\x07" * 8 + os.urandom(24)
    alone = [os.urandom(32) for _ in range(5)]
    _pack(store, [shared, twin_a] + alone[:2], [blob() for _ in range(4)])
    _pack(store, [twin_b] + alone[2:], [blob() for _ in range(4)])
    _pack(store, [shared], [blob()])
    absent = os.urandom(32)
    raws = np.array([twin_b, shared, twin_a, absent, *alone, shared, twin_a], dtype="S32")
    got = b"".join(store.locations_of(raws) or [])
    assert got == _by_pack(store, raws, monkeypatch)
    from hangar_git.storage import locations as loc
    recs = np.frombuffer(got[loc.HEAD:loc.HEAD + 16 * len(raws)], dtype=loc._DTYPE)
    assert recs["file"][3] == loc.NOWHERE and (np.delete(recs["file"], 3) != loc.NOWHERE).all()
    newest = store.locations_of(np.array([shared], dtype="S32"))
    files = __import__("json").loads(bytes(newest[-1]))["files"]  # type: ignore[index]
    holding = [p.name for p in store._packs if p.find(shared) >= 0]  # the store's order: newest last
    assert len(holding) == 2 and files == holding[-1:]


def test_catalog_without_shared_prefixes_equals_pack_by_pack(make_repo: Callable[[str], Repository],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """No two entries share a prefix (the usual store): matched prefixes are taken without
    reading the digests, and give what the pack-by-pack look-up gives; absent digests stay
    without a location."""
    monkeypatch.setattr(rawreads, "LOCATIONS_BLOCK", 4)
    store = make_repo("r").ctx.store
    digests = [os.urandom(32) for _ in range(9)]
    _pack(store, digests[:4], [os.urandom(64) for _ in range(4)])
    _pack(store, digests[4:], [os.urandom(64) for _ in range(5)])
    raws = np.array([digests[8], os.urandom(32), *digests[:8], digests[0]], dtype="S32")
    got = b"".join(store.locations_of(raws) or [])
    assert got == _by_pack(store, raws, monkeypatch)
    from hangar_git.storage import locations as loc
    recs = np.frombuffer(got[loc.HEAD:loc.HEAD + 16 * len(raws)], dtype=loc._DTYPE)
    assert recs["file"][1] == loc.NOWHERE and (np.delete(recs["file"], 1) != loc.NOWHERE).all()
