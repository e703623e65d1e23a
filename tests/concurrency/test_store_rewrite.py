"""The store compacts itself (a rewrite) when byte-log fragments pile up, in whatever process
flushes at that moment; another process may be writing a large object at the same time (its
file sits in tmp/ until it is moved into place). The rewrite must leave it alone."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hangar_git.storage import Meta, open_store


def test_compaction_leaves_another_writers_large_object_alone(tmp_path: Path) -> None:
    uri, lock = str(tmp_path / "store"), str(tmp_path / "store.lock")
    a, b = open_store(uri, lock_path=lock), open_store(uri, lock_path=lock)
    small = np.arange(100, dtype=np.int64)
    a.put_new(Meta("nd:<i8:100"), small)
    a.flush()
    big = np.random.default_rng(1).standard_normal(300_000)
    meta = Meta("nd:<f8:300000")
    tmp = b._files.write_tmp(meta, big)  # type: ignore[attr-defined]  # b is mid-write
    a.compact()  # type: ignore[attr-defined]
    from hangar_git.storage import digest_of
    digest = digest_of(meta, memoryview(big).cast("B"))
    b._files.publish(tmp, digest)  # type: ignore[attr-defined]
    b._pending_large[digest] = (meta, big.nbytes)  # type: ignore[attr-defined]
    b.flush()
    c = open_store(uri, lock_path=lock)
    assert np.frombuffer(c.read(digest)[1], np.float64).tobytes() == big.tobytes()
    assert len(list(c.iter_objects())) == 2
