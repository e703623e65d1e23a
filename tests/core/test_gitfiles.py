"""Refs and config read from a repository's files (core/gitfiles.py) say what libgit2 says:
loose, packed, symbolic and nested refs, refs packed or moved while being read, and git's
config syntax; what the readers do not handle sends the caller to libgit2 (NotPlain)."""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pygit2
import pytest

from hangar_git.bookkeeping.gitrepo import HEADS, GitRepo
from hangar_git.core.gitfiles import NotPlain, RepoFiles, parse_config
from hangar_git.transport.service import RepositoryService
from tests.remote.conftest import init_bare


def _git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(git_dir), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def served(make_repo, tmp_path: Path) -> tuple[Path, list[str]]:
    """A bare hangar repository with commits to point branches at."""
    import numpy as np
    local = make_repo("local")
    commits = []
    for i in range(3):
        with local.checkout(write=True) as co:
            col = co.columns["x"] if "x" in co.columns else co.add_ndarray_column("x", prototype=np.zeros(2, np.uint8))
            col[i] = np.full(2, i, np.uint8)
            commits.append(co.commit(f"c{i}"))
    server = init_bare(tmp_path / "served.git")
    local.remote.add("origin", str(server))
    local.remote.push("origin", "master")
    return server, commits


def _libgit2_heads(server: Path) -> dict[str, str]:
    return GitRepo(pygit2.Repository(str(server))).list_refs(HEADS)


def test_loose_packed_symbolic_and_nested_refs(served: tuple[Path, list[str]]) -> None:
    server, (c0, c1, c2) = served
    _git(server, "update-ref", "refs/hangar/heads/packed", c0)
    _git(server, "update-ref", "refs/hangar/heads/team/nested", c1)
    _git(server, "pack-refs", "--all")                                    # packed-refs only
    _git(server, "update-ref", "refs/hangar/heads/packed", c2)            # loose, overriding the packed one
    _git(server, "update-ref", "refs/hangar/heads/loose", c1)
    _git(server, "symbolic-ref", "refs/hangar/heads/alias", "refs/hangar/heads/loose")
    _git(server, "update-ref", "refs/hangar/remotes/origin/master", c0)   # not a head
    _git(server, "update-ref", "-d", "refs/hangar/heads/team/nested")     # deleted from packed-refs
    files = RepoFiles.at(str(server))
    assert files is not None
    heads = files.list_refs(HEADS)
    assert heads == _libgit2_heads(server)
    assert heads == {"master": c2, "packed": c2, "loose": c1}


def test_a_ref_packed_or_moved_while_listed_is_never_lost(served: tuple[Path, list[str]]) -> None:
    """git pack-refs and ref updates running against the readers: every listing holds master
    (at one of the commits it is moved between) and each other branch."""
    server, commits = served
    for name in ("a", "b", "c"):
        _git(server, "update-ref", f"refs/hangar/heads/{name}", commits[0])
    stop = threading.Event()

    def churn() -> None:
        k = 0
        while not stop.is_set():
            _git(server, "update-ref", "refs/hangar/heads/master", commits[k % 3])
            _git(server, "pack-refs", "--all", "--prune")
            k += 1
    worker = threading.Thread(target=churn)
    worker.start()
    try:
        files = RepoFiles.at(str(server))
        assert files is not None
        for _ in range(300):
            heads = files.list_refs(HEADS)
            assert set(heads) == {"master", "a", "b", "c"} and heads["master"] in commits, heads
    finally:
        stop.set()
        worker.join()


CONFIGS = [
    '[hangar]\n\tbranch = dev\n',
    '[HANGAR]\n\tBranch = "quoted # not a comment" ; a comment\n',
    '[hangar]\n branch=first\n[core]\n bare = true\n[hangar]\n branch = second\n',
    '[hangar] branch = same-line\n',
    '# a comment\n; another\n[hangar]\n\tbranch = "  spaced  "  \n',
    '[hangar]\n\tbranch = tab\\there\n',
    '[hangar-remote "Origin"]\n\turl = /x\n[hangar]\n\tflag\n',
    '[hangar.sub]\n\tkey = old-style\n',
]


@pytest.mark.parametrize("text", CONFIGS)
def test_config_values_are_what_libgit2_reads(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    ours = parse_config(str(path))
    theirs = {e.name: e.value for e in pygit2.Config(str(path))}
    assert {k.lower(): v for k, v in ours.items()} == {k.lower(): v for k, v in theirs.items()}


@pytest.mark.parametrize("text", ['[include]\n\tpath = other\n', '[includeIf "gitdir:/x/"]\n\tpath = o\n',
                                  '[hangar]\n\tbranch = a \\\n continued\n', '[hangar]\n\tbranch = "open\n',
                                  '[hangar\n', 'branch = before any section\n'])
def test_what_the_reader_does_not_handle_goes_to_libgit2(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config"
    path.write_text(text)
    with pytest.raises(NotPlain):
        parse_config(str(path))


def test_the_service_answers_from_the_files_and_falls_back_to_libgit2(served: tuple[Path, list[str]]) -> None:
    server, (_, _, c2) = served
    _git(server, "config", "hangar.branch", "dev")
    plain = RepositoryService(str(server))
    assert plain.hello_info()["default_branch"] == "dev"
    assert plain._git is None                                  # answered without libgit2
    with open(server / "config", "a") as fh:
        fh.write("[include]\n\tpath = nowhere\n")              # something only libgit2 reads
    assert RepositoryService(str(server))._git is not None
    os.unlink(server / "config")
    with pytest.raises(Exception):
        RepositoryService(str(server))                          # not a hangar repository any more
    assert _libgit2_heads(server)["master"] == c2
