"""Without a git identity (no user.name/user.email anywhere), every command that makes no commit
works, as in git (`git clone` needs none); `commit`, `merge` and `pull` give one line saying how
to set it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from hangar_git import Repository
from tests import subprocesses

from ..repos import add_bare_origin
from .conftest import one_line_error

IDENTITY_VARS = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL")


def anonymous_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "anon-home"
    home.mkdir()
    env = subprocesses.python_env({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                                   "GIT_CONFIG_GLOBAL": str(home / "none"), "GIT_CONFIG_NOSYSTEM": "1"})
    for var in IDENTITY_VARS:
        env.pop(var, None)
    return env


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hangar_git", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def ok(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = run(env, cwd, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def published(tmp_path: Path) -> Path:
    """A bare origin holding master and dev, which diverged (one commit each)."""
    repo = Repository(str(tmp_path / "src"), exists=False)
    repo.init("Ann", "ann@example.com")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(3))
        col[0], col[1] = np.ones(3), np.zeros(3)
        co.commit("two samples")
    repo.create_branch("dev")
    with repo.checkout(write=True, branch="dev") as co:
        co.columns["x"][2] = np.full(3, 2.0)
        co.commit("third")
    with repo.checkout(write=True, branch="master") as co:
        co.columns["x"][3] = np.full(3, 3.0)
        co.commit("fourth, on master")
    add_bare_origin(repo, tmp_path / "origin.git")
    repo.remote.push("origin", "master")
    repo.remote.push("origin", "dev")
    return tmp_path / "origin.git"


def test_commands_that_make_no_commit_need_no_identity(tmp_path: Path) -> None:
    origin = published(tmp_path)
    env = anonymous_env(tmp_path)
    assert run(env, tmp_path, "-C", str(tmp_path), "status").returncode != 0  # (no repository here)
    assert subprocess.run(["git", "config", "user.name"], env=env, cwd=tmp_path).returncode == 1

    ok(env, tmp_path, "clone", str(origin), "work")
    work = tmp_path / "work"
    ok(env, work, "fetch", "origin", "dev")
    ok(env, work, "fetch-data", "origin")
    ok(env, work, "branch", "dev", "--base", "origin/dev")
    ok(env, work, "checkout", "dev")
    ok(env, work, "fetch-data", "origin", "dev")
    ok(env, work, "remote", "add", "second", str(origin))
    assert "second" in ok(env, work, "remote")
    assert ok(env, work, "ls").startswith("x\t")
    assert "third" in ok(env, work, "show", "dev")
    ok(env, work, "export", "x", "out")
    assert sorted(p.name for p in (work / "out").iterdir()) == ["0.npy", "1.npy", "2.npy"]
    assert "dev" in ok(env, work, "status")
    assert "third" in ok(env, work, "log")
    ok(env, work, "diff", "master", "dev")
    ok(env, work, "fsck")
    ok(env, work, "gc")
    ok(env, tmp_path, "init", "--bare", "server.git")
    ok(env, tmp_path, "init", "fresh")  # `git init` needs no identity either
    assert Repository(str(tmp_path / "fresh")).initialized


def test_commit_and_merge_without_identity_say_how_to_set_it(tmp_path: Path) -> None:
    origin = published(tmp_path)
    env = anonymous_env(tmp_path)
    ok(env, tmp_path, "clone", str(origin), "work")
    work = tmp_path / "work"
    ok(env, work, "fetch", "origin", "dev")
    np.save(tmp_path / "s.npy", np.full(3, 5.0))
    ok(env, work, "add", "x", str(tmp_path / "s.npy"))  # staging makes no commit
    before = Repository(str(work)).branch_head("master")
    for args in (("commit", "-m", "mine"), ("merge", "origin/dev")):
        line = one_line_error(run(env, work, *args), "user.name", "git config --global user.email")
        assert "identity" in line, line
    assert Repository(str(work)).branch_head("master") == before
    ok(env, work, "reset")
    # a fast-forward makes no commit, so it needs no identity (as in git)
    ok(env, work, "checkout", "-b", "behind", "--base", "master~1")
    ok(env, work, "merge", "master")
    assert Repository(str(work)).branch_head("behind") == before
    ok(env, work, "checkout", "master")
    ok(env, work, "add", "x", str(tmp_path / "s.npy"))
    # once set, committing works and records it
    subprocess.run(["git", "config", "user.name", "Bo"], cwd=work, env=env, check=True)
    subprocess.run(["git", "config", "user.email", "bo@example.com"], cwd=work, env=env, check=True)
    ok(env, work, "commit", "-m", "mine")
    info = Repository(str(work)).ctx.git.commit_info(Repository(str(work)).branch_head("master"))
    assert (info.author, info.email) == ("Bo", "bo@example.com")


def test_init_with_identity_options_still_records_it(tmp_path: Path) -> None:
    env = anonymous_env(tmp_path)
    ok(env, tmp_path, "init", "--name", "Cy", "--email", "cy@example.com", "r")
    assert Repository(str(tmp_path / "r")).ctx.user == ("Cy", "cy@example.com")


def head_author(path: Path) -> tuple[str, str]:
    repo = Repository(str(path))
    info = repo.ctx.git.commit_info(repo.branch_head("master"))
    return info.author, info.email


def commit_one(env: dict[str, str], work: Path, value: float) -> None:
    np.save(work.parent / "v.npy", np.full(3, value))
    ok(env, work, "add", "x", str(work.parent / "v.npy"))
    ok(env, work, "commit", "-m", f"value {value}")


def test_commits_take_gits_identity_of_their_time(tmp_path: Path) -> None:
    """Regression: init copied user.name/user.email into the repository, so a later change of
    git's identity (or GIT_AUTHOR_NAME) never reached a commit."""
    env = anonymous_env(tmp_path)
    work = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(work)], env=env, check=True)
    for key, value in (("user.name", "Old"), ("user.email", "old@example.com")):
        subprocess.run(["git", "config", key, value], cwd=work, env=env, check=True)
    ok(env, work, "init")
    commit_one(env, work, 1.0)
    assert head_author(work) == ("Old", "old@example.com")
    subprocess.run(["git", "config", "user.name", "New"], cwd=work, env=env, check=True)
    commit_one(env, work, 2.0)
    assert head_author(work) == ("New", "old@example.com")
    commit_one({**env, "GIT_AUTHOR_NAME": "Env", "GIT_AUTHOR_EMAIL": "env@example.com"}, work, 3.0)
    assert head_author(work) == ("Env", "env@example.com")


def test_an_identity_given_to_init_is_this_repositorys(tmp_path: Path) -> None:
    env = anonymous_env(tmp_path)
    work = tmp_path / "r"
    ok(env, tmp_path, "init", "--name", "Cy", "--email", "cy@example.com", "r")
    subprocess.run(["git", "config", "user.name", "Other"], cwd=work, env=env, check=True)
    commit_one(env, work, 1.0)
    assert head_author(work) == ("Cy", "cy@example.com")
    commit_one({**env, "GIT_AUTHOR_NAME": "Env"}, work, 2.0)
    assert head_author(work) == ("Cy", "cy@example.com")
