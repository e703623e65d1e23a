"""The seed tutorial's remote workflow over a plain git host plus an S3 bucket, beside the user's code.

The first repository is a code project (a commit of ``train.py`` on git's
own ``master``, pushed to the host with plain git) in which hangar is
initialised. Its data goes on two hangar branches, pushed to the same git
host with the data in the bucket. A partial clone is made with plain ``git
clone``; ``git hangar fetch`` and ``fetch-data`` there run with nothing but
credentials in the environment (the S3 endpoint travels with the
bookkeeping). The clone merges and pushes back; the first repository
fetches and fast-forwards.
"""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import MissingDataError, Repository
from hangar_git.api.remotes import RemoteInfo

from ..remote.conftest import add_rows, assert_fsck_clean, assert_rows, dota_rows, reader
from .conftest import GitHost, bucket_digests, only_credentials_env, s3_git_config, set_git_config

TEST_ROWS = dota_rows(1200, np.uint8, seed=1)
TRAIN_ROWS = dota_rows(2400, np.uint16, seed=2)
MORE_TEST = dota_rows(100, np.uint8, seed=3)


def git(*args: Any, cwd: Path, env: Any = None) -> str:
    done = subprocess.run(["git", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"git {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def git_hangar(*args: Any, cwd: Path, env: Any) -> str:
    done = subprocess.run(["git", "hangar", *map(str, args)], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, f"git hangar {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def code_project(path: Path, address: str) -> None:
    """A user's code repository with one commit, pushed to ``address`` with plain git."""
    path.mkdir()
    git("init", "-q", cwd=path)
    (path / "train.py").write_text("print('training')\n")
    git("add", "train.py", cwd=path)
    git("commit", "-q", "-m", "code", cwd=path)
    git("remote", "add", "origin", address, cwd=path)
    git("push", "-q", "origin", "master", cwd=path)


def test_tutorial_over_a_git_host(host: GitHost, data_url: str, s3_server: Any, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    # -- 1. a code project, and data on two hangar branches in it ------------------------------
    project = tmp_path / "project"
    code_project(project, host.address)
    first = Repository(project, exists=False)
    first.init("first", "first@hangar.invalid")
    first.remote.quiet = True
    set_git_config(first, s3_git_config(s3_server))   # the S3 server named once, in git config
    master1 = add_rows(first, "master", "dota_test", TEST_ROWS, "test games")
    first.create_branch("add-train")
    train1 = add_rows(first, "add-train", "dota_train", TRAIN_ROWS, "training games")

    # -- 2. push both branches: records to the git host, data to the bucket ----------------------
    info = first.remote.add("origin", host.address, data_url=data_url)
    assert info == RemoteInfo("origin", host.address, data_url)
    assert first.remote.list_all() == [info]
    assert first.remote.push("origin", "master") == "master"
    assert first.remote.push("origin", "add-train") == "add-train"
    assert host.head("master") == master1 and host.head("add-train") == train1
    assert len(bucket_digests(data_url)) == len(TEST_ROWS) + len(TRAIN_ROWS)
    with pytest.warns(UserWarning, match="nothing to push"):                  # again: nothing to do
        assert first.remote.push("origin", "add-train") == "add-train"
    # the code's views are untouched
    assert git("status", "--porcelain", cwd=project) == ""
    assert git("branch", "--format=%(refname:short)", cwd=project).split() == ["master"]
    assert git("log", "--format=%s", "--exclude=refs/hangar/*", "--all", cwd=project).split() == ["code"]

    # -- 3. a partial clone with plain git clone; hangar fetch with only credentials -------------
    env = only_credentials_env()
    git("clone", "-q", host.address, tmp_path / "clone", cwd=tmp_path, env=env)
    clone_dir = tmp_path / "clone"
    assert (clone_dir / "train.py").read_text() == "print('training')\n"
    assert "refs/hangar" not in git("for-each-ref", cwd=clone_dir)          # git clone brings code only
    git_hangar("fetch", "origin", "master", cwd=clone_dir, env=env)
    git_hangar("fetch", "origin", "add-train", cwd=clone_dir, env=env)
    clone = Repository(clone_dir)
    clone.remote.quiet = True
    assert clone.list_branches() == ["origin/add-train", "origin/master"]
    assert clone.branch_head("origin/master") == master1
    assert sum(1 for _ in clone.ctx.store.iter_objects()) == 0
    with pytest.warns(UserWarning, match="dota_test"):
        co = clone.checkout(branch="origin/master")
    with co:
        with pytest.raises(MissingDataError, match="fetch-data"):
            co["dota_test"][7]

    # -- 4. fetch-data of master (with only credentials), reads equal the originals -------------
    git_hangar("fetch-data", "origin", "master", cwd=clone_dir, env=env)
    assert sum(1 for _ in clone.ctx.store.iter_objects()) == len(TEST_ROWS)
    with reader(clone, branch="origin/master") as co:
        assert co["dota_test"].contains_remote_references is False
        assert_rows(co, "dota_test", TEST_ROWS)

    # -- 5. merge origin/add-train on the partial clone (its data stays remote), push it --------
    clone.create_branch("master", base_commit=master1)
    more = add_rows(clone, "master", "dota_test", MORE_TEST, "more test games", start=len(TEST_ROWS))
    capsys.readouterr()
    merged = clone.merge("merge in the training games", "master", "origin/add-train")
    assert "3-Way" in capsys.readouterr().out
    assert clone.remote.push("origin", "master") == "master"
    assert host.head("master") == merged
    assert len(bucket_digests(data_url)) == len(TEST_ROWS) + len(TRAIN_ROWS) + len(MORE_TEST)

    # -- 6. the first repository fetches and fast-forwards ---------------------------------------
    assert first.remote.fetch("origin", "master") == "origin/master"
    capsys.readouterr()
    assert first.merge("take the clone's merge", "master", "origin/master") == merged
    assert "Fast-Forward" in capsys.readouterr().out
    contents = first.log(branch="master", return_contents=True)
    assert contents is not None and set(contents["order"]) == {merged, more, train1, master1}
    assert first.remote.fetch_data("origin", "master") == [merged]
    with reader(first, branch="master") as co:
        assert co.columns.contains_remote_references == {"dota_test": False, "dota_train": False}
        assert_rows(co, "dota_test", np.concatenate([TEST_ROWS, MORE_TEST]))
        assert_rows(co, "dota_train", TRAIN_ROWS)

    # -- 7. git and hangar are happy everywhere; the bucket holds every branch's data ------------
    for path in (host.path, project, clone_dir):
        assert_fsck_clean(path)
    report = first.fsck(remote="origin")
    assert report.ok, str(report)
    assert report.samples == len(TEST_ROWS) + len(TRAIN_ROWS) + len(MORE_TEST)


def test_repo_clone_of_a_git_host(git_host: Callable[[str], GitHost], data_url: str,
                                  make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    """``repo.clone`` of a git host: origin becomes a git host remote with the published data URL."""
    host = git_host("path")
    first = make_repo("first")
    head = add_rows(first, "master", "dota_test", TEST_ROWS[:50], "test games")
    first.remote.add("origin", host.address, data_url=data_url)
    first.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    assert clone.clone("c", "c@x", host.address) == "master"
    assert clone.remote.list_all() == [RemoteInfo("origin", host.address, data_url)]
    assert clone.branch_head("master") == head
    assert clone.remote.list_remote_branches("origin") == {"master": head}
    assert 0 < clone.remote.ping("origin") < 30                       # one `git ls-remote`
    clone.remote.quiet = True
    assert clone.remote.fetch_data("origin", "master") == [head]
    with reader(clone) as co:
        assert_rows(co, "dota_test", TEST_ROWS[:50])
