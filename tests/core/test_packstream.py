"""A push's objects packed as they arrive: one pack however many frames, git reads it and
fsck accepts it; a wrong announced count, repeats and failures."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pygit2
import pytest

from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.bookkeeping.packstream import PackStream
from hangar_git.bookkeeping.packwriter import RECEIVED_COMPRESSION

from .test_packwriter import _history

Obj = tuple[str, int, bytes]


@pytest.fixture
def objects(repo: Any) -> list[Obj]:
    """Every object of a small history, as a peer sends them."""
    return _history(repo)


def _frames(objs: list[Obj], size: int) -> list[list[Obj]]:
    return [objs[i:i + size] for i in range(0, len(objs), size)]


def _stream(git_dir: str, announced: int, frames: list[list[Obj]]) -> str | None:
    with PackStream(git_dir, announced, RECEIVED_COMPRESSION) as pack:
        for frame in frames:
            pack.add(frame)
        return pack.finish()


def _packs(dest: GitRepo) -> list[str]:
    return sorted(f for f in os.listdir(os.path.join(dest.git_dir, "objects", "pack")))


def _check(dest: GitRepo, base: str | None, objs: list[Obj]) -> None:
    assert base is not None
    verify = subprocess.run(["git", "verify-pack", "-v", base + ".idx"], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert f"non delta: {len(dict((o[0], o) for o in objs))} objects" in verify.stdout
    reopened = GitRepo(pygit2.Repository(dest.git_dir))
    for oid, kind, data in objs:
        assert reopened._repo.odb.read(pygit2.Oid(hex=oid)) == (kind, data)
    assert [p.rsplit(".", 1)[1] for p in _packs(dest)] == ["idx", "pack"]  # one pack, no temp file


@pytest.mark.parametrize("size", [1, 7, 10_000])
def test_objects_of_many_frames_become_one_pack(objects: list[Obj], tmp_path: Path, size: int) -> None:
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    _check(dest, _stream(dest.git_dir, len(objects), _frames(objects, size)), objects)


@pytest.mark.parametrize("announced", [-1, 0, +1])
def test_a_wrong_count_still_makes_a_valid_pack(objects: list[Obj], tmp_path: Path, announced: int) -> None:
    """The header says what arrived, not what the peer announced (one fewer, one more)."""
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    _check(dest, _stream(dest.git_dir, len(objects) + announced, _frames(objects, 50)), objects)


def test_an_object_sent_twice_is_packed_once(objects: list[Obj], tmp_path: Path) -> None:
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    twice = objects + objects[:5]
    _check(dest, _stream(dest.git_dir, len(twice), _frames(twice, 40)), objects)


def test_nothing_arrived_nothing_kept(tmp_path: Path) -> None:
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    assert _stream(dest.git_dir, 100, []) is None
    assert _packs(dest) == []


def test_a_failure_midway_leaves_nothing(objects: list[Obj], tmp_path: Path) -> None:
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    with pytest.raises(RuntimeError):
        with PackStream(dest.git_dir, len(objects), RECEIVED_COMPRESSION) as pack:
            pack.add(objects[:50])
            raise RuntimeError("the connection dropped")
    assert _packs(dest) == []
    assert not dest.has_object(objects[0][0])


def test_a_push_in_many_frames_leaves_one_pack_on_the_server(make_repo, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (issue 15, ref-update phase): the server packed each objects frame on its own
    once all of it had arrived, so a push's last (8 MB) frame was packed while the client
    waited for its ref update; small frames would have made a pack each."""
    import numpy as np

    from hangar_git.transport import push as push_module
    from hangar_git.transport.connect import open_local_session_in_process
    from hangar_git.transport.service import RepositoryService
    from tests.remote.conftest import init_bare
    monkeypatch.setattr(push_module, "PUSH_OBJECTS_BYTES", 4096)
    local = make_repo("local")
    server = init_bare(tmp_path / "server.git")
    pack_dir = server / "objects" / "pack"
    for step in range(2):
        with local.checkout(write=True) as co:
            col = co.columns["x"] if "x" in co.columns else co.add_ndarray_column("x", prototype=np.zeros(4, np.uint8))
            col.update({step * 30000 + i: np.full(4, i % 251, np.uint8) for i in range(30000)})
            head = co.commit(f"step {step}")
        before = set(pack_dir.glob("*.idx")) if pack_dir.exists() else set()
        with open_local_session_in_process(RepositoryService(str(server))) as session:
            frames = []
            original = session.send

            def send(kind: str, *args: object, **kwargs: object) -> object:
                frames.append(kind)
                return original(kind, *args, **kwargs)
            session.send = send  # type: ignore[method-assign]
            result = push_module.push(local.ctx.git, local.ctx.store, session, "origin", "master", quiet=True)
        assert result.new == head and frames.count("objects") > 3, frames.count("objects")
        assert len(set(pack_dir.glob("*.idx")) - before) == 1
        assert not [p for p in pack_dir.iterdir() if p.name.startswith(".")]
    fsck = subprocess.run(["git", "--git-dir", str(server), "fsck", "--strict"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
