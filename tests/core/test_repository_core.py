"""The repository core (hangar_git/core): finding a repository, the staging area and its
compare-and-swap commit, the writer lock, config keys. The API's tests cover them through
checkouts; these name the core's own contracts."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo, branch_ref
from hangar_git.core import layout, locate
from hangar_git.core.staging import StagingArea
from hangar_git.core.writerlock import WriterLock
from hangar_git.errors import (DirtyStagingError, NotInitializedError, RefMovedError, WriterLockError)


def _commit(repo: Repository, branch: str, key: int) -> str:
    with repo.checkout(write=True, branch=branch) as co:
        col = co.columns["x"] if "x" in co else co.add_ndarray_column("x", prototype=np.zeros(2))
        col[key] = np.full(2, key, np.float64)
        return co.commit(f"{branch} {key}")


# -- finding the repository ----------------------------------------------------------------
def test_found_from_any_subdirectory_and_exactly_at_its_top(repo: Repository) -> None:
    deep = Path(repo.path) / "a" / "b"
    deep.mkdir(parents=True)
    found = locate.find(str(deep))
    assert found is not None and found.git_dir == repo.ctx.git.git_dir
    assert Repository(str(deep)).ctx.git.git_dir == repo.ctx.git.git_dir
    assert locate.at(str(deep)) is None                    # a server names the repository exactly
    assert locate.at(repo.path) is not None and locate.at(repo.ctx.git.git_dir) is not None


def test_a_git_repository_without_hangar_is_named_in_the_error(tmp_path: Path) -> None:
    GitRepo.init(str(tmp_path / "plain"))
    (tmp_path / "plain" / "sub").mkdir()
    assert locate.find(str(tmp_path / "plain" / "sub")) is None
    with pytest.raises(NotInitializedError, match=f"no hangar repository at '{tmp_path / 'plain'}'"):
        locate.require(str(tmp_path / "plain" / "sub"))
    with pytest.raises(NotInitializedError, match=str(tmp_path / "nowhere")):
        locate.require(str(tmp_path / "nowhere"))


# -- the staging area -----------------------------------------------------------------------
def test_commit_is_a_compare_and_swap_on_the_branch(repo: Repository) -> None:
    first = _commit(repo, "master", 0)
    second = _commit(repo, "master", 1)
    git = repo.ctx.git
    co = repo.checkout(write=True)
    co["x"][2] = np.zeros(2)
    git.set_ref(branch_ref("master"), first)               # the branch moves behind the writer's back
    with pytest.raises(RefMovedError, match="moved while this checkout was open; nothing was committed"):
        co.commit("lost race")
    assert git.get_ref(branch_ref("master")) == first      # left where the other mover put it
    co.close()
    assert second != first


def test_a_staging_area_belongs_to_one_branch(repo: Repository) -> None:
    _commit(repo, "master", 0)
    repo.create_branch("dev")
    with repo.checkout(write=True, branch="master") as co:
        co["x"][5] = np.ones(2)
    area = StagingArea(repo.ctx.git)
    assert area.of("master").changed and not area.of("dev").changed
    with pytest.raises(DirtyStagingError, match="branch: master"):
        area.open("dev")
    before = area.ref()
    area.drop()
    assert area.ref() is None and not area.of("master").changed
    area.restore(before)
    assert area.of("master").changed


def test_a_clean_staging_area_of_another_branch_is_dropped(repo: Repository) -> None:
    _commit(repo, "master", 0)
    repo.create_branch("dev")
    with repo.checkout(write=True, branch="master"):
        pass                                              # flushes an empty staging area
    area = StagingArea(repo.ctx.git)
    staged = area.open("dev")
    assert not staged.changed and area.ref() is None


# -- the writer lock ---------------------------------------------------------------------------
def test_writer_lock(repo: Repository) -> None:
    git = repo.ctx.git
    mine, other = WriterLock(git), WriterLock(git)
    assert mine.path == os.path.join(git.git_dir, "hangar", "writer.lock") and not mine.held
    with mine:
        assert other.held and f"pid {os.getpid()}" in (other.holder() or "")
        with pytest.raises(WriterLockError, match=r"busy: pid \d+") as info:
            other.acquire("busy: {holder}")
        assert info.value.holder == mine.holder()
        with pytest.raises(PermissionError):
            other.check_free()
        with pytest.raises(WriterLockError):
            repo.checkout(write=True)
    assert not other.held
    other.acquire()
    assert other.force_release() and not other.held and not other.force_release()


# -- config keys ---------------------------------------------------------------------------
def test_config_keys_have_one_spelling(repo: Repository) -> None:
    git = repo.ctx.git
    repo.remote.add("origin", "/nowhere/a")
    repo.remote.add("backup", "ssh://h/b")
    assert layout.remote_urls(git) == {"origin": "/nowhere/a", "backup": "ssh://h/b"}
    assert git.config_get(layout.remote_key("origin")) == "/nowhere/a"
    assert layout.remote_s3_key("origin", "endpoint") == "hangar-remote.origin.s3endpoint"
    assert layout.command_key("origin") == "remote.origin.hangarcommand"
    assert layout.default_branch(git) == "master" and git.config_get(layout.STORE_KEY)
    ident: Any = layout.repository_id(git)
    assert ident == git.config_get(layout.ID_KEY) == layout.repository_id(git)
