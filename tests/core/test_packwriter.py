"""Received git objects written as one pack: git and libgit2 read it, fsck accepts it."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pygit2
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping import packwriter
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.bookkeeping.packwriter import PACK_MIN, write_pack
from hangar_git.bookkeeping.transfer import objects_to_send, read_raw, write_raw


def _history(repo: Repository) -> list[tuple[str, int, bytes]]:
    """Every object of a small history (commits, trees, shards, schemas), as a peer sends them."""
    for step in range(6):
        with repo.checkout(write=True) as co:
            col = co.columns["rows"] if "rows" in co.columns else co.add_ndarray_column(
                "rows", prototype=np.zeros(3, np.uint8))
            col.update({i: np.full(3, (i + step) % 256, np.uint8) for i in range(step * 2000, step * 2000 + 3000)})
            co.metadata["step"] = str(step)
            co.commit(f"step {step}")
    git = repo.ctx.git
    todo = objects_to_send(git, [git.get_ref("refs/hangar/heads/master")], [])
    out = []
    for oid, _ in todo:
        kind, data = read_raw(git, oid)
        out.append((oid, kind, data))
    return out


@pytest.fixture
def objects(repo: Any) -> list[tuple[str, int, bytes]]:
    return _history(repo)


@pytest.mark.parametrize("level", [packwriter.LOOSE_COMPRESSION, packwriter.RECEIVED_COMPRESSION])
@pytest.mark.parametrize("how", ["one thread", "threads", "given"])
def test_a_written_pack_is_read_by_git_and_libgit2(objects, tmp_path: Path, level: int, how: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """At the level of a commit's own shards and at the (stored, uncompressed) level of
    received objects; compressed on one thread, on several, or by the caller."""
    assert len(objects) >= PACK_MIN
    if how == "threads":
        monkeypatch.setattr(packwriter, "PARALLEL_BYTES", 1)
    packed = packwriter.compress_all([o[2] for o in objects], level) if how == "given" else None
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    base = write_pack(dest.git_dir, objects, level=level, packed=packed)
    verify = subprocess.run(["git", "verify-pack", "-v", base + ".idx"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert f"non delta: {len(objects)} objects" in verify.stdout
    for oid, kind, data in objects:
        assert dest.has_object(oid)
        assert dest._repo.odb.read(pygit2.Oid(hex=oid)) == (kind, data)
    head = objects[-1][0] if objects[-1][1] == pygit2.enums.ObjectType.COMMIT else next(
        o for o, k, _ in objects if k == pygit2.enums.ObjectType.COMMIT)
    dest.set_ref("refs/hangar/heads/master", head)
    fsck = subprocess.run(["git", "--git-dir", dest.git_dir, "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert not [f for f in os.listdir(os.path.join(dest.git_dir, "objects", "pack")) if ".tmp-" in f]


def test_received_objects_become_a_pack_only_in_bulk(objects, tmp_path: Path) -> None:
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    pack_dir = Path(dest.git_dir) / "objects" / "pack"
    assert len(objects) >= PACK_MIN + 10
    write_raw(dest, objects[:10])                      # a few: loose objects
    assert not list(pack_dir.glob("*.idx"))
    write_raw(dest, objects)                           # the rest, in bulk: one pack of only the new ones
    idx = list(pack_dir.glob("*.idx"))
    assert len(idx) == 1
    listed = subprocess.run(["git", "show-index"], input=idx[0].read_bytes(), capture_output=True)
    assert len(listed.stdout.splitlines()) == len(objects) - 10
    write_raw(dest, objects)                           # all present: nothing written
    assert len(list(pack_dir.glob("*.idx"))) == 1
    assert all(dest.has_object(o) for o, _, _ in objects)


def test_many_packs_are_merged_in_the_background(objects, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packwriter, "PACKS_BEFORE_GC", 2)
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    pack_dir = Path(dest.git_dir) / "objects" / "pack"
    thirds = [objects[i::3] for i in range(3)]
    for part in thirds[:2]:
        write_pack(dest.git_dir, part)
    assert len(list(pack_dir.glob("*.idx"))) == 2           # not past the limit yet
    write_pack(dest.git_dir, thirds[2])                      # the third starts a repack
    deadline = time.monotonic() + 30
    while len(list(pack_dir.glob("*.idx"))) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(pack_dir.glob("*.idx"))) == 1
    assert all(dest.has_object(o) for o, _, _ in objects)  # no ref names them: kept all the same
    for proc in packwriter._repacks:
        proc.wait(30)
