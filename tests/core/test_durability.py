"""``git config hangar.fsync true``: large-object files and received packs are fsynced before they
are published; without it they are not (git's own default), and either way data round-trips."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pygit2
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.bookkeeping.packwriter import write_pack
from hangar_git.bookkeeping.transfer import objects_to_send, read_raw


@pytest.fixture(autouse=True)
def _libgit2_fsync_off_afterwards() -> Any:
    yield
    pygit2.settings.enable_fsync_gitdir(False)  # a durable repository turns it on process-wide


def _fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd) or real(fd))
    return calls


@pytest.mark.parametrize("durable", [True, False], ids=["fsync", "default"])
def test_large_objects_are_fsynced_only_when_asked(tmp_path: Path, durable: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    repo = Repository(tmp_path / "repo", exists=False)
    repo.init("t", "t@x")
    if durable:
        subprocess.run(["git", "-C", str(tmp_path / "repo"), "config", "hangar.fsync", "true"], check=True)
    repo = Repository(tmp_path / "repo")  # a new handle reads the setting
    assert repo.ctx.git.durable is durable
    calls = _fsyncs(monkeypatch)
    arrays = [np.random.default_rng(i).random((512, 1024), dtype=np.float32) for i in range(3)]  # 2 MiB each
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("big", prototype=arrays[0]).update(dict(enumerate(arrays)))
        co.commit("large")
    assert (len(calls) >= 2 * len(arrays)) if durable else not calls  # each file, and its folder
    with Repository(tmp_path / "repo").checkout() as co:
        assert all((co["big", i] == a).all() for i, a in enumerate(arrays))


def _streamed(git_dir: str, objects: list, durable: bool) -> None:
    """A pack received as a push's frames arrive (PackStream)."""
    from hangar_git.bookkeeping.packstream import PackStream
    from hangar_git.bookkeeping.packwriter import RECEIVED_COMPRESSION
    with PackStream(git_dir, len(objects), RECEIVED_COMPRESSION, durable=durable) as pack:
        pack.add(objects)
        pack.finish()


@pytest.mark.parametrize("durable", [True, False], ids=["fsync", "default"])
@pytest.mark.parametrize("write", [write_pack, _streamed], ids=["whole", "as-it-arrives"])
def test_received_packs_are_fsynced_only_when_asked(repo: Any, tmp_path: Path, durable: bool, write: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """(A pack received as it arrives synced its folder a second time: four fsyncs.)"""
    with repo.checkout(write=True) as co:
        co.add_str_column("text").update({i: f"t{i}" for i in range(2000)})
        co.commit("text")
    git = repo.ctx.git
    objects = [(oid, *read_raw(git, oid)) for oid, _ in
               objects_to_send(git, [git.get_ref("refs/hangar/heads/master")], [])]
    dest = GitRepo.init(str(tmp_path / "dest.git"), bare=True)
    calls = _fsyncs(monkeypatch)
    write(dest.git_dir, objects, durable=durable)
    assert len(calls) == (3 if durable else 0)  # the pack, its index, their folder
    assert all(dest.has_object(oid) for oid, _, _ in objects)
