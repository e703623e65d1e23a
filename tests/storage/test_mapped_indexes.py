"""Pack indexes a write makes are kept as their mapped files once written (small ones as
they are), with the prefixes computed from the arrays; their read pages can be given back,
and look-ups and reads then work as before."""
from __future__ import annotations

import mmap
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.storage import ndarray_meta
from hangar_git.storage.files import MAP_MIN
from hangar_git.storage.packindex import digest_prefixes


def _mapped(pack: object) -> bool:
    base = pack.digests.base  # type: ignore[attr-defined]
    return isinstance(getattr(base, "obj", base), mmap.mmap)


@pytest.mark.parametrize("rows", [100, 40_000])
def test_written_indexes_are_mapped_and_read_back(make_repo: Callable[[str], Repository], rows: int) -> None:
    store = make_repo("r").ctx.store
    data = np.random.default_rng(rows).integers(0, 255, (rows, 16), dtype=np.uint8)
    meta = ndarray_meta(np.dtype(np.uint8), (16,))
    raws = store.put_rows(meta, data)
    (pack,) = store._packs
    big = rows * (32 + 8) >= MAP_MIN
    assert _mapped(pack) is big
    assert np.array_equal(pack.prefixes, digest_prefixes(pack.digests))
    for release in (False, True):
        if release:
            store.release_pages()
        for i in (0, rows // 2, rows - 1):
            got_meta, got = store.read_raw(bytes(raws[i]).ljust(32, b"\0"))
            assert got_meta == meta and bytes(got) == data[i].tobytes()
        assert not store.absent(raws).any()
