"""A rewrite (gc, compaction) in one process while another writes a large object (its file
sits in tmp/ until it is moved into place, then is indexed): the rewrite must leave it alone,
even with no grace period for tmp files younger than the orphan age."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hangar_git.storage import Meta, open_store


def test_compaction_leaves_another_writers_large_object_alone(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    a, b = open_store(uri, create=True), open_store(uri)
    small = np.arange(100, dtype=np.int64)
    a.put_new(Meta("nd:<i8:100"), small)
    a.flush()
    big = np.random.default_rng(1).standard_normal(300_000)
    meta = Meta("nd:<f8:300000")
    tmp = b._files.write_tmp(meta, big)  # type: ignore[attr-defined]  # b is mid-write
    a.compact()  # type: ignore[attr-defined]
    a.rewrite(lambda d: True, grace_seconds=0.0, force=True)  # type: ignore[attr-defined]
    from hangar_git.storage import digest_of
    digest = digest_of(meta, memoryview(big).cast("B"))
    b._files.publish(tmp, digest)  # type: ignore[attr-defined]
    b._pending_large[digest] = (meta, big.nbytes)  # type: ignore[attr-defined]
    b.flush()
    c = open_store(uri)
    assert np.frombuffer(c.read(digest)[1], np.float64).tobytes() == big.tobytes()
    assert len(list(c.iter_objects())) == 2
