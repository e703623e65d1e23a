"""What bounds a server's memory under many clients (issue 15, "Load": 16 concurrent clients
drove the server's peak RSS to 2.56 GB).

Regressions: an ``objects`` frame held up to 8,192 git objects whatever their size (a clone
of a million-sample column got its ~75 MB of shard blobs in one frame, held whole at both
ends, and twice while it was joined); every connection decoded its own copy of the store's
pack indexes (~60 MB per million objects).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.bookkeeping.transfer import BLOB
from hangar_git.storage import open_store
from hangar_git.transport.datastream import receive_objects, send_objects
from hangar_git.transport.wire import BATCH_BYTES

from .conftest import init_bare

BLOB_BYTES = 512 << 10


class _Frames:
    def __init__(self) -> None:
        self.frames: list[tuple[str, dict, int, list]] = []

    def send(self, kind: str, header: dict, payload: Any = b"") -> None:
        parts = payload if isinstance(payload, list) else [payload]
        self.frames.append((kind, header, sum(len(p) for p in parts), parts))


def test_objects_frames_are_bounded_by_bytes(tmp_path: Path) -> None:
    git = GitRepo.discover(str(init_bare(tmp_path / "a.git")))
    assert git is not None
    todo = [(git.write_blob(os.urandom(BLOB_BYTES)), BLOB) for _ in range(3 * BATCH_BYTES // BLOB_BYTES)]
    out = _Frames()
    send_objects(git, out, todo)
    assert len(out.frames) >= 3, [n for _, _, n, _ in out.frames]
    assert max(n for _, _, n, _ in out.frames) <= BATCH_BYTES + BLOB_BYTES
    assert [o for _, header, _, _ in out.frames for o in header["oids"]] == [o for o, _ in todo]
    other = GitRepo.discover(str(init_bare(tmp_path / "b.git")))
    assert other is not None
    from hangar_git.transport.framing import Frame
    for kind, header, _, parts in out.frames:
        receive_objects(other, Frame(kind, header, b"".join(parts)))
    assert all(other.read_blob(o) == git.read_blob(o) for o, _ in todo)


def test_open_stores_of_one_location_share_its_pack_indexes(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "r", exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(8, np.uint8))
        col.update({i: np.full(8, i % 256, np.uint8) for i in range(1000)})
        co.commit("rows")
    uri = repo.ctx.store_uri
    first, second = open_store(uri), open_store(uri)
    try:
        raws = np.zeros(1, dtype="S32")
        first.absent(raws), second.absent(raws)  # loads the indexes
        assert first._packs and all(a is b for a, b in zip(first._packs, second._packs))  # type: ignore[attr-defined]
    finally:
        first.close()
        second.close()
